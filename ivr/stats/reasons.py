"""Calls per reason: what citizens called about (`reasons.options`), per period, with how many
were answered at the first level and how many went to the second, for the console,
`ivr stats reasons` and the open data.

One SQL aggregate per local period and reason over the calls an operator filed; a filed call
without a reason (filed before the list was set, or with `reasons.required` off) counts under
"not given", so the total is every filed call. Labels come from today's list; a key no longer in
it is shown as itself. Nothing about the caller is read.
"""

from __future__ import annotations

import json
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date
from html import escape
from typing import Any

from sqlalchemy import Select, case, func, select
from sqlalchemy.orm import Session

from ivr.csvcells import write_csv
from ivr.schema.tickets import Ticket
from ivr.stats.formats import period_label
from ivr.stats.queries import PERIOD_COLUMNS, Period
from ivr.stats.report import Reader
from ivr.tickets.config import ReasonSettings

COLUMNS = ("period", "reason", "reason_label", "calls", "first_level", "second_level")
NOT_GIVEN = "not_given"
NOT_GIVEN_LABEL = "non indicato"
FIRST_LEVEL = ("resolved", "referred")


@dataclass(frozen=True)
class Count:
    period: date | None  # None: the whole range
    reason: str
    label: str
    calls: int
    first_level: int  # answered by the operator: resolved, or referred to an office
    second_level: int  # passed to the second level


@dataclass(frozen=True)
class ReasonReport:
    start: date
    end: date
    period: Period
    rows: list[Count] = field(default_factory=list)  # per period and reason
    by_reason: list[Count] = field(default_factory=list)  # the whole range, most calls first

    @property
    def total(self) -> int:
        return sum(c.calls for c in self.by_reason)


def reason_counts(start: date, end: date, period: Period) -> Select[Any]:
    """Filed calls per period and reason for the local days `start`..`end`."""
    column = PERIOD_COLUMNS[period]
    first = func.sum(case((Ticket.escalated_at.is_(None) & Ticket.status.in_(FIRST_LEVEL), 1), else_=0))
    second = func.sum(case((Ticket.escalated_at.is_not(None), 1), else_=0))
    figures: list[Any] = [column.label("period"), Ticket.call_reason, func.count(), first, second]
    return (
        select(*figures)
        .where(Ticket.local_day.between(start, end), Ticket.operator_id.is_not(None), Ticket.status.is_not(None))
        .where(Ticket.channel == "phone")
        .group_by(column, Ticket.call_reason)
    )


def _report(session: Session, start: date, end: date, period: Period, reasons: ReasonSettings) -> ReasonReport:
    def label(key: str) -> str:
        return NOT_GIVEN_LABEL if key == NOT_GIVEN else reasons.label(key)

    rows = [
        Count(p, key or NOT_GIVEN, label(key or NOT_GIVEN), int(n), int(first or 0), int(second or 0))
        for p, key, n, first, second in session.execute(reason_counts(start, end, period)).all()
    ]
    rows.sort(key=lambda c: (c.period or date.min, c.reason))
    totals: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0])
    for c in rows:
        t = totals[c.reason]
        t[0], t[1], t[2] = t[0] + c.calls, t[1] + c.first_level, t[2] + c.second_level
    by_reason = [Count(None, k, label(k), n, f, s) for k, (n, f, s) in totals.items()]
    by_reason.sort(key=lambda c: (-c.calls, c.reason))
    return ReasonReport(start, end, period, rows, by_reason)


async def reason_report(read: Reader, start: date, end: date, period: Period, reasons: ReasonSettings) -> ReasonReport:
    return await read(lambda s: _report(s, start, end, period, reasons))


def _records(report: ReasonReport) -> list[dict[str, Any]]:
    def record(c: Count) -> dict[str, Any]:
        return {
            "period": period_label(c.period, report.period), "reason": c.reason, "reason_label": c.label,
            "calls": c.calls, "first_level": c.first_level, "second_level": c.second_level,
        }  # fmt: skip

    return [record(c) for c in report.rows + report.by_reason]


def to_csv(report: ReasonReport) -> str:
    """Per period and reason, then per reason over the range (period `total`)."""
    return write_csv(COLUMNS, _records(report))


def to_json(report: ReasonReport) -> str:
    head = {"from": report.start.isoformat(), "to": report.end.isoformat(), "period": report.period}
    return json.dumps({**head, "total": report.total, "rows": _records(report)}, ensure_ascii=False, indent=1)


def to_table(report: ReasonReport) -> str:
    lines = [f"calls filed {report.start} .. {report.end}, by reason: {report.total}", ""]
    lines += [
        f"  {c.label[:40]:40} {c.calls:7}  first level {c.first_level:6}  second level {c.second_level:6}"
        for c in report.by_reason
    ]
    lines += ["", f"per {report.period}:"]
    lines += [f"  {period_label(c.period, report.period):10} {c.reason:24} {c.calls:7}" for c in report.rows]
    return "\n".join(lines)


def as_public(report: ReasonReport) -> dict[str, Any]:
    """The public page's JSON part (`/statistiche.json`, key `motivi`): per reason over the range."""
    return {
        "motivi": [
            {"motivo": c.reason, "etichetta": c.label, "chiamate": c.calls, "primo_livello": c.first_level,
             "secondo_livello": c.second_level}
            for c in report.by_reason
        ]
    }  # fmt: skip


def public_section(report: ReasonReport) -> str:
    """The public page's section: what citizens called about, and how it was answered."""
    rows = "".join(
        f'<tr><th scope="row">{escape(c.label)}</th><td>{c.calls}</td><td>{c.first_level}</td>'
        f"<td>{c.second_level}</td></tr>"
        for c in report.by_reason
    )
    return f"""<h2>Perché si chiama</h2>
<p>Il motivo di ogni chiamata, scelto dall'operatore che ha risposto.</p>
<table><caption>Chiamate per motivo nel periodo scelto</caption>
<thead><tr><th scope="col">Motivo</th><th scope="col">Chiamate</th><th scope="col">Risolte subito</th>
<th scope="col">Al secondo livello</th></tr></thead><tbody>{rows}</tbody></table>
"""
