"""Invariants over what is reported: the published figures against the checker's own count from
raw ticket rows (11), and the engine's resources over the run (12)."""

from __future__ import annotations

from collections import Counter, defaultdict
from datetime import UTC, date, datetime, timedelta
from statistics import fmean
from typing import Any

from ivr.lab.soak.checks_reasons import PUBLISHED as REASONS_PUBLISHED
from ivr.lab.soak.evidence import SERIES, ResourceSample, SoakEvidence
from ivr.lab.soak.store_view import StoreView
from ivr.lab.soak.verdict import CheckResult
from ivr.tickets.db import POOL_SIZE

POOL_NOTE = ", or the pool's size"
# Series that follow the calls in progress (a task, a file or two per call): a window's busiest
# moments say how busy it was, its quietest what stays behind. A leak raises the floor; judged by
# the mean, full run 3's engines "leaked" tasks (60 at the start, 167 at the end) that came and
# went with the traffic (35 to 258 all through the run).
LOAD_FOLLOWING = frozenset({"asyncio_tasks", "open_files"})
# Counts that follow the load get this many more at the end besides the tolerance: a few calls still
# up (medium run 8: 30.8 tasks at an idle standby's floor, 35 at the active engine's draining its
# last calls); a leak of one per call is hundreds.
COUNT_SLACK = 8.0
# A window's quietest quarter is still as busy as the window was: full run 6 compared an engine's
# first window, over a trough of the traffic (34 calls up, 72 tasks), with its last, all at the peak
# (185 to 248 calls, 256 tasks and more), and called it a leak; at the quiet moments of that run
# every engine was back to 34-40 tasks. Where the engine says how many calls it has, a series that
# follows the load is compared at the moments it had at most this many: what stays alive then is
# what a leak leaves behind. Without such a moment in each window, the windows' quietest quarters
# are compared if the last was no busier then than the first; otherwise that is noted, not judged.
QUIET_CALLS = 5.0
GROWN_SHOWN = 5  # coroutines named in a violation, the most grown first


def _quiet(samples: list[ResourceSample]) -> list[ResourceSample] | None:
    """The samples taken while the line was quiet, or None when the engine did not give its calls."""
    if any(s.calls_in_progress is None for s in samples):
        return None
    return [s for s in samples if s.calls_in_progress is not None and s.calls_in_progress <= QUIET_CALLS]


def _at_like_load(
    first: list[ResourceSample], last: list[ResourceSample]
) -> tuple[list[ResourceSample], list[ResourceSample]] | str:
    """The samples of each window to read a load-following series in: the quiet ones; without a
    quiet moment in each, the whole windows, unless the last was the busier at its quietest quarter
    (then the reason they cannot be compared, for the notes). From an engine that did not give its
    calls: the whole windows."""
    quiet_first, quiet_last = _quiet(first), _quiet(last)
    if quiet_first is None or quiet_last is None:
        return first, last
    if quiet_first and quiet_last:
        return quiet_first, quiet_last
    calls_first = _lowest_quarter([s.calls_in_progress or 0.0 for s in first])
    calls_last = _lowest_quarter([s.calls_in_progress or 0.0 for s in last])
    if calls_last <= calls_first * 1.1 + QUIET_CALLS:
        return first, last
    where = "the last window" if quiet_first else "the first window" if quiet_last else "either window"
    return (
        f"no quiet moment (at most {QUIET_CALLS:.0f} calls up) in {where}, and the last busier at its "
        f"quietest ({calls_last:.0f} calls against {calls_first:.0f})"
    )


def _grown(before: list[ResourceSample], after: list[ResourceSample]) -> str:
    """Which coroutines' tasks grew between the two sets of samples (by their means), for the
    report to name the cause; empty when the engine did not give them."""
    names = {n for s in before + after for n in s.tasks_by_coroutine}
    if not names:
        return ""

    def mean(samples: list[ResourceSample], name: str) -> float:
        return fmean(s.tasks_by_coroutine.get(name, 0.0) for s in samples)

    grown = sorted(((mean(after, n) - mean(before, n), n) for n in names), reverse=True)
    shown = [f"{n} +{d:.1f}" for d, n in grown[:GROWN_SHOWN] if d >= 1.0]
    return f"; grew: {', '.join(shown)}" if shown else ""


def _level(name: str, values: list[float]) -> float:
    """The mean, or for a series that follows the load the mean of its lowest quarter."""
    return _lowest_quarter(values) if name in LOAD_FOLLOWING else fmean(values)


