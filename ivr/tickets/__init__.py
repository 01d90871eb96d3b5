"""Ticket store: every call and web request, its timeline, and the figures built on them."""
