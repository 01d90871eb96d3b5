"""Operator time per operator and local day: how each one's hours were spent, to the second.

Read from the distributor's state changes (`ivr.schema.presence`, written by `ivr.acd.history`)
and the tickets' timelines: time logged in, available, ringing, talking, in wrap-up and paused
(by reason), on hold (the `call_unheld` events' `held_s`), offers made, answered and missed, and
the average handling time (talk and wrap-up per answered offer). A state runs from its row to the
operator's next row; the state before the range is the last row before it; a range that reaches
`now` ends there. Days are the line's local days, split at local midnight.
"""

from __future__ import annotations

import json
from collections import defaultdict
from dataclasses import asdict, dataclass, field
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import and_, func, select
from sqlalchemy.orm import Session

from ivr.csvcells import write_csv
from ivr.schema.presence import OperatorStateChange
from ivr.schema.tickets import TicketEvent

LOGGED_IN = ("available", "offered", "busy", "wrap_up", "paused")
COUNTED = {"offer": "offers", "operator_answered": "answered", "offer_missed": "missed"}


@dataclass
class OperatorDay:
    login: str
    day: date
    logged_in_s: float = 0.0
    available_s: float = 0.0
    ringing_s: float = 0.0
    talking_s: float = 0.0
    wrap_up_s: float = 0.0
    paused_s: float = 0.0
    paused_by_reason: dict[str, float] = field(default_factory=dict)
    on_hold_s: float = 0.0
    offers: int = 0
    answered: int = 0
    missed: int = 0

    @property
    def handling_s(self) -> float | None:
        """Average handling time: talk and wrap-up per answered offer."""
        return None if not self.answered else (self.talking_s + self.wrap_up_s) / self.answered

    def add(self, state: str, reason: str | None, seconds: float) -> None:
        if state in LOGGED_IN:
            self.logged_in_s += seconds
        if state == "available":
            self.available_s += seconds
        elif state == "offered":
            self.ringing_s += seconds
        elif state == "busy":
            self.talking_s += seconds
        elif state == "wrap_up":
            self.wrap_up_s += seconds
        elif state == "paused":
            self.paused_s += seconds
            key = reason or "-"
            self.paused_by_reason[key] = self.paused_by_reason.get(key, 0.0) + seconds


def operator_days(session: Session, first: date, last: date, tz: ZoneInfo, now: datetime) -> list[OperatorDay]:
    """Every operator with time or offers in the local days `first`..`last`, day by day."""
    start = datetime.combine(first, time(), tz)
    end = min(datetime.combine(last + timedelta(days=1), time(), tz), now)
    days: dict[tuple[str, date], OperatorDay] = {}

    def day_of(login: str, d: date) -> OperatorDay:
        return days.setdefault((login, d), OperatorDay(login, d))

    for login, spans in _spans(session, start, end).items():
        for state, reason, a, b in spans:
            if state not in LOGGED_IN:
                continue  # logged out: no time to account for
            for d, seconds in _by_local_day(a, b, tz):
                day_of(login, d).add(state, reason, seconds)
    events = session.execute(
        select(TicketEvent.kind, TicketEvent.at, TicketEvent.detail).where(
            TicketEvent.at >= start, TicketEvent.at < end, TicketEvent.kind.in_([*COUNTED, "call_unheld"])
        )
    )
    for kind, at, detail in events:
        who = (detail or {}).get("operator")
        if not isinstance(who, str):
            continue
        row = day_of(who, at.astimezone(tz).date())
        if kind == "call_unheld":
            row.on_hold_s += float((detail or {}).get("held_s") or 0.0)
        else:
            setattr(row, COUNTED[kind], getattr(row, COUNTED[kind]) + 1)
    return sorted(days.values(), key=lambda r: (r.day, r.login))


Span = tuple[str, str | None, datetime, datetime]  # state, pause reason, from, to


