"""The web console: operators' desk and supervisors' control room, served by the engine."""
