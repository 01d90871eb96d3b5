"""The engine's HTTP API (JSON): live queue state, operator presence, ticket outcomes."""
