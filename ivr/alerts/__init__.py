"""Live alerts: the line's own thresholds watched every few seconds, so a supervisor learns that a
wait, a pause or a commitment is slipping while it can still be mended, not from tomorrow's
report. Shown on the wallboard, counted in the metrics, optionally e-mailed once per alert."""
