"""Time as a dependency: hours, closures and the daily cap all depend on "now".

Tests and demos set the engine's clock to a chosen moment (an Easter Monday, 17:59:58 on a
Friday) without touching the machine's clock; the clock still advances in real time from there.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from typing import Protocol


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
