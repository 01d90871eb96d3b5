"""Time as a dependency: hours, closures and the daily cap all depend on "now".

Tests and demos set the engine's clock to a chosen moment (an Easter Monday, 17:59:58 on a
Friday) without touching the machine's clock; the clock still advances in real time from there.
"""

from __future__ import annotations

import logging
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Protocol

log = logging.getLogger(__name__)


class Clock(Protocol):
    def now(self) -> datetime:
        """The current wall-clock time, timezone-aware (UTC)."""
        ...

    def monotonic(self) -> float:
        """Seconds on a clock that never jumps; for durations and timeouts."""
        ...


class SystemClock:
    def now(self) -> datetime:
        return datetime.now(UTC)

    def monotonic(self) -> float:
        return time.monotonic()


class ShiftedClock:
    """Real time, shifted so that it read `start` when created; `set()` moves it again."""

    def __init__(self, start: datetime) -> None:
        self._offset = timedelta(0)
        self.set(start)

    def set(self, moment: datetime) -> None:
        if moment.tzinfo is None:
            raise ValueError("the clock needs a timezone-aware moment")
        self._offset = moment.astimezone(UTC) - datetime.now(UTC)

    def now(self) -> datetime:
        return datetime.now(UTC) + self._offset

    def monotonic(self) -> float:
        return time.monotonic()


class OffsetFileClock:
    """Real time plus an offset kept in a file that several engine processes share, read again
    when it changes: a soak plays several service days in hours by moving every engine's date at
    once, while calls and takeovers go on (`clock.offset_file`, tests only)."""

    def __init__(self, path: Path, recheck_s: float = 1.0) -> None:
        self.path = path
        self.recheck_s = recheck_s
        self._offset = timedelta(0)
        self._stamp: int | None = None
        self._checked = time.monotonic()
        try:  # unreadable at boot: the engine does not start on a wrong date
            self._read()
        except OSError as exc:
            raise ValueError(f"clock.offset_file {path}: {exc.strerror}") from None

    def _read(self) -> None:
        stamp = self.path.stat().st_mtime_ns
        if stamp != self._stamp:
            text = self.path.read_text().strip()
            try:
                seconds = float(text)
            except ValueError:
                raise ValueError(f"clock.offset_file {self.path}: not a number of seconds: {text[:40]!r}") from None
            self._offset, self._stamp = timedelta(seconds=seconds), stamp

    def now(self) -> datetime:
        moment = time.monotonic()
        if moment - self._checked >= self.recheck_s:
            self._checked = moment
            try:
                self._read()
            except (OSError, ValueError) as exc:  # half-written or gone: keep the last good offset
                log.warning("clock: %s (keeping an offset of %.0f s)", exc, self._offset.total_seconds())
        return datetime.now(UTC) + self._offset

    def monotonic(self) -> float:
        return time.monotonic()
