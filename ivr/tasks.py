"""Background tasks that are neither lost to the garbage collector nor fail silently, and that
their owner can wait for when it stops.

The engine owns one `TaskSupervisor` and hands it to the parts it builds; its `stop()` ends what
is still running, so no task outlives the engine (a callback ringing, an offer, a presence write).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Coroutine
from typing import Any

log = logging.getLogger(__name__)


class TaskSupervisor:
    def __init__(self, name: str = "tasks") -> None:
        self.name = name
        self._running: set[asyncio.Task[Any]] = set()

    @property
    def running(self) -> int:
        return len(self._running)

    def spawn(self, coro: Coroutine[Any, Any, Any], name: str | None = None) -> asyncio.Task[Any]:
        """Start `coro` in the background; keep a reference until it ends and log its failure."""
        task = asyncio.get_running_loop().create_task(coro, name=name)
        self._running.add(task)
        task.add_done_callback(self._done)
        return task

    def _done(self, task: asyncio.Task[Any]) -> None:
        self._running.discard(task)
        if task.cancelled():
            return
        exc = task.exception()
        if exc is not None:
            log.error("background task %s failed: %r", task.get_name(), exc, exc_info=exc)

    async def stop(self, grace_s: float = 2.0) -> None:
        """Give running tasks `grace_s` to end, cancel the rest, and wait until all have ended."""
        pending = {t for t in self._running if t is not asyncio.current_task()}
        if pending and grace_s > 0:
            _done, pending = await asyncio.wait(pending, timeout=grace_s)
        for task in pending:
            task.cancel()
        if pending:
            await asyncio.gather(*pending, return_exceptions=True)
        if self._running:  # spawned while stopping: end those too
            await self.stop(0)


# Tasks of parts built outside an engine (the lab carrier, one-off commands); the engine passes
# its own supervisor to what it builds.
DEFAULT = TaskSupervisor("default")
