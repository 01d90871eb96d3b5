"""The soak's own event loop, watched: every caller, fault, driver step and sample runs on it, so
a step that blocks it (a busy loop, heavy work done in place) stops them all at once, and what
follows looks like the line's fault. Runs 8 and 9 took a caller spinning on its ear for 3 minutes
for an Asterisk restart held that long (finding 10).

A heartbeat on the loop measures how late its timer fires; a stall is written down with when and
how long, and a watchdog thread (faulthandler) dumps every thread's stack into `stacks` while the
loop stands still, so the report says what held it, not only that something did.
"""

from __future__ import annotations

import asyncio
import contextlib
import faulthandler
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import IO

from ivr.lab.soak.verdict import CheckResult

log = logging.getLogger(__name__)

NOTE_S = 2.0  # a stall worth writing down
FAIL_S = 10.0  # a stall that makes the run's timings meaningless: every caller stood still that long


@dataclass(frozen=True)
class Stall:
    at: datetime  # when the loop ran again
    late_s: float  # how long past its time the heartbeat came


class LoopWatch:
    def __init__(
        self,
        now: Callable[[], datetime],
        stacks: Path | None = None,
        *,
        every_s: float = 0.5,
        note_s: float = NOTE_S,
        fail_s: float = FAIL_S,
    ) -> None:
        self.now = now
        self.stacks = stacks
        self.every_s = every_s
        self.note_s = note_s
        self.fail_s = fail_s
        self.stalls: list[Stall] = []
        self._file: IO[str] | None = None

    async def run(self) -> None:
        """The heartbeat: until cancelled."""
        loop = asyncio.get_running_loop()
        if self.stacks is not None:
            self._file = self.stacks.open("a")
        try:
            while True:
                if self._file is not None:  # re-armed each beat: fires only while the loop stands still
                    faulthandler.dump_traceback_later(self.every_s + self.note_s, file=self._file)
                before = loop.time()
                await asyncio.sleep(self.every_s)
                self.beat(loop.time() - before - self.every_s)
        finally:
            if self._file is not None:
                faulthandler.cancel_dump_traceback_later()
                with contextlib.suppress(OSError):
                    self._file.close()
                    if self.stacks is not None and not self.stacks.stat().st_size:
                        self.stacks.unlink()  # no stall: no file to wonder about
                self._file = None

    def beat(self, late_s: float) -> None:
        if late_s >= self.note_s:
            stall = Stall(self.now(), round(late_s, 2))
            self.stalls.append(stall)
            log.warning("soak: the soak's own event loop stood still %.1f s (until %s)", late_s, stall.at.isoformat())

    def result(self) -> CheckResult:
        """A check of the soak itself: its verdicts on the line hold only if its loop kept time."""
        r = CheckResult("soak_loop", f"the soak's own event loop never stood still {self.fail_s:g} s or more")
        for stall in self.stalls:
            line = f"stood still {stall.late_s:.1f} s until {stall.at.isoformat()}"
            if stall.late_s >= self.fail_s:
                where = f"; the stacks are in {self.stacks.name}" if self.stacks is not None else ""
                r.fail(line + where)
            else:
                r.notes.append(line)
        return r
