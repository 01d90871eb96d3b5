"""Retention of personal data: per-kind periods, the daily purge, legal holds."""
