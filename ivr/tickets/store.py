"""The ticket store as the call flow sees it: a small async port and its SQL implementation.

Calls never wait on each other for the database: writes from all calls are queued and committed
in batches by one writer thread, which keeps SQLite (one writer at a time) fast under hundreds of
concurrent calls and keeps the event loop free.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any, Protocol, TypeVar
from zoneinfo import ZoneInfo

from sqlalchemy import Engine, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, selectinload, sessionmaker

from ivr.schema.tickets import Channel, Ticket, TicketEvent
from ivr.text import clean
from ivr.tickets import events
from ivr.tickets.audit import Audited
from ivr.tickets.commands import Command
from ivr.tickets.escalation import Contact
from ivr.tickets.events import escalation_contact
from ivr.tickets.outbox import Outbox
from ivr.tickets.periods import ROME
from ivr.tickets.repository import Database
from ivr.tickets.status import PASSED_ON, TicketStatus, answer_first_level, escalate, passed_on
from ivr.tickets.writer import BatchWriter

log = logging.getLogger(__name__)
T = TypeVar("T")


@dataclass(frozen=True)
class NewCall:
    call_uid: str
    started_at: datetime
    caller_number: str | None
    caller_name: str | None
    did: str | None


@dataclass(frozen=True)
class CallClosing:
    ended_at: datetime
    outcome: str
    end_reason: str
    last_state: str
    answered_at: datetime | None = None
    destination: str | None = None


@dataclass(frozen=True)
class EventView:
    at: datetime
    kind: str
    detail: dict[str, Any] | None


@dataclass(frozen=True)
class TicketView:
    """A ticket as read from the store: every column of `tickets`, plus its timeline."""

    id: int
    channel: str
    call_uid: str | None
    did: str | None
    caller_number: str | None
    caller_name: str | None
    started_at: datetime
    answered_at: datetime | None
    ended_at: datetime | None
    open: bool
    last_state: str | None
    outcome: str | None
    end_reason: str | None
    destination: str | None
    topic: str | None
    line_state: str | None
    closure_id: str | None
    campaign: str | None
    consent: str | None
    consent_at: datetime | None
    consent_prompt: str | None
    queue_result: str | None
    queued_at: datetime | None
    operator_id: int | None
    operator_answered_at: datetime | None
    operator_ended_at: datetime | None
    level: int
    status: str | None
    resolution_note: str | None
    callback_due: datetime | None
    assigned_to: str | None
    local_day: date | None
    local_week: date | None
    local_month: date | None
    wait_s: float | None
    handle_s: float | None
    survey_status: str | None
    sla_kind: str | None
    sla_met_at: datetime | None
    sla_flag: str | None
    kb_article_id: int | None
    escalated_at: datetime | None
    first_due: datetime | None
    first_met_at: datetime | None
    contact_name: str | None
    contact_email: str | None
    contact_phone: str | None
    answer_by: str | None
    language: str | None = None
    call_reason: str | None = None
    events: list[EventView] = field(default_factory=list)

    @property
    def duration_s(self) -> float | None:
        return None if self.ended_at is None else (self.ended_at - self.started_at).total_seconds()

    @classmethod
    def of(cls, row: Ticket, with_events: bool = True) -> TicketView:
        columns = {c.key: getattr(row, c.key) for c in Ticket.__table__.columns}
        events = [EventView(e.at, e.kind, e.detail) for e in row.events] if with_events else []
        return cls(**columns, events=events)


class TicketStore(Protocol):
    """What a call needs from the store. Every method is safe to call concurrently."""

    async def open_call(self, call: NewCall) -> int: ...

    async def record(self, ticket_id: int, kind: str, at: datetime, detail: dict[str, Any] | None = None) -> None: ...

    async def update(self, ticket_id: int, **columns: Any) -> None: ...

    async def close_call(self, ticket_id: int, closing: CallClosing) -> None: ...

    async def get(self, ticket_id: int) -> TicketView | None: ...

    async def file_outcome(
        self,
        ticket_id: int,
        outcome: str,
        *,
        note: str | None,
        operator_id: int | None,
        at: datetime,
        contact: Contact | None = None,
        audited: Audited | None = None,
        reason: str | None = None,
    ) -> TicketView: ...

    async def execute(self, name: str, **args: Any) -> Any:
        """A registered write command; while the database is away it waits in the outbox."""
        ...


# Columns a call may set while it runs; anything else is a programming error.
UPDATABLE = frozenset({
    "answered_at", "last_state", "destination", "caller_name", "caller_number", "topic", "line_state",
    "closure_id", "campaign", "consent", "consent_at", "consent_prompt", "queue_result", "queued_at",
    "operator_id", "operator_answered_at", "operator_ended_at", "wait_s", "handle_s", "survey_status", "language",
})  # fmt: skip
OUTCOMES = ("resolved", "escalated", "referred")
REFERRED = "referred"  # filed with the office it names: ivr.referrals.repository.Referrals.refer


class OutcomeError(ValueError):
    pass


class LineStore(TicketStore, Database, Protocol):
    """The call-facing commands and the reader pool and writer the repositories run on: what a
    feature needs that both writes its calls' timeline and keeps an aggregate of its own."""


