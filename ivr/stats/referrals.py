"""Referrals per destination: how many citizens the line sent to each kind of office and to each
office, per period, for the console, `ivr stats referrals` and the open data.

One SQL aggregate per local period (the ticket's calendar keys), office kind and office; the
totals per kind and per office over the range are summed from those few rows. The office's code,
kind and name are the ones kept on each referral, so a count never changes when the directory
is updated. Nothing about the caller is read.
"""

from __future__ import annotations

import json
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session

from ivr.csvcells import write_csv
from ivr.referrals.names import KINDS
from ivr.schema.referrals import Referral
from ivr.schema.tickets import Ticket
from ivr.stats.formats import period_label
from ivr.stats.queries import PERIOD_COLUMNS, Period
from ivr.stats.report import Reader

COLUMNS = ("period", "kind", "kind_label", "office", "office_name", "referrals", "emailed")


@dataclass(frozen=True)
class Count:
    """Referrals to one destination; `office` None: every office of that kind together."""

    period: date | None  # None: the whole range
    kind: str
    office: str | None
    office_name: str | None
    referrals: int
    emailed: int

    @property
    def kind_label(self) -> str:
        return KINDS.get(self.kind, self.kind)


@dataclass(frozen=True)
class ReferralReport:
    start: date
    end: date
    period: Period
    rows: list[Count] = field(default_factory=list)  # per period, kind and office
    by_kind: list[Count] = field(default_factory=list)  # the whole range, most referrals first
    by_office: list[Count] = field(default_factory=list)

    @property
    def total(self) -> int:
        return sum(c.referrals for c in self.by_kind)


def referral_counts(start: date, end: date, period: Period) -> Select[Any]:
    """Referrals per period, kind and office for tickets of the local days `start`..`end`."""
    column = PERIOD_COLUMNS[period]
    figures: list[Any] = [
        column.label("period"),
        Referral.office_kind,
        Referral.office_code,
        func.max(Referral.office_name),
        func.count(),
        func.count(Referral.emailed_at),
    ]
    return (
        select(*figures)
        .join(Ticket, Ticket.id == Referral.ticket_id)
        .where(Ticket.local_day.between(start, end))
        .group_by(column, Referral.office_kind, Referral.office_code)
    )


def _report(session: Session, start: date, end: date, period: Period) -> ReferralReport:
    rows = [
        Count(p, kind, code, name, int(n), int(mailed))
        for p, kind, code, name, n, mailed in session.execute(referral_counts(start, end, period)).all()
    ]
    rows.sort(key=lambda c: (c.period or date.min, c.kind, c.office or ""))
    kinds: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    offices: dict[tuple[str, str | None], list[Any]] = {}
    for c in rows:
        kinds[c.kind][0] += c.referrals
        kinds[c.kind][1] += c.emailed
        o = offices.setdefault((c.kind, c.office), [c.office_name, 0, 0])
        o[1] += c.referrals
        o[2] += c.emailed
    by_kind = [Count(None, k, None, None, n, m) for k, (n, m) in kinds.items()]
    by_office = [Count(None, k, code, name, n, m) for (k, code), (name, n, m) in offices.items()]
    by_kind.sort(key=lambda c: (-c.referrals, c.kind))
    by_office.sort(key=lambda c: (-c.referrals, c.office or ""))
    return ReferralReport(start, end, period, rows, by_kind, by_office)


async def referral_report(read: Reader, start: date, end: date, period: Period) -> ReferralReport:
    return await read(lambda s: _report(s, start, end, period))


def _records(report: ReferralReport) -> list[dict[str, Any]]:
    def record(c: Count) -> dict[str, Any]:
        return {
            "period": period_label(c.period, report.period), "kind": c.kind, "kind_label": c.kind_label,
            "office": c.office or "total", "office_name": c.office_name or "", "referrals": c.referrals,
            "emailed": c.emailed,
        }  # fmt: skip

    return [record(c) for c in report.rows + report.by_office + report.by_kind]


def to_csv(report: ReferralReport) -> str:
    """Per period and office, then per office and per kind over the range (period `total`)."""
    return write_csv(COLUMNS, _records(report))


def to_json(report: ReferralReport) -> str:
    head = {"from": report.start.isoformat(), "to": report.end.isoformat(), "period": report.period}
    return json.dumps({**head, "total": report.total, "rows": _records(report)}, ensure_ascii=False, indent=1)


def to_table(report: ReferralReport) -> str:
    lines = [f"referrals of tickets {report.start} .. {report.end}: {report.total}", "", "by kind of office:"]
    lines += [f"  {c.kind_label[:40]:40} {c.referrals:7} (e-mailed {c.emailed})" for c in report.by_kind]
    lines += ["", "by office:"]
    lines += [f"  {(c.office or ''):20} {(c.office_name or '')[:48]:48} {c.referrals:7}" for c in report.by_office]
    lines += ["", f"per {report.period}:"]
    lines += [
        f"  {period_label(c.period, report.period):10} {c.kind:18} {(c.office or ''):20} {c.referrals:7}"
        for c in report.rows
    ]
    return "\n".join(lines)
