"""A sliding-window rate limit kept in memory, shared by every per-client limit of the HTTP side
(the public request form, the statistics pages)."""

from __future__ import annotations

import math
from collections import deque


class RateLimiter:
    """At most `limit` requests per key in any `window_s` seconds (a sliding window).

    Kept in memory and bounded: when more keys are tracked than `max_keys`, the idle ones go
    first, then the oldest, so a flood of fresh addresses cannot grow it without end.
    """

    def __init__(self, limit: int, window_s: float, *, max_keys: int = 10_000) -> None:
        if limit < 1 or window_s <= 0:
            raise ValueError("a rate limit needs limit >= 1 and a positive window")
        self.limit, self.window_s, self.max_keys = limit, window_s, max_keys
        self._seen: dict[str, deque[float]] = {}

    def check(self, key: str, now: float) -> int | None:
        """None when allowed (and counted); else how many whole seconds to wait."""
        times = self._seen.get(key)
        if times is None:
            self._make_room(now)
            times = self._seen[key] = deque()
        while times and now - times[0] >= self.window_s:
            times.popleft()
        if len(times) >= self.limit:
            return max(1, math.ceil(self.window_s - (now - times[0])))
        times.append(now)
        return None

    def give_back(self, key: str, at: float) -> None:
        """Uncount the request counted at `at`: it was not carried out (the public form's store
        was away), and a client sending it again must not be refused for the tries that failed."""
        times = self._seen.get(key)
        if times is not None and at in times:
            times.remove(at)

    def _make_room(self, now: float) -> None:
        if len(self._seen) < self.max_keys:
            return
        self._seen = {k: t for k, t in self._seen.items() if t and now - t[-1] < self.window_s}
        while len(self._seen) >= self.max_keys:
            del self._seen[next(iter(self._seen))]
