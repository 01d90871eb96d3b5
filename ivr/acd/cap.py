"""The daily admission cap: at most N calls a local calendar day reach the operator queue.

Kept in the store and admitted with one conditional UPDATE, so it is exact with concurrent calls
(SQLite serialises writers; PostgreSQL locks the day's row) and survives engine restarts.
"""

from __future__ import annotations

import asyncio
from datetime import date, datetime
from zoneinfo import ZoneInfo

from sqlalchemy import Engine, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import sessionmaker

from ivr.tickets.models import DailyAdmissions


class DailyCap:
    def __init__(self, engine: Engine, limit: int, tz: ZoneInfo) -> None:
        self._sessions = sessionmaker(engine)
        self.limit = limit
        self.tz = tz

    def day_of(self, moment: datetime) -> date:
        return moment.astimezone(self.tz).date()

    def admit_sync(self, moment: datetime) -> bool:
        """Count one admission for the moment's local day if the day is under the limit."""
        day = self.day_of(moment)
        for _ in range(3):
            with self._sessions.begin() as session:
                changed = session.execute(
                    update(DailyAdmissions)
                    .where(DailyAdmissions.day == day, DailyAdmissions.admitted < self.limit)
                    .values(admitted=DailyAdmissions.admitted + 1)
                ).rowcount  # type: ignore[attr-defined]
                if changed:
                    return True
                if session.scalar(select(DailyAdmissions.day).where(DailyAdmissions.day == day)) is not None:
                    return False  # the day exists and is full
            if self.limit <= 0:
                return False
            try:  # first admission of the day
                with self._sessions.begin() as session:
                    session.execute(insert(DailyAdmissions).values(day=day, admitted=1))
                return True
            except IntegrityError:
                continue  # another call created the day at the same moment: try the update again
        return False

    async def admit(self, moment: datetime) -> bool:
        return await asyncio.to_thread(self.admit_sync, moment)

    def count_sync(self, moment: datetime) -> int:
        with self._sessions() as session:
            value = session.scalar(select(DailyAdmissions.admitted).where(DailyAdmissions.day == self.day_of(moment)))
            return int(value or 0)

    async def count(self, moment: datetime) -> int:
        return await asyncio.to_thread(self.count_sync, moment)
