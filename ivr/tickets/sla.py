"""Service commitments: which tickets are close to or past their due time, and compliance.

The charter promises a phone answer at the second level within 10 calendar days in 80% of
cases, an answer to web requests within 48 hours in 90% of cases, and, for web requests passed
to the second level, an e-mail answer within 10 calendar days in 80% of cases (`web_second`). A ticket carries its
commitment (`sla_kind`, `callback_due`, `sla_met_at`); this module flags the ones at risk, so
supervisors see them before they are late, and measures compliance in SQL.

Compliance counts a ticket once its outcome is known: in time (answered by the due time), late
(answered after it, or not answered and past it); tickets still pending are left out.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import and_, case, func, or_, select, update
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import ColumnElement

from ivr import jobs
from ivr.schema.tickets import Ticket, TicketEvent
from ivr.tickets.config import SlaSettings
from ivr.tickets.events import EventKind
from ivr.tickets.repository import Database, Repository

log = logging.getLogger(__name__)
PHONE_CALLBACK, WEB_REPLY, WEB_SECOND = "phone_callback", "web_reply", "web_second"
KINDS = (PHONE_CALLBACK, WEB_REPLY, WEB_SECOND)
NEAR, OVERDUE = "near", "overdue"


@dataclass(frozen=True)
class Flagged:
    near: list[int]
    overdue: list[int]


@dataclass(frozen=True)
class Compliance:
    kind: str
    in_time: int
    late: int
    pending: int
    target: float

    @property
    def rate(self) -> float | None:
        decided = self.in_time + self.late
        return None if decided == 0 else self.in_time / decided

    @property
    def met(self) -> bool | None:
        rate = self.rate
        return None if rate is None else rate >= self.target


def targets(settings: SlaSettings) -> dict[str, float]:
    return {
        PHONE_CALLBACK: settings.phone_target,
        WEB_REPLY: settings.web_target,
        WEB_SECOND: settings.web_second_target,
    }


def _waiting() -> ColumnElement[bool]:
    """Tickets that still owe the citizen an answer."""
    return and_(
        Ticket.sla_kind.is_not(None),
        Ticket.sla_met_at.is_(None),
        or_(Ticket.status.is_(None), Ticket.status != "closed"),
    )


def meet(session: Session, ticket: Ticket, at: datetime) -> None:
    """The ticket's commitment met at `at`. Met late, the miss goes on the timeline when the check
    job had not flagged it yet (an answer right after an outage, or over a day the soak jumped):
    a late answer was otherwise indistinguishable from one nobody checked."""
    if ticket.sla_met_at is not None:
        return
    due = ticket.callback_due
    if due is not None and ticket.sla_flag != OVERDUE and due < at:  # both aware: UtcDateTime, the store's rule
        session.add(TicketEvent(ticket_id=ticket.id, at=at, kind=EventKind.SLA_OVERDUE))
    ticket.sla_met_at, ticket.sla_flag = at, None


def margins(settings: SlaSettings) -> dict[str, float]:
    """Hours before its due time a commitment of each kind counts as near."""
    return {
        PHONE_CALLBACK: settings.near_phone_hours,
        WEB_REPLY: settings.near_web_hours,
        WEB_SECOND: settings.near_web_second_hours,
    }


def at_risk(session: Session, now: datetime, settings: SlaSettings) -> dict[str, tuple[int, int]]:
    """Per kind, open commitments near their due time and past it, by the clock now: the live
    alerts cannot wait for the check job's flags (every `check_every_s`, 15 minutes)."""
    found: dict[str, tuple[int, int]] = {}
    for kind, hours in margins(settings).items():
        base = select(func.count()).select_from(Ticket).where(_waiting(), Ticket.sla_kind == kind)
        overdue = int(session.scalar(base.where(Ticket.callback_due < now)) or 0)
        soon = and_(Ticket.callback_due >= now, Ticket.callback_due < now + timedelta(hours=hours))
        near = int(session.scalar(base.where(soon)) or 0)
        if near or overdue:
            found[kind] = (near, overdue)
    return found


