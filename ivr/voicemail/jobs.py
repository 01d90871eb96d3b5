"""Scheduled jobs, kept in the store by APScheduler so they survive restarts.

A persisted job names a module-level function; the running engine registers the objects those
functions work on.
"""

from __future__ import annotations

import logging
from typing import Any

from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore
from apscheduler.schedulers.asyncio import AsyncIOScheduler
from sqlalchemy import Engine

log = logging.getLogger(__name__)
_running: dict[str, Any] = {}


def register(name: str, service: Any) -> None:
    _running[name] = service


def unregister(name: str) -> None:
    _running.pop(name, None)


async def retry_transcriptions() -> None:
    service = _running.get("voicemail")
    if service is None:
        return
    done = await service.retry_pending()
    if done:
        log.info("retry job: %d voicemail message(s) transcribed", done)


def make_scheduler(engine: Engine, timezone: str) -> Any:
    scheduler = AsyncIOScheduler(
        jobstores={"default": SQLAlchemyJobStore(engine=engine, tablename="scheduler_jobs")},
        job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": 3600},
        timezone=timezone,
    )
    return scheduler


def schedule_transcription_retry(scheduler: Any, every_s: float) -> None:
    scheduler.add_job(
        retry_transcriptions, "interval", seconds=every_s, id="transcription-retry", replace_existing=True
    )
