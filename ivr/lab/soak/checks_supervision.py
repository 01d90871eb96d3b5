"""Check 34: supervisors on live calls (ivr.supervision). Each session the console said it
started (the driver's `supervise`, answered 200) is in the audit log once, by that supervisor,
for that operator; it ends once, after it began, its modes in the order they were asked for;
nobody stays on a conversation after it ended (the ticket's timeline as witness); the
supervisor's phone is no step of the call (no offer, confirmation or answer of theirs on the
ticket while they followed it); the caller's ear never recognised the supervisor's voice (listening
and coaching are not heard by the caller); and no session is in the audit that nobody asked for.

A fault while a session was up (an engine killed) may leave it without its end: not judged."""

from __future__ import annotations

from collections import defaultdict
from datetime import timedelta
from typing import Any

from ivr.lab.soak.action_journal import ActionRecord
from ivr.lab.soak.actions import ActionKind
from ivr.lab.soak.checks_actions import NO_JOURNAL, fault_spans
from ivr.lab.soak.checks_calls import single_tickets
from ivr.lab.soak.evidence import SoakEvidence
from ivr.lab.soak.journal import CallRecord
from ivr.lab.soak.store_view import StoreView
from ivr.lab.soak.verdict import CheckResult
from ivr.schema.console import AuditEntry

SLACK = timedelta(seconds=5)  # the console's answer and its audit entry, a moment apart
AFTER_CALL = timedelta(seconds=5)  # the conversation's end reaching the session, and its audit write
REACH = timedelta(seconds=30)  # a fault this close after the session may have taken its end
CALL_ENDS = ("operator_call_ended", "transferred", "call_ended")
PHONE_STEPS = ("offer", "offer_confirmed", "operator_answered")


def _key(e: AuditEntry) -> tuple[str | None, Any, Any]:
    d = e.detail or {}
    return e.object_id, d.get("session"), d.get("ticket")


def check_supervision(ev: SoakEvidence, view: StoreView) -> CheckResult:
    r = CheckResult("supervision", "each supervision asked for is audited once, ends once, never outlives its call")
    if ev.actions is None:
        r.notes.append(NO_JOURNAL)
        return r
    asked = [a for a in ev.actions if a.kind == ActionKind.SUPERVISE]
    started = [e for e in view.supervision if e.action == "supervision_started"]
    by_key: dict[tuple[str | None, Any, Any], list[AuditEntry]] = defaultdict(list)
    for e in view.supervision:
        by_key[_key(e)].append(e)
    spans = fault_spans(ev)
    calls = {t.id: call for call, t in single_tickets(ev, view)}
    claimed: set[int] = set()
    judged = unsure = 0
    for a in asked:
        if not a.done:
            continue
        low, high = a.line_time(a.sent_at) - SLACK, a.line_time(a.done_at) + SLACK
        found = [e for e in started if e.login == a.user and e.object_id == a.operator and low <= e.at <= high]
        if len(found) != 1:
            r.fail(f"{a.user} started following {a.operator} (the console said so): {len(found)} in the audit log",
                   [a.ticket or 0])  # fmt: skip
            continue
        claimed.add(found[0].id)
        if any(start <= a.done_at + REACH and end >= a.sent_at - SLACK for start, end in spans):
            unsure += 1
            continue
        judged += 1
        _judge(r, a, by_key[_key(found[0])], view, calls)
    for e in started:
        if e.id in claimed:
            continue
        near = [a for a in asked if not a.done and a.user == e.login]  # a start whose answer a fault took
        if not near:
            r.fail(f"{e.login} followed {e.object_id} at {e.at:%H:%M:%S}: a session nobody asked for",
                   [int((e.detail or {}).get("ticket") or 0)])  # fmt: skip
    if unsure:
        r.notes.append(f"{unsure} sessions with a fault on: not judged")
    r.notes.append(f"{len(asked)} asked, {sum(a.done for a in asked)} started, {judged} judged")
    return r


def _judge(
    r: CheckResult, a: ActionRecord, entries: list[AuditEntry], view: StoreView, calls: dict[int, CallRecord]
) -> None:
    start = next(e for e in entries if e.action == "supervision_started")
    ends = [e for e in entries if e.action == "supervision_ended"]
    tid = int((start.detail or {}).get("ticket") or 0)
    who = f"{a.user} on {a.operator}'s call"
    if len(ends) != 1:
        r.fail(f"{who}: {len(ends)} ends in the audit log", [tid])
        return
    end = ends[0]
    if end.at < start.at:
        r.fail(f"{who}: ended at {end.at:%H:%M:%S}, before it began ({start.at:%H:%M:%S})", [tid])
    asked = [str((start.detail or {}).get("mode"))]
    asked += [str((e.detail or {}).get("mode")) for e in entries if e.action == "supervision_mode"]
    modes = (end.detail or {}).get("modes")
    if modes != asked:
        r.fail(f"{who}: ended with modes {modes}, the log asked for {asked}", [tid])
    if a.params.get("coach") == 200 and "coach" not in asked:
        r.fail(f"{who}: the console changed it to coaching; the audit log has no such change", [tid])
    events = view.events.get(tid, [])
    over = next((e for e in events if e.kind in CALL_ENDS and e.at >= start.at), None)
    if over is not None and end.at > over.at + AFTER_CALL:
        r.fail(f"{who}: still on {(end.at - over.at).total_seconds():.0f} s after the call's {over.kind}", [tid])
    phone = str((start.detail or {}).get("phone") or "")
    for e in events:
        if e.kind in PHONE_STEPS and start.at <= e.at <= end.at and (e.detail or {}).get("operator") == phone:
            r.fail(f"{who}: the supervisor's phone is on the ticket as {e.kind} at {e.at:%H:%M:%S}", [tid])
    # Listening and coaching: the caller never hears the supervisor (their phone says its name),
    # unless the timeline names them otherwise on this call (answered it, consulted, conferenced).
    named = {v for e in events for v in (e.detail or {}).values() if isinstance(v, str)}
    call = calls.get(tid)
    if call is not None and phone in call.operators_heard and phone not in named and "barge" not in asked:
        r.fail(f"{who}: the caller heard the supervisor's voice ({', '.join(asked)})", [tid], (call.caller,))
