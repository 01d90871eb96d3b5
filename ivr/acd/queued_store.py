"""The queued callbacks in the store: what the engine needs to rebuild its queue after a restart,
and each attempt's result written as it happens."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from ivr.schema.callbacks import QueuedCallback
from ivr.schema.tickets import Ticket
from ivr.tickets.repository import Repository
from ivr.tickets.status import escalate

PENDING = ("waiting", "calling")  # still to be done: loaded again by a restarted engine
FINAL = ("completed", "unreachable", "escalated")


@dataclass(frozen=True)
class CallbackRow:
    id: int
    ticket_id: int
    number: str
    topic: str | None
    language: str | None
    arrived_at: datetime
    accepted_at: datetime
    state: str
    attempts: int
    next_attempt_at: datetime | None
    operator: str | None = None  # who made the attempt under way
    connected_at: datetime | None = None  # when the attempt under way reached the citizen


def _row(r: QueuedCallback) -> CallbackRow:
    return CallbackRow(
        r.id,
        r.ticket_id,
        r.number or "",
        r.topic,
        r.language,
        r.arrived_at,
        r.accepted_at,
        r.state,
        r.attempts,
        r.next_attempt_at,
        r.operator,
        r.connected_at,
    )


def set_values(session: Session, *, callback_id: int, values: dict[str, Any]) -> None:
    session.execute(update(QueuedCallback).where(QueuedCallback.id == callback_id).values(**values))


class QueuedCallbacks(Repository):
    async def add(
        self,
        ticket_id: int,
        number: str,
        source: str,
        *,
        topic: str | None,
        language: str | None,
        arrived_at: datetime,
        accepted_at: datetime,
        day: date,
    ) -> CallbackRow:
        def op(session: Session) -> CallbackRow:
            row = QueuedCallback(
                ticket_id=self._real(ticket_id),  # booked by a caller who came during an outage
                number=number,
                source=source,
                topic=topic,
                language=language,
                arrived_at=arrived_at,
                accepted_at=accepted_at,
                local_day=day,
                state="waiting",
                attempts=0,
            )
            session.add(row)
            session.flush()
            return _row(row)

        return await self._write(op)

    async def pending(self) -> list[CallbackRow]:
        def fn(session: Session) -> list[CallbackRow]:
            rows = session.scalars(
                select(QueuedCallback)
                .where(QueuedCallback.state.in_(PENDING), QueuedCallback.number.is_not(None))
                .order_by(QueuedCallback.arrived_at)
            )
            return [_row(r) for r in rows]

        return await self._read(fn)

    async def get(self, callback_id: int) -> CallbackRow | None:
        def fn(session: Session) -> CallbackRow | None:
            row = session.get(QueuedCallback, callback_id)
            return _row(row) if row is not None else None

        return await self._read(fn)

    async def set(self, callback_id: int, **values: Any) -> None:
        """Through the outbox: a callback under way goes on while the database is away (its
        state written then failed, and the callback died with the operator already rung)."""
        await self.db.execute("queued_callback.set", callback_id=callback_id, values=values)

    async def escalate(self, callback_id: int, at: datetime) -> None:
        """Not done by closing time and not carried over: the request goes to the second level
        (an operator calls back within the charter's 10 days), the place in the queue ends."""

        def op(session: Session) -> None:
            row = session.get(QueuedCallback, callback_id)
            if row is None:
                return
            row.state, row.ended_at = "escalated", at
            ticket = session.get(Ticket, row.ticket_id)
            if ticket is not None and ticket.level != 2:
                escalate(ticket)
                ticket.escalated_at = at
                ticket.contact_phone = row.number
                ticket.answer_by = "phone"

        await self._write(op)
