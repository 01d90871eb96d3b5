"""A report of what a worker waits for when its last teardown does not end.

A clean-clone CI once stood still after a worker's last test: the worker idle in the teardown of
a session-scoped async fixture, its event loop waiting on nothing a thread dump could name. After
`STUCK_AFTER_S` this prints every thread's stack and every asyncio task's stack on the session's
loop to the worker's stderr (which the run's output keeps) and to a file, so the next such run
names what it waits for. It never ends the run: the CI's own time limit does that.
"""

from __future__ import annotations

import asyncio
import contextlib
import faulthandler
import gc
import os
import sys
import threading
from collections.abc import Callable
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any

STUCK_AFTER_S = float(os.environ.get("NUL_STUCK_AFTER_S", "180"))
REPORT_DIR = Path(os.environ.get("NUL_STUCK_DIR", "/tmp"))


class StuckReport:
    def __init__(self, after_s: float = STUCK_AFTER_S, report_dir: Path = REPORT_DIR) -> None:
        self.after_s = after_s
        self.path = report_dir / f"nul-stuck-{os.getpid()}.txt"
        self.loop: asyncio.AbstractEventLoop | None = None
        # pytest's capture manager's `global_and_fixture_disabled`: the report reaches the run's
        # output, not the capture of a test that never ends.
        self.uncaptured: Callable[[], AbstractContextManager[Any]] = contextlib.nullcontext
        self._timer: threading.Timer | None = None

    def arm(self, what: str) -> None:
        """From now, `what` (the last teardown) has `after_s` to end before it is reported."""
        self.disarm()
        self._timer = threading.Timer(self.after_s, self._report, args=(what,))
        self._timer.daemon = True  # a process that ends takes it along
        self._timer.start()

    def disarm(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _report(self, what: str) -> None:
        head = f"\n=== worker {os.getpid()}: {what} still running after {self.after_s:.0f} s ===\n"
        threads = self.path.with_suffix(".threads.txt")
        with threads.open("w") as out:
            faulthandler.dump_traceback(file=out, all_threads=True)
        text = head + threads.read_text()
        loop = self.loop
        if loop is not None and not loop.is_closed():
            done = threading.Event()
            tasks: list[str] = []

            def dump() -> None:
                for task in asyncio.all_tasks(loop):
                    tasks.append(f"--- {task.get_name()}\n" + "\n".join(awaiting(task.get_coro())))
                done.set()

            loop.call_soon_threadsafe(dump)  # the loop is idle (waiting), so this runs at once
            if done.wait(10):
                text += f"=== {len(tasks)} asyncio task(s) on the session loop ===\n" + "\n".join(tasks)
            else:
                text += "=== the session loop did not run the task dump within 10 s (busy, not idle) ===\n"
        self.path.write_text(text)
        with self.uncaptured():
            sys.stderr.write(text + f"\n=== also in {self.path} ===\n")
            sys.stderr.flush()


def awaiting(awaitable: object, depth: int = 60) -> list[str]:
    """Where a task waits, down its chain of awaits: coroutines, async generators (a fixture's
    teardown is one: `Task.print_stack` stops at its `__anext__`) and the future at the end."""
    out: list[str] = []
    while awaitable is not None and depth > 0:
        depth -= 1
        frame = next(
            (getattr(awaitable, a) for a in ("cr_frame", "ag_frame", "gi_frame") if hasattr(awaitable, a)), None
        )
        if frame is not None:
            out.append(f"  {frame.f_code.co_filename}:{frame.f_lineno} in {frame.f_code.co_name}")
        following = next(
            (getattr(awaitable, a) for a in ("cr_await", "ag_await", "gi_yieldfrom") if getattr(awaitable, a, None)),
            None,
        )
        if following is None and type(awaitable).__name__.startswith("async_generator_"):
            following = next((r for r in gc.get_referents(awaitable) if hasattr(r, "ag_frame")), None)
        if following is None and type(awaitable).__name__ == "FutureIter":  # `await future`: which one
            following = next((r for r in gc.get_referents(awaitable) if isinstance(r, asyncio.Future)), None)
        if following is None and frame is None:
            out.append(f"  waiting on {awaitable!r}")
        awaitable = following
    return out


STUCK = StuckReport()  # the worker's one: session fixtures name their loop, the last teardown arms it
