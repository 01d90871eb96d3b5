"""The missed-calls work list's scheduled sweep: calls whose note was lost in an outage."""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any

from ivr import jobs
from ivr.clock import Clock

log = logging.getLogger(__name__)

SWEEP_EVERY_S = 60.0
LOOK_BACK = timedelta(days=2)  # the list is the day's work: older calls are not listed late


async def sweep_missed_calls() -> None:
    running = jobs.running("missed")
    if running is None:
        return
    missed, clock = running
    listed = await missed.sweep(clock.now() - LOOK_BACK)
    if listed:
        log.warning("missed calls: %d call(s) listed late (their note was lost, e.g. in a database outage)", listed)


def schedule_missed_sweep(scheduler: Any, clock: Clock, missed: Any) -> None:
    jobs.register("missed", (missed, clock))
    scheduler.add_job(sweep_missed_calls, "interval", seconds=SWEEP_EVERY_S, id="missed-sweep", replace_existing=True)