def _spans(session: Session, start: datetime, end: datetime) -> dict[str, list[Span]]:
    """Each operator's states within [start, end): (state, reason, from, to)."""
    S = OperatorStateChange
    latest = select(S.login, func.max(S.at).label("at")).where(S.at < start).group_by(S.login).subquery()
    before = session.scalars(
        select(S).join(latest, and_(S.login == latest.c.login, S.at == latest.c.at)).order_by(S.login, S.id)
    ).all()
    within = session.scalars(select(S).where(S.at >= start, S.at < end).order_by(S.login, S.at, S.id)).all()
    rows: dict[str, list[tuple[str, str | None, datetime]]] = defaultdict(list)
    for r in before:  # the state each one was in when the range began (the last of equal times)
        rows[r.login][:] = [(r.state, r.reason, start)]
    for r in within:
        rows[r.login].append((r.state, r.reason, r.at))
    out: dict[str, list[Span]] = {}
    for login, changes in rows.items():
        out[login] = [
            (state, reason, at, changes[i + 1][2] if i + 1 < len(changes) else end)
            for i, (state, reason, at) in enumerate(changes)
        ]
    return out


def _by_local_day(a: datetime, b: datetime, tz: ZoneInfo) -> list[tuple[date, float]]:
    out: list[tuple[date, float]] = []
    while a < b:
        local = a.astimezone(tz)
        midnight = datetime.combine(local.date() + timedelta(days=1), time(), tz)
        cut = min(b, midnight)
        out.append((local.date(), (cut - a).total_seconds()))
        a = cut
    return out


COLUMNS = ("day", "login", "logged_in_s", "available_s", "ringing_s", "talking_s", "wrap_up_s", "paused_s",
           "on_hold_s", "offers", "answered", "missed", "handling_s", "paused_by_reason")  # fmt: skip


def _row(r: OperatorDay) -> dict[str, object]:
    values = asdict(r)
    values["day"] = r.day.isoformat()
    values["handling_s"] = None if r.handling_s is None else round(r.handling_s, 1)
    for key in ("logged_in_s", "available_s", "ringing_s", "talking_s", "wrap_up_s", "paused_s", "on_hold_s"):
        values[key] = round(float(values[key]), 1)
    values["paused_by_reason"] = {k: round(v, 1) for k, v in sorted(r.paused_by_reason.items())}
    return {c: values[c] for c in COLUMNS}


def to_csv(rows: list[OperatorDay]) -> str:
    """Through the safe writer: a pause reason is typed by an operator (`=...` stays text)."""
    out = []
    for r in rows:
        values = _row(r)
        values["paused_by_reason"] = ";".join(f"{k}={round(v, 1)}" for k, v in sorted(r.paused_by_reason.items()))
        out.append({c: "" if values[c] is None else values[c] for c in COLUMNS})
    return write_csv(COLUMNS, out)


def to_json(rows: list[OperatorDay]) -> str:
    return json.dumps([_row(r) for r in rows], indent=2)


def hms(seconds: float) -> str:
    """Hours:minutes:seconds, as the report and the console page show a span of time."""
    s = round(seconds)
    return f"{s // 3600}:{s % 3600 // 60:02d}:{s % 60:02d}"


def to_table(rows: list[OperatorDay]) -> str:
    head = "day         operator      logged in  talking  wrap-up   paused  on hold  offers answered missed  AHT"
    lines = [head]
    for r in rows:
        aht = "-" if r.handling_s is None else hms(r.handling_s)
        lines.append(
            f"{r.day}  {r.login:12} {hms(r.logged_in_s):>10} {hms(r.talking_s):>8} {hms(r.wrap_up_s):>8} "
            f"{hms(r.paused_s):>8} {hms(r.on_hold_s):>8} {r.offers:6} {r.answered:8} {r.missed:6} {aht:>8}"
        )
        for reason, seconds in sorted(r.paused_by_reason.items()):
            lines.append(f"{'':26}paused, {reason}: {hms(seconds)}")
    return "\n".join(lines)
