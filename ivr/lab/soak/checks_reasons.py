"""Check 30: reasons for the call. The soak's line asks them (`SOAK_REASONS`, not required: the
browser desk files without one and its calls count as "not given"); the desk driver chooses one
for every call it files. Each ticket keeps the reason chosen for it, only reasons of the list are
kept, and `ivr stats reasons` counts per day and reason what the checker counts from the rows."""

from __future__ import annotations

from collections import Counter
from datetime import date
from typing import Any

from ivr.lab.soak.action_journal import OUTCOME
from ivr.lab.soak.checks_actions import NO_JOURNAL
from ivr.lab.soak.evidence import SoakEvidence
from ivr.lab.soak.store_view import StoreView
from ivr.lab.soak.verdict import CheckResult

SOAK_REASONS = (
    {"key": "iscrizione", "label": "Iscrizione e DID"},
    {"key": "naspi", "label": "NASpI e disoccupazione"},
    {"key": "garanzia_giovani", "label": "Garanzia Giovani"},
    {"key": "tirocini", "label": "Tirocini"},
    {"key": "altro", "label": "Altro"},
)
PUBLISHED = "ivr-stats-reasons.json"  # `ivr stats reasons --period day --format json` for the run's days
NOT_GIVEN = "not_given"  # ivr.stats.reasons
FIRST_LEVEL = ("resolved", "referred")


def reason_for(ticket: int) -> str:
    """The reason the soak's operator gives a call: every one of the list, in turn."""
    return SOAK_REASONS[ticket % len(SOAK_REASONS)]["key"]


def check_reasons(ev: SoakEvidence, view: StoreView) -> CheckResult:
    r = CheckResult("reasons", "each call keeps the reason chosen for it, from the list; the statistics count them")
    keys = {o["key"] for o in SOAK_REASONS}
    for t in view.tickets.values():
        if t.call_reason is not None and t.call_reason not in keys:
            r.fail(f"the ticket keeps reason {t.call_reason!r}, which is not in the list", [t.id])
    if ev.actions is None:
        r.notes.append(NO_JOURNAL)
    chosen = 0
    for a in ev.actions or []:
        reason = (a.params or {}).get("reason")
        if a.kind != OUTCOME or not a.done or a.ticket is None or not reason:
            continue
        chosen += 1
        kept = view.tickets[a.ticket].call_reason if a.ticket in view.tickets else None
        if kept != reason:
            r.fail(f"{a.operator} chose {reason!r} and filed the call; the ticket keeps {kept!r}", [a.ticket])
    r.notes.append(f"{chosen} calls filed with a reason chosen")
    document = ev.published.get(PUBLISHED)
    if document is None:
        r.notes.append(f"{PUBLISHED} not given: the statistics not compared")
        return r
    published = _published(document)
    mine = _own(view)
    for key in sorted(set(published) | set(mine)):
        if published.get(key, (0, 0, 0)) != mine.get(key, (0, 0, 0)):
            day, reason = key
            r.fail(f"{PUBLISHED} {day} {reason}: calls, first and second level published "
                   f"{published.get(key, (0, 0, 0))}, counted {mine.get(key, (0, 0, 0))}")  # fmt: skip
    r.notes.append(f"{len(mine)} day and reason figures compared")
    return r


def _published(document: dict[str, Any]) -> dict[tuple[str, str], tuple[int, int, int]]:
    return {
        (str(row["period"]), str(row["reason"])): (int(row["calls"]), int(row["first_level"]), int(row["second_level"]))
        for row in document.get("rows", [])
        if row.get("period") != "total"
    }


def _own(view: StoreView) -> dict[tuple[str, str], tuple[int, int, int]]:
    """Filed phone calls per local day and reason, from the rows themselves."""
    counts: Counter[tuple[str, str, str]] = Counter()
    for t in view.tickets.values():
        if t.channel != "phone" or t.operator_id is None or t.status is None or t.local_day is None:
            continue
        key = (_day(t.local_day), t.call_reason or NOT_GIVEN)
        counts[(*key, "calls")] += 1
        if t.escalated_at is not None:
            counts[(*key, "second")] += 1
        elif t.status in FIRST_LEVEL:
            counts[(*key, "first")] += 1
    days = {(d, k) for d, k, _ in counts}
    return {(d, k): (counts[(d, k, "calls")], counts[(d, k, "first")], counts[(d, k, "second")]) for d, k in days}


def _day(day: date) -> str:
    return day.isoformat()
