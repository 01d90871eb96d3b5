"""The ticket's own writes during a call, as commands (see ivr.tickets.commands)."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from ivr.tickets.commands import command
from ivr.tickets.models import Channel, Ticket, TicketEvent
from ivr.tickets.periods import local_keys


def _by_call_uid(session: Session, *, call_uid: str, **_: Any) -> int | None:
    return session.scalar(select(Ticket.id).where(Ticket.call_uid == call_uid))


@command("ticket.open", creates=True, lookup=_by_call_uid)
def open_ticket(
    session: Session,
    *,
    call_uid: str,
    did: str | None,
    caller_number: str | None,
    caller_name: str | None,
    started_at: datetime,
    timezone: str,
) -> int:
    existing = _by_call_uid(session, call_uid=call_uid)
    if existing is not None:  # the same call seen again (engine restart, replay): one ticket only
        return existing
    ticket = Ticket(
        channel=Channel.PHONE,
        call_uid=call_uid,
        did=did,
        caller_number=caller_number,
        caller_name=caller_name,
        started_at=started_at,
        open=True,
        last_state="started",
        **local_keys(started_at, ZoneInfo(timezone)),
    )
    session.add(ticket)
    session.flush()
    session.add(TicketEvent(ticket_id=ticket.id, at=started_at, kind="call_started"))
    return ticket.id


@command("ticket.event")
def add_event(
    session: Session, *, ticket_id: int, kind: str, at: datetime, detail: dict[str, Any] | None = None
) -> None:
    session.add(TicketEvent(ticket_id=ticket_id, at=at, kind=kind, detail=detail))


@command("ticket.update")
def update_ticket(session: Session, *, ticket_id: int, columns: dict[str, Any]) -> None:
    session.execute(update(Ticket).where(Ticket.id == ticket_id).values(**columns))


@command("ticket.close")
def close_ticket(
    session: Session,
    *,
    ticket_id: int,
    ended_at: datetime,
    outcome: str,
    end_reason: str,
    last_state: str,
    answered_at: datetime | None = None,
    destination: str | None = None,
) -> None:
    values: dict[str, Any] = {
        "open": False,
        "ended_at": ended_at,
        "outcome": outcome,
        "end_reason": end_reason,
        "last_state": last_state,
    }
    if answered_at is not None:
        values["answered_at"] = answered_at
    if destination is not None:
        values["destination"] = destination
    changed = session.execute(
        update(Ticket).where(Ticket.id == ticket_id, Ticket.open.is_(True)).values(**values)
    ).rowcount  # type: ignore[attr-defined]
    if changed:
        detail = {"outcome": outcome, "reason": end_reason}
        session.add(TicketEvent(ticket_id=ticket_id, at=ended_at, kind="call_ended", detail=detail))
