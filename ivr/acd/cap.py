"""The daily admission cap: at most N calls a local calendar day reach the operator queue.

Kept in the store and admitted with one conditional UPDATE, so it is exact with concurrent calls
(SQLite serialises writers; PostgreSQL locks the day's row) and survives engine restarts.

While the database is away the engine (the only one admitting calls) counts on from the last
count it read, and each admission waits in the outbox as a plain increment; when the database
returns its count is again the true one.
"""

from __future__ import annotations

import logging
from datetime import date, datetime
from zoneinfo import ZoneInfo

from sqlalchemy import insert, select, update
from sqlalchemy.orm import Session

from ivr.schema.tickets import DailyAdmissions, Ticket
from ivr.tickets.coalesce import update_columns
from ivr.tickets.status import QueueResult
from ivr.tickets.store import SqlTicketStore
from ivr.tickets.writer import StoreUnavailable

log = logging.getLogger(__name__)


def mark_queued(session: Session, ticket_id: int | None, moment: datetime) -> None:
    """The admitted call's ticket says so in the admission's own transaction: an engine killed
    between the two writes left a count with no ticket behind it (the soak's finding: 56 calls
    queued, 57 counted), and the resumed caller, read back as never queued, was counted again."""
    if ticket_id is not None:
        update_columns(session, ticket_id, {"queue_result": QueueResult.WAITING, "queued_at": moment})


def add_admission(session: Session, *, day: date, ticket_id: int | None = None, at: datetime | None = None) -> None:
    """One admission decided while the database was away: counted, not checked again. Once per
    ticket: a ticket already marked queued was admitted (and counted) before, by this engine or by
    the one that took its call over while this admission waited in an earlier run's outbox."""
    if ticket_id is not None and session.scalar(select(Ticket.queued_at).where(Ticket.id == ticket_id)) is not None:
        return
    changed = session.execute(
        update(DailyAdmissions).where(DailyAdmissions.day == day).values(admitted=DailyAdmissions.admitted + 1)
    ).rowcount  # type: ignore[attr-defined]
    if not changed:
        session.add(DailyAdmissions(day=day, admitted=1))
    if at is not None:
        mark_queued(session, ticket_id, at)


class DailyCap:
    """The day's admissions, on the ticket store: admitted in its writer's batches (one writer, in
    order: exact without a second transaction racing it), counted on its readers, and counted on
    through its outbox while the database is away."""

    def __init__(self, store: SqlTicketStore, limit: int, tz: ZoneInfo) -> None:
        self.limit = limit
        self.tz = tz
        self.store = store
        self._known: dict[date, int] = {}  # the day's count as last read from the database
        self._offline: dict[date, int] = {}  # admitted since, while the database was away

    def day_of(self, moment: datetime) -> date:
        return moment.astimezone(self.tz).date()

    def _admit_in(self, session: Session, day: date, ticket_id: int | None, moment: datetime) -> bool:
        if ticket_id is not None:  # a call begun in an outage, admitted after it: its replayed id
            ticket_id = self.store.real_id(ticket_id)
        changed = session.execute(
            update(DailyAdmissions)
            .where(DailyAdmissions.day == day, DailyAdmissions.admitted < self.limit)
            .values(admitted=DailyAdmissions.admitted + 1)
        ).rowcount  # type: ignore[attr-defined]
        if changed:
            self._known[day] = int(
                session.scalar(select(DailyAdmissions.admitted).where(DailyAdmissions.day == day)) or 0
            )
            mark_queued(session, ticket_id, moment)
            return True
        exists = session.scalar(select(DailyAdmissions.day).where(DailyAdmissions.day == day)) is not None
        if exists or self.limit <= 0:
            return False  # the day exists and is full
        session.execute(insert(DailyAdmissions).values(day=day, admitted=1))  # first admission of the day
        self._known[day] = 1
        mark_queued(session, ticket_id, moment)
        return True

    async def admit(self, moment: datetime, ticket_id: int | None = None) -> bool:
        """Count one admission for the moment's local day if the day is under the limit; the
        call's ticket (if given) is marked waiting, queued at `moment`, in the same write."""
        day = self.day_of(moment)
        if self.store.degraded:
            return await self._admit_offline(day, ticket_id, moment)
        try:  # the writer turns a database outage into StoreUnavailable
            admitted = await self.store.run_write(lambda session: self._admit_in(session, day, ticket_id, moment))
        except StoreUnavailable:
            return await self._admit_offline(day, ticket_id, moment)
        self._offline.pop(day, None)  # the database's count includes them again
        return admitted

    async def _admit_offline(self, day: date, ticket_id: int | None, moment: datetime) -> bool:
        if self._known.get(day, 0) + self._offline.get(day, 0) >= self.limit:
            return False
        self._offline[day] = self._offline.get(day, 0) + 1
        await self.store.execute("cap.add", day=day, ticket_id=ticket_id, at=moment)
        log.warning("daily cap counted without the database: %d today", self._known.get(day, 0) + self._offline[day])
        return True

    async def count(self, moment: datetime) -> int:
        day = self.day_of(moment)
        value = int(
            await self.store.run_read(
                lambda session: session.scalar(select(DailyAdmissions.admitted).where(DailyAdmissions.day == day)) or 0
            )
        )
        self._known[day] = value
        return value
