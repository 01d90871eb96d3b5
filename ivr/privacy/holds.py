"""Legal holds: a ticket that must not be purged (a dispute, a data-subject request, an inquiry).

Putting and lifting a hold are rare, deliberate acts by a named person, so each one is written
three times: the hold row itself (with reason, who and when), the ticket's timeline, and the
access audit the console keeps for the privacy law.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Select, select
from sqlalchemy.orm import Session

from ivr.schema.console import AuditEntry
from ivr.schema.privacy import LegalHold
from ivr.schema.tickets import Ticket, TicketEvent
from ivr.tickets.events import EventKind
from ivr.tickets.repository import Repository


class PrivacyError(ValueError):
    """A request the retention policy refuses, phrased for the person who made it."""


@dataclass(frozen=True)
class HoldView:
    id: int
    ticket_id: int
    reason: str
    held_by: str
    held_at: datetime
    released_by: str | None
    released_at: datetime | None

    @classmethod
    def of(cls, row: LegalHold) -> HoldView:
        return cls(row.id, row.ticket_id, row.reason, row.held_by, row.held_at, row.released_by, row.released_at)


def held_tickets() -> Select[int]:
    """Tickets under an active hold, as a subquery every purge selection excludes."""
    return select(LegalHold.ticket_id).where(LegalHold.released_at.is_(None))


def active_hold(session: Session, ticket_id: int) -> LegalHold | None:
    return session.scalar(
        select(LegalHold).where(LegalHold.ticket_id == ticket_id, LegalHold.released_at.is_(None)).limit(1)
    )


def hold(session: Session, ticket_id: int, *, reason: str, by: str, at: datetime) -> HoldView:
    reason, by = _text(reason, "reason", 500), _text(by, "who", 64)
    if session.get(Ticket, ticket_id) is None:
        raise PrivacyError(f"no ticket #{ticket_id}")
    if active_hold(session, ticket_id) is not None:
        raise PrivacyError(f"ticket #{ticket_id} is already under a legal hold")
    row = LegalHold(ticket_id=ticket_id, reason=reason, held_by=by, held_at=at)
    session.add(row)
    session.flush()
    _record(session, ticket_id, EventKind.LEGAL_HOLD, by, at, row.id)
    return HoldView.of(row)


def release(session: Session, ticket_id: int, *, by: str, at: datetime) -> HoldView:
    by = _text(by, "who", 64)
    row = active_hold(session, ticket_id)
    if row is None:
        raise PrivacyError(f"ticket #{ticket_id} is not under a legal hold")
    row.released_by, row.released_at = by, at
    _record(session, ticket_id, EventKind.LEGAL_HOLD_RELEASED, by, at, row.id)
    return HoldView.of(row)


def holds(session: Session, *, include_released: bool = False) -> list[HoldView]:
    query = select(LegalHold).order_by(LegalHold.id)
    if not include_released:
        query = query.where(LegalHold.released_at.is_(None))
    return [HoldView.of(r) for r in session.scalars(query)]


def _record(session: Session, ticket_id: int, action: EventKind, by: str, at: datetime, hold_id: int) -> None:
    # The reason stays in the hold row only: it may name people, and the timeline and the audit
    # are read far more widely than the hold itself.
    session.add(TicketEvent(ticket_id=ticket_id, at=at, kind=action, detail={"by": by, "hold": hold_id}))
    session.add(
        AuditEntry(
            at=at, login=by, action=action, object_kind="ticket", object_id=str(ticket_id), detail={"hold": hold_id}
        )
    )


def _text(value: str, what: str, limit: int) -> str:
    cleaned = " ".join(value.split())
    if not cleaned:
        raise PrivacyError(f"{what} must not be empty")
    if len(cleaned) > limit:
        raise PrivacyError(f"{what} must be at most {limit} characters")
    return cleaned


class LegalHolds(Repository):
    """Legal holds on the ticket store's readers and writer (`ivr privacy hold|release|holds`)."""

    refusals = (PrivacyError,)

    async def hold(self, ticket_id: int, *, reason: str, by: str, at: datetime) -> HoldView:
        return await self._write(lambda session: hold(session, ticket_id, reason=reason, by=by, at=at))

    async def release(self, ticket_id: int, *, by: str, at: datetime) -> HoldView:
        return await self._write(lambda session: release(session, ticket_id, by=by, at=at))

    async def listing(self, *, include_released: bool = False) -> list[HoldView]:
        return await self._read(lambda session: holds(session, include_released=include_released))
