"""Lists of subscribers to a component's notifications.

A component says "something happened" to everyone who subscribed, in the order they did; a second
subscriber adds to the first instead of silently replacing it, as a single `on_x = f` slot would.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Generic, ParamSpec

P = ParamSpec("P")


class Subscribers(Generic[P]):
    def __init__(self) -> None:
        self._callbacks: list[Callable[P, None]] = []

    def subscribe(self, callback: Callable[P, None]) -> None:
        self._callbacks.append(callback)

    def unsubscribe(self, callback: Callable[P, None]) -> None:
        self._callbacks.remove(callback)

    def __call__(self, *args: P.args, **kwargs: P.kwargs) -> None:
        for callback in list(self._callbacks):
            callback(*args, **kwargs)

    def __len__(self) -> int:
        return len(self._callbacks)
