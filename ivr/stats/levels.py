"""The charter's two levels, per channel: how many requests each level had, how many were
answered in time against the charter's target, how many are still open and how many are past due.

    phone, level 1   answered during the call (resolved, or referred to the office whose answer
                     it is): immediate,
                     so every one is in time and there is no target
    phone, level 2   a callback within 10 calendar days, 80%  (sla_kind phone_callback)
    web,   level 1   every web request: an answer within 48 hours, 90%; for a request passed to
                     the second level the escalation notice is that answer (first_due/first_met_at)
    web,   level 2   an e-mail answer within 10 calendar days of the escalation, 80% (web_second)

A request is counted in the period it arrived in, like every commitment in the statistics, and
judged at `scope.now`: answered by its due time (in time), after it or not at all and past it
(late; those still unanswered are also `overdue`), or not answered and not due yet (open). Every
figure is a SQL aggregate, the same statement on SQLite and PostgreSQL.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from typing import Any

from sqlalchemy import ColumnElement, Integer, and_, func, literal, or_, select, union_all
from sqlalchemy.orm import Session

from ivr.schema.tickets import Ticket
from ivr.stats.queries import PERIOD_COLUMNS, Scope
from ivr.tickets.config import SlaSettings
from ivr.tickets.sla import PHONE_CALLBACK, WEB_SECOND
from ivr.tickets.status import FIRST_LEVEL_ANSWERS

CHANNELS_LEVELS: tuple[tuple[str, int], ...] = (("phone", 1), ("phone", 2), ("web", 1), ("web", 2))


@dataclass(frozen=True)
class LevelFigures:
    channel: str  # phone, web
    level: int  # 1, 2
    count: int
    in_time: int
    late: int  # answered late, or not answered and past due
    open: int  # not answered, not due yet
    overdue: int  # not answered and past due (part of `late`)
    target: float | None  # None: phone level 1, answered on the spot

    @property
    def in_time_share(self) -> float | None:
        decided = self.in_time + self.late
        return None if decided == 0 else self.in_time / decided

    @property
    def met(self) -> bool | None:
        share = self.in_time_share
        return None if share is None or self.target is None else share >= self.target


@dataclass(frozen=True)
class LevelRow:
    period: date | None  # first day of the period; None: the whole range
    figures: list[LevelFigures]  # in CHANNELS_LEVELS order


def targets(sla: SlaSettings) -> dict[tuple[str, int], float | None]:
    return {
        ("phone", 1): None,
        ("phone", 2): sla.phone_target,
        ("web", 1): sla.web_target,
        ("web", 2): sla.web_second_target,
    }


def _judged(
    channel: str, level: int, where: ColumnElement[bool], due: Any, met: Any, scope: Scope, per_period: bool
) -> Any:
    now = scope.now
    answered_late = and_(met.is_not(None), met > due)
    unanswered_past = and_(met.is_(None), due < now)
    columns: list[Any] = [func.min(PERIOD_COLUMNS[scope.period]).label("period")] if per_period else []
    columns += [
        literal(channel).label("channel"),
        literal(level, Integer).label("level"),
        func.count().label("count"),
        func.count().filter(and_(met.is_not(None), met <= due)).label("in_time"),
        func.count().filter(or_(answered_late, unanswered_past)).label("late"),
        func.count().filter(and_(met.is_(None), due >= now)).label("open"),
        func.count().filter(unanswered_past).label("overdue"),
    ]
    stmt = select(*columns).where(where, Ticket.local_day.between(scope.start, scope.end))
    return stmt.group_by(PERIOD_COLUMNS[scope.period]) if per_period else stmt


def _immediate(scope: Scope, per_period: bool) -> Any:
    """Phone, level 1: resolved or referred during the call, so answered at once (in time by
    definition)."""
    columns: list[Any] = [func.min(PERIOD_COLUMNS[scope.period]).label("period")] if per_period else []
    n = func.count()
    columns += [
        literal("phone").label("channel"),
        literal(1, Integer).label("level"),
        n.label("count"),
        func.count().label("in_time"),
        *(literal(0, Integer).label(name) for name in ("late", "open", "overdue")),
    ]
    stmt = select(*columns).where(
        Ticket.channel == "phone",
        Ticket.level == 1,
        Ticket.status.in_(sorted(FIRST_LEVEL_ANSWERS)),
        Ticket.local_day.between(scope.start, scope.end),
    )
    return stmt.group_by(PERIOD_COLUMNS[scope.period]) if per_period else stmt


def level_statement(scope: Scope, per_period: bool) -> Any:
    """One row per (period,) channel and level that has tickets."""
    web, phone = Ticket.channel == "web", Ticket.channel == "phone"
    return union_all(
        _immediate(scope, per_period),
        _judged(
            "phone", 2, and_(phone, Ticket.sla_kind == PHONE_CALLBACK), Ticket.callback_due, Ticket.sla_met_at,
            scope, per_period,
        ),
        _judged(
            "web", 1, web, func.coalesce(Ticket.first_due, Ticket.callback_due),
            func.coalesce(Ticket.first_met_at, Ticket.sla_met_at), scope, per_period,
        ),
        _judged(
            "web", 2, and_(web, Ticket.sla_kind == WEB_SECOND), Ticket.callback_due, Ticket.sla_met_at,
            scope, per_period,
        ),
    )  # fmt: skip


def level_rows(scope: Scope, sla: SlaSettings | None = None) -> Callable[[Session], list[LevelRow]]:
    """A read (for the store's `run_read` or a stats Reader): the rows per period, then the total."""
    goals = targets(sla or SlaSettings())

    def run(session: Session) -> list[LevelRow]:
        found: dict[date | None, dict[tuple[str, int], dict[str, Any]]] = {}
        for per_period in (True, False):
            for row in session.execute(level_statement(scope, per_period)).mappings():
                period = row["period"] if per_period else None
                found.setdefault(period, {})[(str(row["channel"]), int(row["level"]))] = dict(row)
        periods = sorted(p for p in found if p is not None)
        return [_row(p, found.get(p, {}), goals) for p in [*periods, None]]

    return run


def _row(
    period: date | None, cells: dict[tuple[str, int], dict[str, Any]], goals: dict[tuple[str, int], float | None]
) -> LevelRow:
    figures = []
    for key in CHANNELS_LEVELS:
        c = cells.get(key, {})

        def n(name: str, c: dict[str, Any] = c) -> int:
            return int(c.get(name) or 0)

        figures.append(
            LevelFigures(key[0], key[1], n("count"), n("in_time"), n("late"), n("open"), n("overdue"), goals[key])
        )
    return LevelRow(period, figures)


def flat(row: LevelRow | None) -> dict[str, Any]:
    """CSV columns / JSON keys of one row's levels, e.g. web_l2_in_time; empty for a row without."""
    out: dict[str, Any] = {}
    for i, (channel, level) in enumerate(CHANNELS_LEVELS):
        f = row.figures[i] if row is not None else None
        prefix = f"{channel}_l{level}"
        for name in ("count", "in_time", "late", "open", "overdue"):
            out[f"{prefix}_{name}"] = getattr(f, name) if f is not None else None
        share = f.in_time_share if f is not None else None
        out[f"{prefix}_in_time_share"] = None if share is None else round(share, 4)
        out[f"{prefix}_target"] = f.target if f is not None else None
    return out
