"""Requests sent from the web (the charter's second channel), handled in the same ticket store."""
