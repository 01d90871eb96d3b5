"""Where the soak's ears read: threads of their own, the reads of ears whose caller is waiting
for a sound first.

Full run 6 read every ear on one thread: with 160 calls up, the reads queued behind each other,
recognition fell up to 7 s behind what the recordings held, and callers pressed their keys when
the line had stopped waiting for them; the checker then blamed the line. The transforms and the
array arithmetic release the GIL (measured: two threads ran two batches of inverse transforms in
1.2 times the time of one), so two threads use both cores when the line leaves them idle. A read
for a caller waiting on a sound is served before one nobody waits on (a caller speaking after the
beep, a call being wound up): it is the one a person's reaction depends on.
"""

from __future__ import annotations

import itertools
import queue
import threading
from collections.abc import Callable
from concurrent.futures import Future
from typing import TypeVar

import numpy as np

T = TypeVar("T")
URGENT, LATER = 0, 1
_SCRATCH = threading.local()


def scratch(kind: str, shape: tuple[int, int], dtype: type[np.generic]) -> np.ndarray:
    """A scratch array of this thread, reused from read to read (what it holds is the last
    read's), grown to the largest read met: a read allocating its megabytes afresh spent a
    quarter of its time in the kernel, mapping fresh pages."""
    kept: dict[str, np.ndarray] = getattr(_SCRATCH, "kept", None) or {}
    _SCRATCH.kept = kept
    need = shape[0] * shape[1]
    flat = kept.get(kind)
    if flat is None or len(flat) < need:
        flat = kept[kind] = np.empty(need, dtype)
    return flat[:need].reshape(shape)


class Readers:
    """A pool of reading threads taking the most urgent read first, then the oldest."""

    def __init__(self, threads: int, name: str = "soak-ear") -> None:
        self.threads = threads
        self.name = name
        self._queue: queue.PriorityQueue[tuple[int, int, Callable[[], object], Future[object]]] = queue.PriorityQueue()
        self._order = itertools.count()
        self._started: list[threading.Thread] = []
        self._lock = threading.Lock()

    def submit(self, fn: Callable[[], T], *, urgent: bool) -> Future[T]:
        future: Future[T] = Future()
        self._start()
        self._queue.put((URGENT if urgent else LATER, next(self._order), fn, future))  # type: ignore[arg-type]
        return future

    def pending(self) -> int:
        return self._queue.qsize()

    def _start(self) -> None:
        with self._lock:
            while len(self._started) < self.threads:
                thread = threading.Thread(target=self._work, name=f"{self.name}-{len(self._started)}", daemon=True)
                thread.start()
                self._started.append(thread)

    def _work(self) -> None:
        while True:
            _, _, fn, future = self._queue.get()
            if not future.set_running_or_notify_cancel():
                continue
            try:
                result = fn()
            except BaseException as exc:  # handed to whoever awaits the read, as an executor does
                future.set_exception(exc)
            else:
                future.set_result(result)
