"""The ticket's own writes during a call, as commands (see ivr.tickets.commands)."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import bindparam, case, func, insert, select, update
from sqlalchemy.orm import Session

from ivr.schema.tickets import Channel
from ivr.tickets.coalesce import TICKETS, insert_events, update_columns
from ivr.tickets.events import EventKind
from ivr.tickets.periods import local_keys

_INSERT_TICKET = insert(TICKETS).returning(TICKETS.c.id)
_BY_CALL_UID = select(TICKETS.c.id).where(TICKETS.c.call_uid == bindparam("call_uid"))


def ticket_by_call_uid(session: Session, *, call_uid: str, **_: Any) -> int | None:
    found: int | None = session.scalar(_BY_CALL_UID, {"call_uid": call_uid})
    return found


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
    existing = ticket_by_call_uid(session, call_uid=call_uid)
    if existing is not None:  # the same call seen again (engine restart, replay): one ticket only
        return existing
    row = {
        "channel": Channel.PHONE,
        "call_uid": call_uid,
        "did": did,
        "caller_number": caller_number,
        "caller_name": caller_name,
        "started_at": started_at,
        "open": True,
        "last_state": "started",
        **local_keys(started_at, ZoneInfo(timezone)),
    }
    ticket_id: int = session.execute(_INSERT_TICKET, row).scalar_one()
    insert_events(session, [{"ticket_id": ticket_id, "at": started_at, "kind": EventKind.CALL_STARTED, "detail": None}])
    return ticket_id


def add_event(
    session: Session, *, ticket_id: int, kind: str, at: datetime, detail: dict[str, Any] | None = None
) -> None:
    """The writer inserts a batch's events together (ivr.tickets.coalesce); this is one alone."""
    insert_events(session, [{"ticket_id": ticket_id, "kind": kind, "at": at, "detail": detail}])


def update_ticket(session: Session, *, ticket_id: int, columns: dict[str, Any]) -> None:
    """The writer merges a batch's updates per ticket (ivr.tickets.coalesce); this is one alone."""
    update_columns(session, ticket_id, columns)


def update_ticket_of_earlier_run(session: Session, *, ticket_id: int, columns: dict[str, Any]) -> None:
    """An earlier run's update (ivr.tickets.replay): an open ticket takes it as written (its call is
    being served, and its engine writes on); a closed one only where it had nothing: the engine that
    closed it had the last word, and only what it never knew (an answer time, a consent) is added."""
    values = {
        name: case((TICKETS.c.open.is_(True), bindparam(f"new_{name}", type_=TICKETS.c[name].type)),
                   else_=func.coalesce(TICKETS.c[name], bindparam(f"new_{name}", type_=TICKETS.c[name].type)))
        for name in sorted(columns)
    }  # fmt: skip
    stmt = update(TICKETS).where(TICKETS.c.id == bindparam("row_id")).values(values)
    session.execute(stmt, {"row_id": ticket_id, **{f"new_{k}": v for k, v in columns.items()}})


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
    changed = update_columns(session, ticket_id, values, only_open=True)
    if changed:
        detail = {"outcome": outcome, "reason": end_reason}
        insert_events(
            session, [{"ticket_id": ticket_id, "at": ended_at, "kind": EventKind.CALL_ENDED, "detail": detail}]
        )
