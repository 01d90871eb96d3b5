"""Recording consent and call recordings (only with an active campaign and the caller's yes)."""
