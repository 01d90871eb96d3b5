"""Test harness: the real Asterisk pair (engine + lab carrier), PostgreSQL, and fakes."""
