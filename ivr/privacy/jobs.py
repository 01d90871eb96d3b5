"""The daily purge as a scheduled job of the running engine.

The job is persisted by APScheduler, so it names this module's function, not an object; the
engine registers its `PrivacyService` under "privacy" and the function finds it there. Nothing
registered (a command-line process, an engine that stopped, `retention.enabled: false`): a job
persisted earlier does nothing.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from sqlalchemy import Engine

from ivr import jobs
from ivr.clock import Clock
from ivr.privacy.config import RetentionSettings
from ivr.privacy.purge import Purger, PurgeResult

log = logging.getLogger(__name__)
JOB_ID = "privacy-purge"


class PrivacyService:
    """What the job works on: the purge, run off the event loop so calls are never held up."""

    def __init__(self, engine: Engine, settings: RetentionSettings, clock: Clock) -> None:
        self.purger = Purger(engine, settings)
        self.clock = clock

    async def purge(self) -> PurgeResult:
        return await asyncio.to_thread(self.purger.run, self.clock.now(), trigger="job")


async def purge_job() -> None:
    service = jobs.running("privacy")
    if service is None:
        return
    try:
        result: PurgeResult = await service.purge()
    except Exception:  # the next day's run tries again; the engine keeps serving calls
        log.exception("privacy purge failed")
        return
    went = ", ".join(f"{k} {v.items}" for k, v in result.kinds.items() if v.items) or "nothing due"
    log.info("privacy purge run %s: %s; %d file(s) deleted", result.run_id, went, result.files_deleted)
    if result.failed_files:
        log.warning("privacy purge: %d file(s) could not be deleted yet", len(result.failed_files))


def schedule_purge(scheduler: Any, hour: int) -> None:
    """Every day at `hour`:00 in the scheduler's time zone (the service's)."""
    scheduler.add_job(purge_job, "cron", hour=hour, minute=0, id=JOB_ID, replace_existing=True)
