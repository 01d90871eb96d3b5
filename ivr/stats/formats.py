"""A report as a terminal table, CSV or JSON.

CSV and JSON share one flat set of columns (also used by the open-data files and the public
page's downloads), so a figure has the same name wherever it is published.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from datetime import date
from typing import Any

from ivr.csvcells import write_csv
from ivr.stats import levels as lv
from ivr.stats.queries import Period
from ivr.stats.report import YES_NO_QUESTIONS, Commitment, Figures, Report, Row

TOTAL = "total"


def period_label(start: date | None, period: Period) -> str:
    if start is None:
        return TOTAL
    if period == "month":
        return f"{start:%Y-%m}"
    if period == "week":
        year, week, _ = start.isocalendar()
        return f"{year}-W{week:02d}"
    return start.isoformat()


def _rate(value: float | None, digits: int = 4) -> float | None:
    return None if value is None else round(value, digits)


def _commitment(prefix: str, c: Commitment) -> dict[str, Any]:
    return {
        f"{prefix}_due": c.due,
        f"{prefix}_in_time": c.in_time,
        f"{prefix}_late": c.late,
        f"{prefix}_pending": c.pending,
        f"{prefix}_compliance": _rate(c.compliance),
        f"{prefix}_target": c.target,
    }


def flat(f: Figures, reasons: Iterable[str], questions: Iterable[str]) -> dict[str, Any]:
    """The figures as one flat record (CSV columns, JSON keys)."""
    out: dict[str, Any] = {
        "offered": f.offered,
        "in_hours": f.in_hours,
        "closed_hours": f.closed_hours,
        "admitted": f.admitted,
        "answered": f.answered,
        "abandoned": f.abandoned,
        "cap_hits": f.cap_hits,
        "no_operators": f.no_operators,
        "max_wait": f.max_wait,
        "caller_choice": f.caller_choice,
        "answered_in_sl": f.answered_in_sl,
        "service_level": _rate(f.service_level),
        "asa_s": _rate(f.asa_s, 1),
        "aht_s": _rate(f.aht_s, 1),
    }
    out.update({f"voicemail_{reason}": f.voicemail.get(reason, 0) for reason in reasons})
    out.update(_commitment("callbacks", f.callbacks))
    out["web_requests"] = f.web_requests
    out.update(_commitment("web_replies", f.web_replies))
    out.update(
        survey_offered=f.survey_offered,
        survey_responses=f.survey_responses,
        survey_response_rate=_rate(f.survey_response_rate),
    )
    for name in questions:
        q = f.survey.get(name)
        out[f"survey_{name}_answers"] = q.answers if q else 0
        out[f"survey_{name}_average"] = _rate(q.average, 3) if q else None
        if name in YES_NO_QUESTIONS:
            out[f"survey_{name}_yes_share"] = _rate(q.yes_share) if q else None
    return out


def records(report: Report, *, with_groups: bool = True) -> list[dict[str, Any]]:
    """Every row of the report, then the per-group totals and the overall total, flat."""
    s = report.scope
    by = s.by or "group"
    rows = [*report.rows, *(report.groups if with_groups else [])]
    out = [
        {
            "period": period_label(r.period, s.period),
            by: r.group,
            **flat(r.figures, report.reasons, report.questions),
            **lv.flat(report.levels_of(r.period) if r.group is None and r.period is not None else None),
        }
        for r in rows
    ]
    total = {
        "period": TOTAL,
        by: TOTAL if s.by else None,
        **flat(report.total, report.reasons, report.questions),
        **lv.flat(report.levels_of(None)),
    }
    if s.by is None:
        for record in [*out, total]:
            del record[by]
    return [*out, total]


def to_csv(report: Report) -> str:
    rows = records(report)
    return write_csv(list(rows[0]), rows)


def to_json(report: Report) -> str:
    s = report.scope
    document = {
        "from": s.start.isoformat(),
        "to": s.end.isoformat(),
        "period": s.period,
        "by": s.by,
        "as_of": s.now.isoformat(timespec="seconds"),
        "service_level_s": s.service_level_s,
        "targets": {
            "callbacks": report.total.callbacks.target,
            "web_replies": report.total.web_replies.target,
            **{f"{f.channel}_l{f.level}": f.target for f in (report.levels[-1].figures if report.levels else [])},
        },
        "rows": records(report),
    }
    return json.dumps(document, ensure_ascii=False, indent=1)


# --- the terminal table ---------------------------------------------------------------------------


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{100 * value:.1f}%"


def _secs(value: float | None) -> str:
    return "-" if value is None else f"{value:.0f}s"


Column = tuple[str, Callable[[Figures], object]]


def _sections(report: Report) -> list[tuple[str, list[Column]]]:
    n = report.scope.service_level_s
    voicemail: list[Column] = [(r, lambda f, r=r: f.voicemail.get(r, 0)) for r in report.reasons]  # type: ignore[misc]
    survey: list[Column] = [
        ("offered", lambda f: f.survey_offered),
        ("responses", lambda f: f.survey_responses),
        ("rate", lambda f: _pct(f.survey_response_rate)),
    ]
    for q in report.questions:
        survey.append((f"{q} avg", lambda f, q=q: _avg(f, q)))  # type: ignore[misc]
        survey.append((f"{q} n", lambda f, q=q: f.survey[q].answers if q in f.survey else 0))  # type: ignore[misc]
        if q == "solved":
            survey.append(("solved yes", lambda f: _pct(f.survey["solved"].yes_share) if "solved" in f.survey else "-"))
    return [
        (
            "Calls",
            [
                ("offered", lambda f: f.offered),
                ("in hours", lambda f: f.in_hours),
                ("closed", lambda f: f.closed_hours),
                ("admitted", lambda f: f.admitted),
                ("answered", lambda f: f.answered),
                ("abandoned", lambda f: f.abandoned),
                ("cap", lambda f: f.cap_hits),
                ("no operators", lambda f: f.no_operators),
                ("max wait", lambda f: f.max_wait),
                ("chose vm", lambda f: f.caller_choice),
            ],
        ),
        (
            "Speed",
            [
                (f"service level ({n:g}s)", lambda f: _pct(f.service_level)),
                (f"answered <= {n:g}s", lambda f: f.answered_in_sl),
                ("avg answer", lambda f: _secs(f.asa_s)),
                ("avg handling", lambda f: _secs(f.aht_s)),
            ],
        ),
        ("Voicemail by reason", voicemail),
        ("Second-level callbacks (10 days)", _commitment_columns(lambda f: f.callbacks)),
        (
            "Web requests (48 hours)",
            [("received", lambda f: f.web_requests), *_commitment_columns(lambda f: f.web_replies)],
        ),
        ("Survey", survey),
        *_level_sections(report),
    ]


def _level_sections(report: Report) -> list[tuple[str, list[Column]]]:
    """Per channel and level; rows without level figures (per-group rows) show dashes."""
    sections: list[tuple[str, list[Column]]] = []
    by_figures = _levels_by_figures(report)
    for i, (channel, level) in enumerate(lv.CHANNELS_LEVELS):

        def pick(f: Figures, i: int = i) -> lv.LevelFigures | None:
            row = by_figures.get(id(f))
            return row.figures[i] if row is not None else None

        def show(f: Figures, name: str, pick: Callable[[Figures], lv.LevelFigures | None] = pick) -> object:
            found = pick(f)
            if found is None:
                return "-"
            if name == "share":
                return _pct(found.in_time_share)
            if name == "target":
                return _pct(found.target)
            return getattr(found, name)

        names = ("count", "in_time", "late", "open", "overdue", "share", "target")
        columns: list[Column] = [(n.replace("_", " "), lambda f, n=n, show=show: show(f, n)) for n in names]  # type: ignore[misc]
        sections.append((f"{channel.title()} level {level}", columns))
    return sections


def _levels_by_figures(report: Report) -> dict[int, lv.LevelRow]:
    """The level row that goes with each period row's (and the total's) figures."""
    found = {id(r.figures): report.levels_of(r.period) for r in report.rows if r.group is None}
    found[id(report.total)] = report.levels_of(None)
    return {k: v for k, v in found.items() if v is not None}


def _avg(f: Figures, question: str) -> str:
    q = f.survey.get(question)
    return "-" if q is None or q.average is None else f"{q.average:.2f}"


def _commitment_columns(pick: Callable[[Figures], Commitment]) -> list[Column]:
    return [
        ("due", lambda f: pick(f).due),
        ("in time", lambda f: pick(f).in_time),
        ("late", lambda f: pick(f).late),
        ("pending", lambda f: pick(f).pending),
        ("compliance", lambda f: _pct(pick(f).compliance)),
        ("target", lambda f: _pct(pick(f).target)),
    ]


def to_table(report: Report) -> str:
    s = report.scope
    head = f"{s.start} .. {s.end}, per {s.period}" + (f", by {s.by}" if s.by else "")
    lines = [f"Statistics {head} (as of {s.now:%Y-%m-%d %H:%M} UTC)"]
    labelled: list[tuple[list[str], Row | Figures]] = []
    for row in report.rows:
        labelled.append(([period_label(row.period, s.period), *([row.group or "-"] if s.by else [])], row))
    for row in report.groups:
        labelled.append(([TOTAL, row.group or "-"], row))
    labelled.append(([TOTAL, *([TOTAL] if s.by else [])], report.total))
    keys = ["period", *([s.by] if s.by else [])]
    for title, columns in _sections(report):
        header = [*keys, *(name for name, _ in columns)]
        body = [
            [*label, *(str(get(item.figures if isinstance(item, Row) else item)) for _, get in columns)]
            for label, item in labelled
        ]
        widths = [max(len(cell) for cell in col) for col in zip(header, *body, strict=True)]
        lines += ["", title]
        for cells in [header, *body]:
            lines.append(
                "  ".join(
                    c.ljust(w) if i < len(keys) else c.rjust(w)
                    for i, (c, w) in enumerate(zip(cells, widths, strict=True))
                )
            )
    return "\n".join(lines)
