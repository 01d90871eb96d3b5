"""Background tasks that are neither lost to the garbage collector nor fail silently, and that
their owner can wait for when it stops.

The engine owns one `TaskSupervisor` and hands it to the parts it builds; its `stop()` ends what
is still running, so no task outlives the engine (a callback ringing, an offer, a presence write).
A part built alone (a test, the lab carrier, a one-off command) makes a supervisor of its own;
there is no process-wide one that nobody stops.
"""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from collections.abc import Coroutine, Iterable
from typing import Any

log = logging.getLogger(__name__)
OTHER = "(other)"  # the coroutines past a metric's top few, summed


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

    async def stop(self, grace_s: float = 2.0, cancel_wait_s: float = 5.0) -> None:
        """Give running tasks `grace_s` to end, cancel the rest, and wait up to `cancel_wait_s`
        for them. A task that ignores its cancellation is logged with where it is stuck and left
        behind: a shutdown must end, or a restart would hang on one bad task."""
        for _round in range(3):  # tasks spawned while stopping get their own, shorter round
            pending = {t for t in self._running if t is not asyncio.current_task()}
            if not pending:
                return
            if grace_s > 0:
                _done, pending = await asyncio.wait(pending, timeout=grace_s)
            for task in pending:
                task.cancel()
            if pending:
                _done, stuck = await asyncio.wait(pending, timeout=cancel_wait_s)
                for task in stuck:
                    log.error(
                        "task %s did not end when cancelled; left behind at %s", task.get_name(), task.get_stack()
                    )
                    self._running.discard(task)
            grace_s = 0


def coroutine_name(task: asyncio.Task[Any]) -> str:
    """What a task runs, by the coroutine's qualified name: a task's own name often carries a call's
    channel (`call-<id>`), unique per call, so it would not add up across calls."""
    coro = task.get_coro()
    if coro is None:  # an eager task that finished at once
        return task.get_name()
    return str(getattr(coro, "__qualname__", type(coro).__name__))


def tasks_by_coroutine(tasks: Iterable[asyncio.Task[Any]] | None = None) -> Counter[str]:
    """Live tasks counted per coroutine (all of the running loop's when `tasks` is None): which
    ones grew is what tells a leak apart from a busy moment."""
    return Counter(coroutine_name(t) for t in (asyncio.all_tasks() if tasks is None else tasks))


def top_coroutines(counts: Counter[str], n: int) -> dict[str, int]:
    """The `n` commonest coroutines, the rest summed under OTHER: a bounded set of labels for a
    metric, whatever the engine runs."""
    top = dict(counts.most_common(n))
    rest = sum(counts.values()) - sum(top.values())
    if rest:
        top[OTHER] = rest
    return top
