"""The citizen-facing call flow: flows as data (YAML), run by a per-call state machine."""
