"""A fault that persists, logged as a person would want to read it: when it starts, then now and
then with how long it has lasted, and once when it ends.

A standby polling the lease every 0.3 s wrote a warning at each poll while the database was away
(395 lines for the soak's minute-long outages), burying everything else in the log.
"""

from __future__ import annotations

import logging


class Repeats:
    def __init__(self, log: logging.Logger, what: str, every_s: float = 30.0) -> None:
        self.log = log
        self.what = what  # e.g. "lease 'nul': the store does not answer"
        self.every_s = every_s
        self.since: float | None = None  # when the fault began (the caller's clock)
        self._logged = 0.0
        self.count = 0  # failures in the current run of them

    def failing(self, now: float, detail: object) -> None:
        self.count += 1
        if self.since is None:
            self.since = self._logged = now
            self.log.warning("%s (%s)", self.what, detail)
        elif now - self._logged >= self.every_s:
            self._logged = now
            self.log.warning("%s for %.0f s, %d tries (%s)", self.what, now - self.since, self.count, detail)

    def ok(self, now: float) -> None:
        if self.since is not None:
            self.log.info("%s: over after %.0f s, %d tries", self.what, now - self.since, self.count)
            self.since, self.count = None, 0
