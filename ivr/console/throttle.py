"""Password guessing held back: wrong passwords lock a login (and, more loosely, an address) for
a while, and password checks are rationed because each one costs real CPU and memory (argon2).

An attempt is counted *before* its password is checked and given back only when the password
was right: otherwise fifty guesses sent at once would all pass the "is it locked?" question
before the first one failed. Kept in memory: a restart forgets, which only ever helps the
legitimate user.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable


class LoginThrottle:
    def __init__(
        self, max_failures: int, lockout_s: float, monotonic: Callable[[], float], *, max_concurrent: int = 2
    ) -> None:
        self.max_failures = max_failures
        self.lockout_s = lockout_s
        self.monotonic = monotonic
        self.max_concurrent = max_concurrent
        self._failures: dict[str, list[float]] = {}
        self._turns: dict[str, tuple[asyncio.Lock, int]] = {}  # per login: its lock, how many hold or wait
        self._checks: asyncio.Semaphore | None = None

    def _keys(self, login: str, addr: str | None) -> list[tuple[str, int]]:
        return [(f"login:{login}", self.max_failures), (f"addr:{addr}", self.max_failures * 4)]

    def _recent(self, key: str, now: float) -> list[float]:
        recent = [t for t in self._failures.get(key, []) if now - t < self.lockout_s]
        if recent:
            self._failures[key] = recent
        else:
            self._failures.pop(key, None)
        return recent

    def reserve(self, login: str, addr: str | None) -> float | None:
        """Count this attempt as a failure now (None: locked, nothing counted). Synchronous, so
        nothing else runs between the question and the count."""
        now = self.monotonic()
        keys = self._keys(login, addr)
        if any(len(self._recent(key, now)) >= limit for key, limit in keys):
            return None
        for key, _ in keys:
            self._failures.setdefault(key, []).append(now)
        return now

    def release(self, login: str, addr: str | None, stamp: float) -> None:
        """The password was right: the reservation was no failure, and the login starts afresh."""
        self._failures.pop(f"login:{login}", None)
        held = self._failures.get(f"addr:{addr}", [])
        if stamp in held:
            held.remove(stamp)

    @contextlib.asynccontextmanager
    async def turn(self, login: str) -> AsyncIterator[None]:
        """One check at a time per login: a flood on one account uses one core at most and is
        refused as soon as the lock is reached."""
        lock, users = self._turns.get(login, (asyncio.Lock(), 0))
        self._turns[login] = (lock, users + 1)
        try:
            async with lock:
                yield
        finally:
            lock, users = self._turns[login]
            if users <= 1:
                del self._turns[login]
            else:
                self._turns[login] = (lock, users - 1)

    @contextlib.asynccontextmanager
    async def checking(self) -> AsyncIterator[None]:
        """At most `max_concurrent` password checks at once over all logins."""
        if self._checks is None:
            self._checks = asyncio.Semaphore(self.max_concurrent)
        async with self._checks:
            yield
