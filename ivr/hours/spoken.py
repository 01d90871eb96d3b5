"""What a supervisor switches on at run time and callers hear (closures' messages, service
notices): rows in the store, their spoken files in the folder Asterisk plays from, read on every
call through a cache of a couple of seconds (a switch counts for the next calls without a
restart, a burst of calls is not a burst of queries), and the last known kept while the
database is away."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from datetime import datetime
from pathlib import Path
from typing import Generic, TypeVar

from sqlalchemy.exc import SQLAlchemyError

from ivr.tickets.repository import Database, Repository

log = logging.getLogger(__name__)
T = TypeVar("T")


class SpokenRows(Repository, Generic[T]):
    def __init__(
        self,
        db: Database,
        *,
        asterisk_dir: str,
        local_dir: Path,
        ttl_s: float = 2.0,
        monotonic: Callable[[], float] | None = None,
    ) -> None:
        super().__init__(db)
        self.asterisk_dir = asterisk_dir.rstrip("/")
        self.local_dir = local_dir
        self._ttl = ttl_s
        self._monotonic = monotonic or (lambda: asyncio.get_running_loop().time())
        self._cached: tuple[float, list[T]] | None = None

    def forget(self) -> None:
        """The next call reads them afresh (one was just switched here)."""
        self._cached = None

    async def _through_cache(self, now: datetime, read: Callable[[datetime], Awaitable[list[T]]], what: str) -> list[T]:
        stamp = self._monotonic()
        if self._cached is not None and stamp - self._cached[0] < self._ttl:
            return self._cached[1]
        try:
            found = await read(now)
        except SQLAlchemyError as exc:  # the database is away: the last known still hold
            log.warning("%s not readable (%s); using the last known", what, type(exc).__name__)
            return self._cached[1] if self._cached is not None else []
        self._cached = (stamp, found)
        return found
