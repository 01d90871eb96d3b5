"""Running the line: first run, health checks, metrics, services, backups."""
