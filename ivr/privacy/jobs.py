"""The daily purge as a scheduled job of the running engine.

The job is persisted by APScheduler, so it names this module's function, not an object; the
engine registers its `PrivacyService` under "privacy" and the function finds it there. Nothing
registered (a command-line process, an engine that stopped, `retention.enabled: false`): a job
persisted earlier does nothing.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import Engine

from ivr import jobs
from ivr.clock import Clock
from ivr.ha.guard import UNLEASED, Fenced, LineGuard
from ivr.privacy.asterisk_files import AsteriskDirs
from ivr.privacy.config import RetentionSettings
from ivr.privacy.purge import Purger, PurgeResult

if TYPE_CHECKING:
    from ivr.settings import Settings

log = logging.getLogger(__name__)
JOB_ID = "privacy-purge"


class PrivacyService:
    """What the job works on: the purge, run off the event loop so calls are never held up."""

    def __init__(
        self,
        engine: Engine,
        settings: RetentionSettings,
        clock: Clock,
        asterisk: AsteriskDirs | None = None,
        rotate_logs: Callable[[], Awaitable[Any]] | None = None,
        audio_dirs: Sequence[Path] = (),
        guard: LineGuard = UNLEASED,
    ) -> None:
        """`rotate_logs`: asks Asterisk to rotate its log (`PbxAdmin.rotate_log`, done over ARI:
        the AMI user has no write rights), so the day's lines land in a file the purge can age
        and delete."""
        self.purger = Purger(engine, settings, asterisk, audio_dirs=audio_dirs)
        self.clock = clock
        self.rotate_logs = rotate_logs
        self.guard = guard  # the purge deletes rows and files: a fenced engine does neither

    async def purge(self) -> PurgeResult:
        self.guard.check("privacy purge")
        if self.rotate_logs is not None:
            try:
                await self.rotate_logs()
            except Fenced:
                raise
            except Exception as exc:  # an Asterisk away must not stop the purge of everything else
                log.warning("Asterisk log rotation not done (retried tomorrow): %s", exc)
        return await asyncio.to_thread(self._run, self.clock.now())

    def _run(self, now: datetime) -> PurgeResult:
        self.guard.check("privacy purge")
        return self.purger.run(now, trigger="job")


def asterisk_dirs(settings: Settings) -> AsteriskDirs:
    """The managed Asterisk's spool recordings and logs; an external Asterisk keeps its own."""
    if not settings.asterisk.managed.enabled:
        return AsteriskDirs()
    from ivr.asterisk.managed import engine_instance

    instance = engine_instance(settings)
    return AsteriskDirs(spool=instance.host("spool") / "recording", logs=instance.host("log"))


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