def _lowest_quarter(values: list[float]) -> float:
    low = sorted(values)
    return fmean(low[: max(1, len(low) // 4)])


CLOSED_STATES = ("outside_hours", "holiday", "closure")
QUEUE_RESULTS = {
    "answered": "answered",
    "abandoned": "abandoned",
    "cap_hits": "cap",
    "no_operators": "no_operators",
    "max_wait": "max_wait",
    "caller_choice": "caller_choice",
}


def own_counts(ev: SoakEvidence, view: StoreView, start: date, end: date, service_level_s: float) -> dict[str, int]:
    """The figures of `ivr stats` (ivr.stats.formats.flat) counted here, one ticket at a time, from
    the rows; the day is the Rome day of the ticket's start, computed here, not read from the
    ticket's calendar keys (so a wrong key is a finding too)."""
    tickets = [t for t in view.tickets.values() if start <= t.started_at.astimezone(ev.tz).date() <= end]
    phone = [t for t in tickets if t.channel == "phone"]
    counts: dict[str, int] = {
        "offered": len(phone),
        "web_requests": len(tickets) - len(phone),
        "in_hours": sum(1 for t in tickets if t.line_state == "open"),
        "closed_hours": sum(1 for t in tickets if t.line_state in CLOSED_STATES),
        "admitted": sum(1 for t in tickets if t.queued_at is not None),
        "answered_in_sl": sum(
            1 for t in tickets if t.queue_result == "answered" and t.wait_s is not None and t.wait_s <= service_level_s
        ),
        "survey_offered": sum(1 for t in tickets if t.survey_status is not None),
        "survey_responses": sum(1 for t in tickets if t.survey_status in ("completed", "partial")),
        "callbacks_due": sum(1 for t in tickets if t.sla_kind == "phone_callback"),
        "web_replies_due": sum(1 for t in tickets if t.sla_kind == "web_reply"),
    }
    for name, result in QUEUE_RESULTS.items():
        counts[name] = sum(1 for t in tickets if t.queue_result == result)
    ids = {t.id for t in tickets}
    for reason, n in Counter(v.reason for v in view.voicemails if v.ticket_id in ids).items():
        counts[f"voicemail_{reason}"] = n
    return counts


# What the public page says of queued callbacks, by the state of each (ivr.stats.citizens_public).
CALLBACK_STATES = {"completate": ("completed",), "non_raggiunti": ("unreachable",),
                   "al_secondo_livello": ("escalated",), "in_corso": ("waiting", "calling")}  # fmt: skip


def own_citizens(ev: SoakEvidence, view: StoreView, start: date, end: date) -> dict[str, Any]:
    """The public page's callbacks and languages counted here: callbacks by the Rome day they were
    asked for, calls by the Rome day they began (computed here, not read from the rows' keys)."""

    def day(at: datetime) -> date:
        return at.astimezone(ev.tz).date()

    tickets = [t for t in view.tickets.values() if start <= day(t.started_at) <= end]
    callbacks = [q for q in view.queued_callbacks if start <= day(q.accepted_at) <= end]
    offered = {t.id for t in tickets if "callback_offered" in view.kinds(t.id)}
    figures: dict[str, Any] = {"offerte": len(offered), "richieste": len(callbacks)}
    for name, states in CALLBACK_STATES.items():
        figures[name] = sum(1 for q in callbacks if q.state in states)
    languages = Counter(t.language or "it" for t in tickets if t.channel == "phone")
    return {"richiamate": figures, "lingue": dict(languages)}


def _compare_citizens(r: CheckResult, ev: SoakEvidence, view: StoreView, source: str, document: dict[str, Any]) -> int:
    start, end = date.fromisoformat(document["from"]), date.fromisoformat(document["to"])
    mine = own_citizens(ev, view, start, end)
    compared = 0
    for name, counted in mine["richiamate"].items():
        compared += 1
        published = (document.get("richiamate") or {}).get(name)
        if published != counted:
            r.fail(f"{source} {start}..{end}: callbacks {name} published {published}, counted {counted}")
    published_languages = document.get("lingue") or {}
    for code in sorted(set(mine["lingue"]) | set(published_languages)):
        compared += 1
        if published_languages.get(code, 0) != mine["lingue"].get(code, 0):
            r.fail(f"{source} {start}..{end}: calls in {code} published {published_languages.get(code, 0)}, "
                   f"counted {mine['lingue'].get(code, 0)}")  # fmt: skip
    return compared


def _total_row(document: dict[str, Any]) -> dict[str, Any]:
    rows = [r for r in document.get("rows", []) if r.get("period") == "total"]
    if len(rows) != 1:
        raise ValueError("a published figures document has no single total row")
    total: dict[str, Any] = rows[0]
    return total


def check_figures(ev: SoakEvidence, view: StoreView) -> CheckResult:
    r = CheckResult("published_figures", "published figures equal the checker's own count")
    if not ev.published:
        r.notes.append("no published figures given")
    for source, document in sorted(ev.published.items()):
        if source == REASONS_PUBLISHED:
            continue  # per reason, not per period: check 30's (checks_reasons)
        try:
            start, end = date.fromisoformat(document["from"]), date.fromisoformat(document["to"])
            total = _total_row(document)
        except (KeyError, ValueError) as exc:
            r.fail(f"{source}: not a figures document ({exc})")
            continue
        mine = own_counts(ev, view, start, end, float(document.get("service_level_s", 60.0)))
        compared = 0
        for name, value in sorted(total.items()):
            if name.startswith("voicemail_") or name in mine:
                compared += 1
                if int(value or 0) != mine.get(name, 0):
                    r.fail(f"{source} {start}..{end}: {name} published {value}, counted {mine.get(name, 0)}")
        if "richiamate" in document:  # the public page's callbacks and languages (issue 26)
            compared += _compare_citizens(r, ev, view, source, document)
        r.notes.append(f"{source}: {compared} figures compared")
    return r


def _windows(samples: list[ResourceSample], ev: SoakEvidence) -> tuple[list[ResourceSample], list[ResourceSample]]:
    w = ev.windows
    begin = samples[0].at + timedelta(seconds=w.warmup_s)
    kept = [s for s in samples if s.at >= begin]
    if not kept:
        return [], []
    end = kept[-1].at
    span = (end - kept[0].at).total_seconds()
    window = w.window_s if span >= 2 * w.window_s else span / 3
    first = [s for s in kept if (s.at - kept[0].at).total_seconds() <= window]
    last = [s for s in kept if (end - s.at).total_seconds() <= window]
    return first, last


def check_resources(ev: SoakEvidence, view: StoreView) -> CheckResult:
    r = CheckResult("resources", "resources after warm-up: the last window within tolerance of the first")
    samples = sorted(ev.resources, key=lambda s: s.at)
    if not samples:
        r.notes.append("no resource samples given")
        return r
    by_process: dict[float | None, list[ResourceSample]] = defaultdict(list)
    for sample in samples:  # a takeover starts another process: its curve starts again
        by_process[sample.process].append(sample)
    judged = 0
    for process, series in by_process.items():
        label = "" if len(by_process) == 1 else f"engine started {_started(process)}: "
        first, last = _windows(series, ev)
        span = (series[-1].at - series[0].at).total_seconds() - ev.windows.warmup_s
        if span < ev.windows.min_span_s:
            r.notes.append(f"{label}{span:.0f} s after the warm-up: too short to tell a leak")
            continue
        if len(first) < 2 or len(last) < 2 or first == last:
            if len(by_process) > 1:
                r.notes.append(f"{label}{len(series)} samples, too few to judge")
            continue
        judged += 1
        like_load = _at_like_load(first, last)
        for name in SERIES:
            early, late = first, last
            if name in LOAD_FOLLOWING:
                if isinstance(like_load, str):
                    r.notes.append(f"{label}{name}: {like_load}: not judged")
                    continue
                early, late = like_load
            before = _level(name, [getattr(s, name) for s in early])
            after = _level(name, [getattr(s, name) for s in late])
            what = "floor" if name in LOAD_FOLLOWING else "mean"
            # A pool keeps the connections a busier moment opened, up to its size: growing to it
            # is how a pool works (3 at the start, 4.9 later in a medium run), past it a leak.
            slack = COUNT_SLACK if name in LOAD_FOLLOWING else 0.0
            bound = max(
                before * (1 + ev.windows.tolerance), before + slack, POOL_SIZE if name == "db_connections" else 0
            )
            if after > bound:
                r.fail(
                    f"{label}{name}: {what} {after:.1f} at the end against {before:.1f} at the start "
                    f"(> {bound:.1f}: +{ev.windows.tolerance:.0%}{POOL_NOTE if name == 'db_connections' else ''})"
                    + (_grown(early, late) if name == "asyncio_tasks" else "")
                )
        r.notes.append(f"{label}windows of {len(first)} and {len(last)} samples")
    run_span = (samples[-1].at - samples[0].at).total_seconds() - ev.windows.warmup_s
    if not judged and run_span >= ev.windows.min_span_s:  # long enough, yet no curve could be read
        r.fail(f"{len(samples)} samples: too few after the warm-up to compare two windows")
    return r


def _started(process: float | None) -> str:
    return "?" if process is None else datetime.fromtimestamp(process, UTC).strftime("%H:%M:%S")
