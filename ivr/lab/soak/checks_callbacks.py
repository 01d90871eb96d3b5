"""Invariants of queued callbacks held against the citizen's own phone (13-17), and of the
language the caller chose (18).

Check 8 (`checks_store.check_callbacks`) reads the store alone; these hold it against what the
carrier saw: each ring of the citizen's number (`CallRecord.callback_legs`), the number the
citizen confirmed and the ones the line refused, what the citizen heard on each leg. The
documented order is the one of `ivr.acd.queued`: a callback keeps the time its call was admitted
(`arrived_at`), so it is served after those who came earlier and before those who came later; a
callback against the live callers of its topic is judged by check 4 (answer_order), since its
ticket keeps `queued_at` and its first pick is an `offer` on its timeline.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime, timedelta
from itertools import pairwise

from ivr.dialout.guard import NumberRefused, check
from ivr.lab.soak.checks_calls import EAR_S, LATE, ORDER_EXEMPT, TAKEN, key_timing, late_detail, single_tickets
from ivr.lab.soak.citizen import national
from ivr.lab.soak.evidence import SoakEvidence
from ivr.lab.soak.journal import CallbackLeg, CallRecord
from ivr.lab.soak.store_view import StoreView
from ivr.lab.soak.verdict import CheckResult
from ivr.schema.callbacks import QueuedCallback
from ivr.schema.tickets import Ticket

SERVICE_LANGUAGE = "it"  # a ticket without a language is in the service's (`service.language`)
DIALLED = ("completed", "unreachable")


def _booked(ev: SoakEvidence, view: StoreView) -> list[tuple[CallRecord, Ticket, QueuedCallback]]:
    """Each call whose caller heard the callback booked, with its ticket and its row (a booked
    call without a row is check 2's business)."""
    rows = {q.ticket_id: q for q in view.queued_callbacks}
    return [(c, t, rows[t.id]) for c, t in single_tickets(ev, view) if c.callback_requested and t.id in rows]


def _waited_until(call: CallRecord) -> datetime | None:
    """When the citizen stopped waiting for the callback (the first call's end, then the wait)."""
    if call.ended_at is None:
        return None
    return call.ended_at + timedelta(seconds=call.callback_waited_s)


def check_callback_dialled(ev: SoakEvidence, view: StoreView) -> CheckResult:
    r = CheckResult("callback_dialled", "every accepted callback dialled (the citizen's phone rang) or closed")
    gave_up = 0
    for call, t, q in _booked(ev, view):
        who, rang = (call.caller,), [leg for leg in call.callback_legs if not leg.busy]
        if q.state in DIALLED and not rang:
            tries = [e.at for e in view.events_of(t.id, "callback_try")]
            until = _waited_until(call)
            if tries and until is not None and min(tries) > until:
                gave_up += 1  # dialled after the citizen stopped waiting: nobody to witness it
            else:
                r.fail(f"queued callback {q.id} is {q.state}, but the citizen's phone never rang", [t.id], who)
        elif q.state == "escalated" and not (t.level == 2 or view.events_of(t.id, "callback_escalated")):
            r.fail(f"queued callback {q.id} escalated without a second-level ticket or a reason", [t.id], who)
        elif q.state not in (*DIALLED, "escalated"):
            r.fail(f"the citizen heard callback {q.id} booked; it was left {q.state}", [t.id], who)
    if gave_up:
        r.notes.append(f"{gave_up} callback(s) dialled after the citizen stopped waiting (not witnessed)")
    return r


def _overlap(legs: list[CallbackLeg]) -> CallbackLeg | None:
    """The first leg that rang while an earlier one was still up."""
    ordered = sorted(legs, key=lambda leg: leg.rang_at)
    for earlier, later in pairwise(ordered):
        if earlier.ended_at is None or later.rang_at < earlier.ended_at:
            return later
    return None


def check_callback_one_leg(ev: SoakEvidence, view: StoreView) -> CheckResult:
    r = CheckResult("callback_one_leg", "never two legs of a callback at once (the citizen's phone as witness)")
    tickets = {c.caller: t.id for c, t in single_tickets(ev, view)}
    by_number: dict[str, list[tuple[CallRecord, CallbackLeg]]] = defaultdict(list)
    for call in ev.journal:
        for leg in call.callback_legs:
            by_number[leg.number].append((call, leg))
    for number, legs in by_number.items():
        second = _overlap([leg for _, leg in legs])
        if second is not None:
            callers = sorted({c.caller for c, _ in legs})
            ids = [tickets[c] for c in callers if c in tickets]
            r.fail(f"{number} rang at {second.rang_at:%H:%M:%S} while another leg to it was up", ids, tuple(callers))
    return r


def check_callback_number(ev: SoakEvidence, view: StoreView) -> CheckResult:
    r = CheckResult("callback_number", "callbacks dial the number the citizen confirmed, never a refused one")
    for call, t, q in _booked(ev, view):
        who = (call.caller,)
        if q.number is not None and call.callback_number is not None and q.number != call.callback_number:
            r.fail(f"the citizen confirmed {call.callback_number}, the store keeps {q.number}", [t.id], who)
        if q.number is not None and q.number in call.refused_numbers:
            r.fail(f"the store keeps {q.number}, a number the line refused to the caller", [t.id], who)
        if q.number is not None:
            try:
                check(q.number, ev.dialout)
            except NumberRefused as exc:
                r.fail(f"queued callback {q.id} keeps a refused number ({exc.reason})", [t.id], who)
    tickets = {c.caller: t.id for c, t in single_tickets(ev, view)}
    for call in ev.journal:
        ids, who = [tickets[call.caller]] if call.caller in tickets else [], (call.caller,)
        for leg in call.callback_legs:
            if national(leg.number) in {national(n) for n in call.refused_numbers}:
                r.fail(f"the line dialled {leg.number}, which it had refused to the caller", ids, who)
            elif call.callback_number is None or national(leg.number) != national(call.callback_number):
                r.fail(f"the line dialled {leg.number}; the citizen confirmed {call.callback_number}", ids, who)
    return r


def _first_pick(view: StoreView, q: QueuedCallback) -> datetime | None:
    """When the distributor first picked the callback: its first offer after it was accepted
    (the call's own offers before are the live call's)."""
    offers = [e.at for e in view.events_of(q.ticket_id, "offer") if e.at >= q.accepted_at]
    tries = [e.at for e in view.events_of(q.ticket_id, "callback_try")]
    return min(offers or tries) if offers or tries else None


def check_callback_order(ev: SoakEvidence, view: StoreView) -> CheckResult:
    r = CheckResult("callback_order", "callbacks keep the call's place and are dialled in arrival order")
    slack = ev.order_slack_s
    groups: dict[tuple[str | None, str | None], list[tuple[QueuedCallback, datetime]]] = defaultdict(list)
    for q in view.queued_callbacks:
        t = view.tickets.get(q.ticket_id)
        if t is None or view.kinds(t.id) & ORDER_EXEMPT:
            continue
        if t.queued_at is not None and abs((q.arrived_at - t.queued_at).total_seconds()) > slack:
            r.fail(
                f"queued callback {q.id} took the place of {q.arrived_at:%H:%M:%S}, its call was admitted "
                f"at {t.queued_at:%H:%M:%S}",
                [t.id],
            )
        picked = _first_pick(view, q)
        if picked is not None:
            groups[(q.topic, q.language)].append((q, picked))
    for (topic, language), rows in groups.items():
        rows.sort(key=lambda row: row[0].arrived_at)
        for j, (b, picked_b) in enumerate(rows):
            passed = [
                a
                for a, picked_a in rows[:j]
                if (b.arrived_at - a.arrived_at).total_seconds() > slack
                and a.accepted_at <= picked_b
                and (picked_a - picked_b).total_seconds() > slack
            ]
            if passed:
                r.fail(
                    f"{topic}/{language or '-'}: callback {b.id} (place {b.arrived_at:%H:%M:%S}) dialled at "
                    f"{picked_b:%H:%M:%S}, before {len(passed)} callbacks with earlier places (first: {passed[0].id})",
                    [b.ticket_id, *(a.ticket_id for a in passed[:10])],
                )
    r.notes.append("callbacks against live callers of their topic are judged by answer_order")
    return r


def _talk_s(view: StoreView, q: QueuedCallback) -> float | None:
    """How long the citizen was connected to the operator: until the questionnaire began (the
    operator hung up first), else until the attempt ended. The attempt's `ended_at` alone is
    written after the questionnaire, which is no part of the conversation the ear listens in."""
    if q.connected_at is None:
        return None
    asked = [e.at for e in view.events_of(q.ticket_id, "survey_offered") if e.at >= q.connected_at]
    end = min(asked) if asked else q.ended_at
    return (end - q.connected_at).total_seconds() if end is not None else None


def check_callback_heard_operator(ev: SoakEvidence, view: StoreView) -> CheckResult:
    r = CheckResult("callback_heard_operator", "a citizen called back heard an operator iff the store says so")
    too_soon = no_notice = cut_off = 0
    for call, t, q in _booked(ev, view):
        who = (call.caller,)
        cut = _cut_off(view, t.id)
        connected = q.connected_at is not None or len(view.events_of(t.id, "callback_connected")) > cut
        heard = [leg for leg in call.callback_legs if leg.heard_operator]
        if cut:
            cut_off += 1
        if connected and not heard:
            talk = _talk_s(view, q)
            if talk is not None and talk < EAR_S:
                too_soon += 1
            elif call.callback_legs:
                r.fail(f"callback {q.id} connected an operator; the citizen never heard one", [t.id], who)
        elif heard and not connected and not cut:
            someone = heard[0].operator or "an operator"
            r.fail(f"the citizen heard {someone}; callback {q.id} never connected", [t.id], who)
        elif heard and q.operator is not None and heard[0].operator not in (None, *_connected_by(view, t.id, q)):
            r.fail(f"the citizen heard {heard[0].operator}; callback {q.id} was made by {q.operator}", [t.id], who)
        if heard and not any(leg.heard_notice for leg in heard):
            no_notice += 1
    if too_soon:
        r.notes.append(f"{too_soon} callback(s) connected for under {EAR_S:g} s: too soon to judge")
    if no_notice:
        r.notes.append(f"{no_notice} citizen(s) heard an operator but the ear missed the callback notice")
    if cut_off:
        r.notes.append(f"{cut_off} callback(s) with a conversation the line cut off (dialled again): not judged by it")
    return r


def _cut_off(view: StoreView, ticket_id: int) -> int:
    """Conversations the line says it lost (`ivr.acd.queued.CUT_OFF`): the citizen may have heard
    the operator for a while or not at all; each was followed by the callback dialled again."""
    tries = view.events_of(ticket_id, "callback_try")
    return sum(1 for e in tries if e.detail and e.detail.get("result") == "cut_off")


def check_language(ev: SoakEvidence, view: StoreView) -> CheckResult:
    """A language key pressed within the line's window switches the call; one pressed after it
    is no choice, and the caller hears the service's language (`checks_calls.key_timing`)."""
    r = CheckResult("language", "a caller who chose a language heard it, and the ticket says so")
    late = 0
    for call, t in single_tickets(ev, view):
        if call.language_heard is None:
            continue
        who = (call.caller,)
        timing = key_timing(call.language_press)
        if call.language_key is not None and not call.faults:
            late += timing == LATE
            chose = call.language_heard == call.language
            if timing == TAKEN and not chose:
                r.fail(f"pressed {call.language_key} for {call.language}, heard {call.language_heard}", [t.id], who)
            elif timing == LATE and chose and call.language_press is not None:
                when = late_detail(call.language_press)
                r.fail(f"pressed {call.language_key} for {call.language} {when}, and heard it", [t.id], who)
        stored = t.language or SERVICE_LANGUAGE
        if stored != call.language_heard:
            r.fail(f"the caller heard {call.language_heard}, the ticket says {stored}", [t.id], who)
    if late:
        r.notes.append(f"{late} language key(s) pressed after the line's window: expected as no choice")
    return r


def _connected_by(view: StoreView, ticket_id: int, q: QueuedCallback) -> set[str]:
    """The operators a citizen may have heard: the callback's last (`q.operator`) and each one a
    connection was made with (full run 13, callback 7: 81 s with soak08, the line then cut; the
    attempts after it, made by soak05, found the citizen no longer answering)."""
    connected = {str((e.detail or {}).get("operator")) for e in view.events_of(ticket_id, "callback_connected")}
    return {q.operator or "", *connected}
