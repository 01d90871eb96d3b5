"""Scheduled jobs, kept in the store by APScheduler so they survive restarts.

A persisted job names a module-level function (pickled by reference, not by value); the running
engine registers here the objects those functions work on, under a name per feature.
"""

from __future__ import annotations

from typing import Any

from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore
from apscheduler.schedulers.asyncio import AsyncIOScheduler
from sqlalchemy import Engine

_running: dict[str, Any] = {}


def register(name: str, service: Any) -> None:
    _running[name] = service


def unregister(name: str) -> None:
    _running.pop(name, None)


def running(name: str) -> Any:
    """The object a job works on, or None when the engine is not running it."""
    return _running.get(name)


def make_scheduler(engine: Engine, timezone: str) -> Any:
    return AsyncIOScheduler(
        jobstores={"default": SQLAlchemyJobStore(engine=engine, tablename="scheduler_jobs")},
        job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": 3600},
        timezone=timezone,
    )