def flag(session: Session, now: datetime, settings: SlaSettings) -> Flagged:
    """Mark tickets newly near or past their due time, each once, with an event on its timeline."""
    overdue = list(
        session.scalars(
            select(Ticket.id).where(
                _waiting(), Ticket.callback_due < now, or_(Ticket.sla_flag.is_(None), Ticket.sla_flag != OVERDUE)
            )
        )
    )
    near: list[int] = []
    for kind, hours in margins(settings).items():
        near += session.scalars(
            select(Ticket.id).where(
                _waiting(),
                Ticket.sla_kind == kind,
                Ticket.sla_flag.is_(None),
                Ticket.callback_due >= now,
                Ticket.callback_due < now + timedelta(hours=hours),
            )
        )
    for ids, mark in ((overdue, OVERDUE), (near, NEAR)):
        if not ids:
            continue
        session.execute(update(Ticket).where(Ticket.id.in_(ids)).values(sla_flag=mark))
        kind = EventKind.SLA_OVERDUE if mark == OVERDUE else EventKind.SLA_NEAR
        session.add_all(TicketEvent(ticket_id=i, at=now, kind=kind) for i in ids)
    return Flagged(near=near, overdue=overdue)


def compliance(session: Session, start: date, end: date, now: datetime, settings: SlaSettings) -> list[Compliance]:
    """Per commitment kind, for tickets created on the local days `start`..`end`."""
    in_time = and_(Ticket.sla_met_at.is_not(None), Ticket.sla_met_at <= Ticket.callback_due)
    late = or_(
        and_(Ticket.sla_met_at.is_not(None), Ticket.sla_met_at > Ticket.callback_due),
        and_(Ticket.sla_met_at.is_(None), Ticket.callback_due < now),
    )
    rows = session.execute(
        select(
            Ticket.sla_kind,
            func.sum(case((in_time, 1), else_=0)),
            func.sum(case((late, 1), else_=0)),
            func.count(),
        )
        .where(Ticket.sla_kind.is_not(None), Ticket.local_day >= start, Ticket.local_day <= end)
        .group_by(Ticket.sla_kind)
    ).all()
    found = {kind: (int(a or 0), int(b or 0), int(n)) for kind, a, b, n in rows}
    goals = targets(settings)
    result = []
    for kind in KINDS:
        good, bad, total = found.get(kind, (0, 0, 0))
        result.append(Compliance(kind, good, bad, total - good - bad, goals[kind]))
    return result


def flagged(session: Session, limit: int = 200) -> list[Ticket]:
    """Tickets currently near or past due, the most urgent first."""
    return list(
        session.scalars(
            select(Ticket).where(_waiting(), Ticket.sla_flag.is_not(None)).order_by(Ticket.callback_due).limit(limit)
        )
    )


class Commitments(Repository):
    """The commitments on the ticket store: the SLA job, the console and `ivr requests sla`."""

    def __init__(self, db: Database, settings: SlaSettings) -> None:
        super().__init__(db)
        self.settings = settings

    async def flag(self, now: datetime) -> Flagged:
        return await self._write(lambda session: flag(session, now, self.settings))

    async def flagged(self, limit: int = 200) -> list[Ticket]:
        return await self._read(lambda session: flagged(session, limit))

    async def compliance(self, start: date, end: date, now: datetime) -> list[Compliance]:
        return await self._read(lambda session: compliance(session, start, end, now, self.settings))


async def check_job() -> None:
    """The scheduled job: the running engine flags what is near or past due."""
    check = jobs.running("sla")
    if check is None:
        return
    result: Flagged = await check()
    if result.near or result.overdue:
        log.info("commitments: %d near due, %d past due", len(result.near), len(result.overdue))


def schedule_sla_check(scheduler: Any, every_s: float) -> None:
    scheduler.add_job(check_job, "interval", seconds=every_s, id="sla-check", replace_existing=True)
