"""The lab carrier's rings: calls the engine places to outside numbers, waiting to be answered.

A test or a soak operator takes a ring for the number it plays (an operator's home phone, a
citizen called back), never the next ring whoever it was for: with several outside numbers in
one test, a ring taken by the wrong taker was answered by the wrong voice, and a ring a test left
behind became the next test's first. `get()` without a number keeps the old first-come order for
takers that answer any number (the soak's operators pool).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Collection
from typing import Generic, Protocol, TypeVar


class _Ring(Protocol):
    @property
    def number(self) -> str: ...


R = TypeVar("R", bound=_Ring)
Numbers = str | Collection[str] | None  # one number, any of several, or any


class Rings(Generic[R]):
    def __init__(self) -> None:
        self._waiting: list[R] = []  # rings nobody has asked for yet, oldest first
        self._takers: list[tuple[Numbers, asyncio.Future[R]]] = []  # (whose rings, taker)

    def put_nowait(self, ring: R) -> None:
        """A ring arrives: to the first taker waiting for its number (or for any), else it waits."""
        for i, (number, taker) in enumerate(self._takers):
            if taker.done():
                continue
            if _for(ring, number):
                del self._takers[i]
                taker.set_result(ring)
                return
        self._waiting.append(ring)

    def empty(self) -> bool:
        return not self._waiting

    def get_nowait(self, number: Numbers = None) -> R:
        """The oldest ring for `number` (one, any of several, or None: any; compared as national
        numbers); raises asyncio.QueueEmpty when there is none."""
        for i, ring in enumerate(self._waiting):
            if _for(ring, number):
                return self._waiting.pop(i)
        raise asyncio.QueueEmpty

    async def get(self, number: Numbers = None) -> R:
        """Wait for the oldest ring (for `number` if given); rings for other numbers stay for
        their own takers."""
        try:
            return self.get_nowait(number)
        except asyncio.QueueEmpty:
            pass
        taker: asyncio.Future[R] = asyncio.get_running_loop().create_future()
        self._takers = [t for t in self._takers if not t[1].done()] + [(number, taker)]
        return await taker  # cancelled (a timeout): put_nowait skips it

    def drop(self, each: Callable[[R], None]) -> int:
        """Take every waiting ring away, `each` called on it; returns how many."""
        dropped, self._waiting = self._waiting, []
        for ring in dropped:
            each(ring)
        return len(dropped)


def _for(ring: _Ring, number: Numbers) -> bool:
    if number is None:
        return True
    if isinstance(number, str):
        return _same(ring.number, number)
    return any(_same(ring.number, n) for n in number)


def _same(a: str, b: str) -> bool:
    return a.removeprefix("+39").removeprefix("0039") == b.removeprefix("+39").removeprefix("0039")