class SqlTicketStore:
    """TicketStore on SQLAlchemy: writes through one batching writer (with a durable outbox when
    one is given), reads from a small pool."""

    def __init__(
        self,
        engine: Engine,
        *,
        batch_max: int = 200,
        tz: ZoneInfo = ROME,
        outbox: Outbox | None = None,
        linger_s: float = 0.02,
    ) -> None:
        self._engine = engine
        self.tz = tz
        self._sessions = sessionmaker(engine, expire_on_commit=False)
        self.writer = BatchWriter(self._sessions, batch_max=batch_max, outbox=outbox, linger_s=linger_s)
        self._readers = ThreadPoolExecutor(max_workers=4, thread_name_prefix="ticket-reader")

    def connections_open(self) -> int:
        """Database connections the engine holds (in use and idle in the pool): a count that
        only grows over a long run is a leak (the soak and the dashboard watch it)."""
        pool = self._engine.pool
        held = 0
        for name in ("checkedout", "checkedin"):
            count = getattr(pool, name, None)
            held += int(count()) if callable(count) else 0
        return held

    @property
    def degraded(self) -> bool:
        """The database is away: the call path's writes wait in the outbox."""
        return self.writer.degraded

    async def start(self) -> None:
        await self.writer.start()

    async def stop(self) -> None:
        """Flush what is queued, then stop; nothing accepted before stop() is lost."""
        await self.writer.stop()
        self._readers.shutdown(wait=True)

    # --- writes -------------------------------------------------------------------------------

    async def execute(self, name: str, **args: Any) -> Any:
        """A registered command (see ivr.tickets.commands): it waits in the outbox if it must."""
        return await self.writer.submit(Command(name, args))

    def post(self, name: str, **args: Any) -> None:
        """A registered command queued, not awaited (BatchWriter.post): for writes that must
        never hold their caller, like an operator's state change."""
        self.writer.post(Command(name, args))

    async def run_write(self, op: Callable[[Session], T]) -> T:
        """Run `op` in the writer's next batch (one transaction), for writes outside the call
        path; while the database is away it fails with StoreUnavailable."""
        result: T = await self.writer.submit(op)
        return result

    async def run_read(self, fn: Callable[[Session], T]) -> T:
        return await self._read(fn)

    def real_id(self, ref: int) -> int:
        """A row id as the database knows it (see Repository._real)."""
        return self.writer.real_id(ref)

    async def open_call(self, call: NewCall) -> int:
        _aware(call.started_at)
        try:
            ticket_id: int = await self.execute(
                "ticket.open",
                call_uid=call.call_uid[:64],
                did=clean(call.did, 32),
                caller_number=clean(call.caller_number, 64),
                caller_name=clean(call.caller_name, 128),
                started_at=call.started_at,
                timezone=self.tz.key,
            )
            return ticket_id
        except IntegrityError:  # two writers raced on the same call_uid: read the winner
            found = await self._read(lambda s: s.scalar(select(Ticket.id).where(Ticket.call_uid == call.call_uid)))
            if found is None:
                raise
            return int(found)

    async def record(self, ticket_id: int, kind: str, at: datetime, detail: dict[str, Any] | None = None) -> None:
        """Queued, not awaited: the call goes on at once (see BatchWriter.post)."""
        _aware(at)
        self.writer.post(Command("ticket.event", {"ticket_id": ticket_id, "kind": kind, "at": at, "detail": detail}))

    async def update(self, ticket_id: int, **columns: Any) -> None:
        """Queued, not awaited, like record(); closing the call waits for all of them."""
        unknown = set(columns) - UPDATABLE
        if unknown:
            raise ValueError(f"not updatable during a call: {sorted(unknown)}")
        self.writer.post(Command("ticket.update", {"ticket_id": ticket_id, "columns": columns}))

    async def close_call(self, ticket_id: int, closing: CallClosing) -> None:
        _aware(closing.ended_at)
        await self.execute(
            "ticket.close",
            ticket_id=ticket_id,
            ended_at=closing.ended_at,
            outcome=closing.outcome,
            end_reason=closing.end_reason,
            last_state=closing.last_state,
            answered_at=closing.answered_at,
            destination=closing.destination,
        )

    async def file_outcome(
        self,
        ticket_id: int,
        outcome: str,
        *,
        note: str | None,
        operator_id: int | None,
        at: datetime,
        contact: Contact | None = None,
        audited: Audited | None = None,
        reason: str | None = None,
    ) -> TicketView:
        """The operator's outcome: resolved at first level, or escalated to the second level with
        a callback due ten calendar days after the call, and the citizen's `contact` (the desk
        requires it: ivr.tickets.escalation). `audited`: its audit entry, in the same transaction;
        `reason`: why the citizen called, checked by the caller (`ivr.tickets.reasons`)."""
        _aware(at)
        if outcome not in OUTCOMES:
            raise OutcomeError(f"outcome must be one of {', '.join(OUTCOMES)}")
        if outcome == REFERRED:  # the office and the details given go with it, or it tells nothing
            raise OutcomeError("a referral names the office: file it with the referral panel (Indirizza a)")

        def op(session: Session) -> None:
            ticket = self._taken_by(session, ticket_id, operator_id)
            if operator_id is not None and passed_on(session, ticket):
                raise OutcomeError(PASSED_ON)
            told: dict[str, object] | None = None
            if outcome == "resolved":
                answer_first_level(ticket, TicketStatus.RESOLVED)
            else:
                escalate(ticket)
                ticket.escalated_at = at
            if outcome == "escalated" and contact is not None:
                ticket.contact_name, ticket.contact_email = contact.name, contact.email
                ticket.contact_phone, ticket.answer_by = contact.phone, contact.answer_by
                told = escalation_contact(contact.answer_by, contact.email is not None, bool(contact.phone))
            if note:
                ticket.resolution_note = note
            if reason is not None:
                ticket.call_reason = reason
            filed = events.outcome_filed(outcome, operator_id, contact=told, reason=reason)
            session.add(TicketEvent(ticket_id=ticket.id, at=at, kind=filed.kind, detail=filed.detail, note=note))
            if audited is not None:
                session.add(audited.row(at, "ticket", ticket.id))

        await self.run_write(op)
        view = await self.get(ticket_id)
        assert view is not None
        return view

    def _taken_by(self, session: Session, ticket_id: int, operator_id: int | None) -> Ticket:
        """The ticket an operator acts on: theirs, or nobody's yet (None: a supervisor or a tool)."""
        ticket = session.get(Ticket, self.real_id(ticket_id))
        if ticket is None:
            raise OutcomeError(f"no ticket #{ticket_id}")
        if operator_id is not None and ticket.operator_id not in (None, operator_id):
            raise OutcomeError(f"ticket #{ticket_id} was taken by another operator")
        return ticket

    async def set_reason(self, ticket_id: int, reason: str, *, operator_id: int | None, at: datetime) -> None:
        """Why the citizen called, chosen while talking (checked by the caller against the list);
        chosen again, the last choice counts and the timeline keeps each."""
        _aware(at)

        def op(session: Session) -> None:
            ticket = self._taken_by(session, ticket_id, operator_id)
            ticket.call_reason = reason
            chosen = events.call_reason(reason, operator_id)
            session.add(TicketEvent(ticket_id=ticket.id, at=at, kind=chosen.kind, detail=chosen.detail))

        await self.run_write(op)

    # --- reads --------------------------------------------------------------------------------

    async def _read(self, fn: Callable[[Session], T]) -> T:
        await self.writer.barrier()  # a reader sees the writes queued before it

        def run() -> T:
            with self._sessions() as session:
                return fn(session)

        return await asyncio.get_running_loop().run_in_executor(self._readers, run)

    async def get(self, ticket_id: int) -> TicketView | None:
        def fn(session: Session) -> TicketView | None:
            query = select(Ticket).where(Ticket.id == self.real_id(ticket_id))
            row = session.scalar(query.options(selectinload(Ticket.events)))
            return None if row is None else TicketView.of(row)

        return await self._read(fn)

    async def by_call_uid(self, call_uid: str) -> TicketView | None:
        def fn(session: Session) -> TicketView | None:
            row = session.scalar(select(Ticket).where(Ticket.call_uid == call_uid).options(selectinload(Ticket.events)))
            return None if row is None else TicketView.of(row)

        return await self._read(fn)

    async def by_caller(self, number: str, limit: int = 20) -> list[TicketView]:
        """A caller's tickets, newest first (an operator sees the caller's history)."""

        def fn(session: Session) -> list[TicketView]:
            rows = session.scalars(
                select(Ticket)
                .where(Ticket.caller_number == number)
                .order_by(Ticket.id.desc())
                .limit(limit)
                .options(selectinload(Ticket.events))
            )
            return [TicketView.of(r) for r in rows]

        return await self._read(fn)

    async def open_calls(self) -> list[TicketView]:
        """Phone tickets not closed yet: after a restart, each is a call to resume or to close."""

        def fn(session: Session) -> list[TicketView]:
            rows = session.scalars(
                select(Ticket).where(Ticket.open.is_(True), Ticket.channel == Channel.PHONE).order_by(Ticket.id)
            )
            return [TicketView.of(r, with_events=False) for r in rows]

        return await self._read(fn)

    async def recent(self, limit: int = 20) -> list[TicketView]:
        def fn(session: Session) -> list[TicketView]:
            rows = session.scalars(select(Ticket).order_by(Ticket.id.desc()).limit(limit))
            return [TicketView.of(r, with_events=False) for r in rows]

        return await self._read(fn)


def _aware(moment: datetime) -> None:
    """Refuse naive times here, in the caller's task, rather than deep in a batch."""
    if moment.tzinfo is None:
        raise ValueError("naive datetime given to the ticket store")
