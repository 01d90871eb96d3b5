"""Dialling out through the carrier: the numbers allowed (`config`), the check and the audit of
every dial-out (`guard`)."""
