"""Live notes about calls in progress, for whoever watches (the console's live views, tests).

Nothing here is stored: the ticket store is the record. A slow watcher loses notes rather than
slowing calls down (its queue is bounded).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any


@dataclass(frozen=True)
class CallNote:
    channel_id: str
    caller: str | None
    kind: str  # state, playing, played, ended, or a ticket event kind
    at: datetime
    detail: dict[str, Any] = field(default_factory=dict)


class CallBus:
    def __init__(self, queue_size: int = 1000) -> None:
        self._watchers: set[asyncio.Queue[CallNote]] = set()
        self._size = queue_size
        self.dropped = 0

    def publish(self, note: CallNote) -> None:
        for queue in self._watchers:
            try:
                queue.put_nowait(note)
            except asyncio.QueueFull:
                self.dropped += 1

    @contextlib.contextmanager
    def watch(self) -> Iterator[asyncio.Queue[CallNote]]:
        queue: asyncio.Queue[CallNote] = asyncio.Queue(self._size)
        self._watchers.add(queue)
        try:
            yield queue
        finally:
            self._watchers.discard(queue)
