"""The figures Prometheus reads from the store, in one trip per scrape: today's calls by outcome
and the service level, commitments flagged near or past due, voicemails waiting for their
transcript, the last purge, and how many console administrators exist."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime

from sqlalchemy import and_, func, or_, select
from sqlalchemy.orm import Session

from ivr.schema.console import ConsoleUser
from ivr.schema.privacy import PurgeRun
from ivr.schema.tickets import Ticket, Voicemail
from ivr.tickets.repository import Repository


@dataclass
class StoreFigures:
    calls_today: dict[str, int] = field(default_factory=dict)  # outcome (or "open") -> tickets
    admitted_today: int = 0
    answered_in_sl_today: int = 0
    commitments: dict[tuple[str, str], int] = field(default_factory=dict)  # (kind, near|overdue) -> open tickets
    transcription_backlog: int = 0
    purge_items: dict[str, int] = field(default_factory=dict)
    purge_files_failed: int = 0
    purge_finished_at: datetime | None = None
    administrators: int = 0

    @property
    def service_level(self) -> float | None:
        return self.answered_in_sl_today / self.admitted_today if self.admitted_today else None


def read_figures(session: Session, today: date, service_level_s: float) -> StoreFigures:
    f = StoreFigures()
    phone_today = and_(Ticket.local_day == today, Ticket.channel == "phone")
    for outcome, count in session.execute(
        select(func.coalesce(Ticket.outcome, "open"), func.count()).where(phone_today).group_by(Ticket.outcome)
    ):
        f.calls_today[str(outcome)] = int(count)
    answered = and_(Ticket.queue_result == "answered", Ticket.wait_s <= service_level_s)
    admitted, in_sl = session.execute(
        select(func.count(Ticket.queued_at), func.count().filter(answered)).where(phone_today)
    ).one()
    f.admitted_today, f.answered_in_sl_today = int(admitted), int(in_sl)
    waiting = and_(
        Ticket.sla_kind.is_not(None),
        Ticket.sla_met_at.is_(None),
        or_(Ticket.status.is_(None), Ticket.status != "closed"),
        Ticket.sla_flag.is_not(None),
    )
    for kind, flag, count in session.execute(
        select(Ticket.sla_kind, Ticket.sla_flag, func.count()).where(waiting).group_by(Ticket.sla_kind, Ticket.sla_flag)
    ):
        f.commitments[(str(kind), str(flag))] = int(count)
    f.transcription_backlog = int(
        session.scalar(select(func.count()).select_from(Voicemail).where(Voicemail.transcript_status == "pending")) or 0
    )
    run = session.scalars(
        select(PurgeRun).where(PurgeRun.finished_at.is_not(None)).order_by(PurgeRun.id.desc()).limit(1)
    ).first()
    if run is not None:
        f.purge_items = {str(k): int(v) for k, v in (run.counts or {}).items()}
        f.purge_files_failed = run.files_failed
        f.purge_finished_at = run.finished_at
    f.administrators = count_administrators(session)
    return f


def count_administrators(session: Session) -> int:
    query = select(func.count()).select_from(ConsoleUser)
    query = query.where(ConsoleUser.role == "administrator", ConsoleUser.active.is_(True))
    return int(session.scalar(query) or 0)


class OpsFigures(Repository):
    async def figures(self, today: date, service_level_s: float) -> StoreFigures:
        return await self._read(lambda s: read_figures(s, today, service_level_s))

    async def administrators(self) -> int:
        return await self._read(count_administrators)
