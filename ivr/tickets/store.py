"""The ticket store as the call flow sees it: a small async port and its SQL implementation.

Calls never wait on each other for the database: writes from all calls are queued and committed
in batches by one writer thread, which keeps SQLite (one writer at a time) fast under hundreds of
concurrent calls and keeps the event loop free.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any, Protocol, TypeVar
from zoneinfo import ZoneInfo

from sqlalchemy import Engine, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, selectinload, sessionmaker

from ivr.tickets.models import Channel, Ticket, TicketEvent
from ivr.tickets.periods import ROME, local_keys
from ivr.tickets.sla import PHONE_CALLBACK

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
        self, ticket_id: int, outcome: str, *, note: str | None, operator_id: int | None, at: datetime
    ) -> TicketView: ...

    async def run_write(self, op: Callable[[Session], T]) -> T: ...

    async def run_read(self, fn: Callable[[Session], T]) -> T: ...


# Columns a call may set while it runs; anything else is a programming error.
UPDATABLE = frozenset({
    "answered_at", "last_state", "destination", "caller_name", "caller_number", "topic", "line_state",
    "closure_id", "campaign", "consent", "consent_at", "consent_prompt", "queue_result", "queued_at",
    "operator_id", "operator_answered_at", "operator_ended_at", "wait_s", "handle_s", "survey_status",
})  # fmt: skip
OUTCOMES = ("resolved", "escalated")
CALLBACK_DAYS = 10  # the charter: second-level answer by phone within 10 calendar days


class OutcomeError(ValueError):
    pass


class SqlTicketStore:
    """TicketStore on SQLAlchemy; writes are batched by a single writer, reads use a pool."""

    def __init__(self, engine: Engine, *, batch_max: int = 200, tz: ZoneInfo = ROME) -> None:
        self._engine = engine
        self.tz = tz
        self._sessions = sessionmaker(engine, expire_on_commit=False)
        self._writer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="ticket-writer")
        self._readers = ThreadPoolExecutor(max_workers=4, thread_name_prefix="ticket-reader")
        self._pending: asyncio.Queue[tuple[Callable[[Session], Any], asyncio.Future[Any]]] | None = None
        self._task: asyncio.Task[None] | None = None
        self._batch_max = batch_max

    async def start(self) -> None:
        if self._task is None:
            self._pending = asyncio.Queue()
            self._task = asyncio.create_task(self._write_loop(), name="ticket-writer")

    async def stop(self) -> None:
        """Flush what is queued, then stop; nothing accepted before stop() is lost."""
        if self._task is not None and self._pending is not None:
            await self._pending.join()
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        self._writer.shutdown(wait=True)
        self._readers.shutdown(wait=True)

    # --- writes -------------------------------------------------------------------------------

    async def run_write(self, op: Callable[[Session], T]) -> T:
        """Run `op` in the writer's next batch (one transaction); for feature repositories whose
        writes must not race the ticket's own (e.g. a voicemail and its ticket together)."""
        return await self._write(op)

    async def run_read(self, fn: Callable[[Session], T]) -> T:
        return await self._read(fn)

    async def _write(self, op: Callable[[Session], T]) -> T:
        if self._pending is None:
            await self.start()
        assert self._pending is not None
        fut: asyncio.Future[T] = asyncio.get_running_loop().create_future()
        self._pending.put_nowait((op, fut))
        return await fut

    async def _write_loop(self) -> None:
        assert self._pending is not None
        loop = asyncio.get_running_loop()
        while True:
            batch = [await self._pending.get()]
            while len(batch) < self._batch_max and not self._pending.empty():
                batch.append(self._pending.get_nowait())
            try:
                results = await loop.run_in_executor(self._writer, self._run_batch, [op for op, _ in batch])
            except Exception as exc:  # the batch failed as a whole: retry one by one to isolate
                log.warning("ticket batch of %d failed (%s); retrying singly", len(batch), exc)
                results = [await self._run_single(loop, op) for op, _ in batch]
            for (_, fut), result in zip(batch, results, strict=True):
                if not fut.done():
                    if isinstance(result, _Failure):
                        fut.set_exception(result.error)
                    else:
                        fut.set_result(result)
                self._pending.task_done()

    async def _run_single(self, loop: asyncio.AbstractEventLoop, op: Callable[[Session], Any]) -> Any:
        try:
            return (await loop.run_in_executor(self._writer, self._run_batch, [op]))[0]
        except Exception as exc:
            log.error("ticket write failed: %s", exc)
            return _Failure(exc)

    def _run_batch(self, ops: list[Callable[[Session], Any]]) -> list[Any]:
        with self._sessions.begin() as session:
            results = []
            for op in ops:
                results.append(op(session))
                session.flush()
            return results

    async def open_call(self, call: NewCall) -> int:
        _aware(call.started_at)

        def op(session: Session) -> int:
            existing = session.scalar(select(Ticket.id).where(Ticket.call_uid == call.call_uid))
            if existing is not None:  # the same call seen again (engine restart): one ticket only
                return existing
            ticket = Ticket(
                channel=Channel.PHONE,
                call_uid=call.call_uid,
                did=call.did,
                caller_number=call.caller_number,
                caller_name=call.caller_name,
                started_at=call.started_at,
                open=True,
                last_state="started",
                **local_keys(call.started_at, self.tz),
            )
            session.add(ticket)
            session.flush()
            session.add(TicketEvent(ticket_id=ticket.id, at=call.started_at, kind="call_started"))
            return ticket.id

        try:
            return await self._write(op)
        except IntegrityError:  # two writers raced on the same call_uid: read the winner
            found = await self._read(lambda s: s.scalar(select(Ticket.id).where(Ticket.call_uid == call.call_uid)))
            if found is None:
                raise
            return int(found)

    async def record(self, ticket_id: int, kind: str, at: datetime, detail: dict[str, Any] | None = None) -> None:
        _aware(at)

        def op(session: Session) -> None:
            session.add(TicketEvent(ticket_id=ticket_id, at=at, kind=kind, detail=detail))

        await self._write(op)

    async def update(self, ticket_id: int, **columns: Any) -> None:
        unknown = set(columns) - UPDATABLE
        if unknown:
            raise ValueError(f"not updatable during a call: {sorted(unknown)}")

        def op(session: Session) -> None:
            session.execute(update(Ticket).where(Ticket.id == ticket_id).values(**columns))

        await self._write(op)

    async def close_call(self, ticket_id: int, closing: CallClosing) -> None:
        _aware(closing.ended_at)

        def op(session: Session) -> None:
            values: dict[str, Any] = {
                "open": False,
                "ended_at": closing.ended_at,
                "outcome": closing.outcome,
                "end_reason": closing.end_reason,
                "last_state": closing.last_state,
            }
            if closing.answered_at is not None:
                values["answered_at"] = closing.answered_at
            if closing.destination is not None:
                values["destination"] = closing.destination
            changed = session.execute(
                update(Ticket).where(Ticket.id == ticket_id, Ticket.open.is_(True)).values(**values)
            ).rowcount  # type: ignore[attr-defined]
            if changed:
                session.add(
                    TicketEvent(
                        ticket_id=ticket_id,
                        at=closing.ended_at,
                        kind="call_ended",
                        detail={"outcome": closing.outcome, "reason": closing.end_reason},
                    )
                )

        await self._write(op)

    async def file_outcome(
        self, ticket_id: int, outcome: str, *, note: str | None, operator_id: int | None, at: datetime
    ) -> TicketView:
        """The operator's outcome: resolved at first level, or escalated to the second level with
        a callback due ten calendar days after the call."""
        _aware(at)
        if outcome not in OUTCOMES:
            raise OutcomeError(f"outcome must be one of {', '.join(OUTCOMES)}")

        def op(session: Session) -> None:
            ticket = session.get(Ticket, ticket_id)
            if ticket is None:
                raise OutcomeError(f"no ticket #{ticket_id}")
            if operator_id is not None and ticket.operator_id not in (None, operator_id):
                raise OutcomeError(f"ticket #{ticket_id} was taken by another operator")
            if outcome == "resolved":
                ticket.level, ticket.status, ticket.callback_due = 1, "resolved", None
                ticket.sla_kind = ticket.sla_flag = None
            else:
                ticket.level, ticket.status = 2, "new"
                ticket.callback_due = ticket.started_at + timedelta(days=CALLBACK_DAYS)
                ticket.sla_kind = PHONE_CALLBACK
            if note:
                ticket.resolution_note = note
            detail = {"outcome": outcome, "operator_id": operator_id}
            session.add(TicketEvent(ticket_id=ticket_id, at=at, kind="outcome_filed", detail=detail, note=note))

        await self._write(op)
        view = await self.get(ticket_id)
        assert view is not None
        return view

    # --- reads --------------------------------------------------------------------------------

    async def _read(self, fn: Callable[[Session], T]) -> T:
        def run() -> T:
            with self._sessions() as session:
                return fn(session)

        return await asyncio.get_running_loop().run_in_executor(self._readers, run)

    async def get(self, ticket_id: int) -> TicketView | None:
        def fn(session: Session) -> TicketView | None:
            row = session.scalar(select(Ticket).where(Ticket.id == ticket_id).options(selectinload(Ticket.events)))
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

    async def recent(self, limit: int = 20) -> list[TicketView]:
        def fn(session: Session) -> list[TicketView]:
            rows = session.scalars(select(Ticket).order_by(Ticket.id.desc()).limit(limit))
            return [TicketView.of(r, with_events=False) for r in rows]

        return await self._read(fn)


def _aware(moment: datetime) -> None:
    """Refuse naive times here, in the caller's task, rather than deep in a batch."""
    if moment.tzinfo is None:
        raise ValueError("naive datetime given to the ticket store")


@dataclass(frozen=True)
class _Failure:
    error: Exception
