"""Check 29: operator time. The state history the time report is read from (`operator_states`,
written by the distributor: ivr.acd.history) agrees with what operators did and what the calls'
timelines say: each pause the driver made is there with its reason, each logout is there, and an
operator who answered a call was, by the history, being rung or talking at that moment."""

from __future__ import annotations

from bisect import bisect_right
from collections import defaultdict
from datetime import datetime, timedelta

from ivr.lab.soak.actions import ActionKind as K
from ivr.lab.soak.checks_actions import NO_JOURNAL, fault_spans
from ivr.lab.soak.checks_calls import single_tickets
from ivr.lab.soak.evidence import SoakEvidence
from ivr.lab.soak.store_view import StoreView
from ivr.lab.soak.verdict import CheckResult

# The state row and the ticket's event are stamped by the same clock a moment apart.
SLACK = timedelta(seconds=2)
# An answer's event follows the operator's move to busy by the call's own steps (a prompt, the
# ticket's update): rung or talking within this before it counts.
RUNG_WITHIN = timedelta(seconds=60)
ON_A_CALL = ("offered", "busy")


def check_operator_time(ev: SoakEvidence, view: StoreView) -> CheckResult:
    r = CheckResult("operator_time", "each operator's state history holds their pauses, logouts and calls answered")
    history: dict[str, list[tuple[datetime, str, str | None]]] = defaultdict(list)
    for s in view.operator_states:
        history[s.login].append((s.at, s.state, s.reason))
    times = {login: [at for at, _, _ in rows] for login, rows in history.items()}  # for bisect, once
    answered = excused = 0
    # A fault may take the last moment's writes of the engine it hits, a state row with them.
    faulted = {t.id for call, t in single_tickets(ev, view) if call.faults}
    for tid, events in view.events.items():
        if tid in faulted:
            excused += any(e.kind == "operator_answered" for e in events)
            continue
        for e in events:
            login = (e.detail or {}).get("operator") if e.kind == "operator_answered" else None
            if not isinstance(login, str):
                continue
            answered += 1
            rows = history.get(login, [])
            i = bisect_right(times.get(login, []), e.at + SLACK)
            recent = [state for at, state, _ in rows[:i] if at >= e.at - RUNG_WITHIN]
            state = rows[i - 1][1] if i else None
            if state not in ON_A_CALL and not any(s in ON_A_CALL for s in recent):
                r.fail(f"{login} answered at {e.at:%H:%M:%S}; the history has them {state or 'unknown'}", [tid])
    if ev.actions is None:
        r.notes.append(NO_JOURNAL)
        return r
    spans = fault_spans(ev)
    actions = sorted(
        (a for a in ev.actions if a.operator is not None and a.done_at is not None), key=lambda a: a.sent_at
    )
    deferred = 0
    for a in actions:
        if not a.done or a.kind not in (K.PAUSE, K.LOGOUT):
            continue
        login = str(a.operator)
        if any(f0 <= a.sent_at + timedelta(minutes=1) and f1 >= a.sent_at - SLACK for f0, f1 in spans):
            excused += 1
            continue
        rows = history.get(login, [])
        start, end = a.line_time(a.sent_at) - SLACK, a.line_time(a.done_at) + SLACK
        wanted = "paused" if a.kind == K.PAUSE else "logged_out"
        reason = str(a.params.get("reason", "Pausa")) if a.kind == K.PAUSE else None
        window = [(state, why) for at, state, why in rows if start <= at <= end]
        if any(state == wanted and (reason is None or why == reason) for state, why in window):
            continue
        i = bisect_right(times.get(login, []), start)
        before = rows[i - 1][1] if i else "logged_out"
        if before in (*ON_A_CALL, "wrap_up") or any(state in (*ON_A_CALL, "wrap_up") for state, _ in window):
            deferred += 1  # asked for during a call: it takes effect after the wrap-up, or is superseded
            continue
        if wanted == "logged_out" and before == "logged_out":
            continue  # already out: nothing to change, nothing written
        what = f"paused ({reason})" if reason else "logged out"
        r.fail(f"{login} {what} at {a.line_time(a.sent_at):%H:%M:%S}: not in the state history", [])
    r.notes.append(f"{len(view.operator_states)} state changes, {answered} answers held against them")
    if deferred:
        r.notes.append(f"{deferred} pauses or logouts asked for during a call: not judged")
    if excused:
        r.notes.append(f"{excused} answers or presence changes during a fault: not judged")
    return r
