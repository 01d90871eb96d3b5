"""Invariants over the calls: the carrier's journal held against the tickets (1, 2), the daily cap
(3), the order callers are served in (4) and the survey (7)."""

from __future__ import annotations

from collections import defaultdict
from datetime import date, datetime

from ivr.lab.soak.evidence import SoakEvidence
from ivr.lab.soak.journal import SOAK_ERROR, CallRecord, HungUpBy, KeyPress
from ivr.lab.soak.store_view import StoreView
from ivr.lab.soak.verdict import CheckResult
from ivr.schema.tickets import Ticket

WITHHELD = ("", "anonymous", "unknown")
CONSENT_OF = {"1": "accepted", "2": "refused"}  # the consent notice's keys; anything else: no answer
# A caller who spoke less than this after the beep said nothing; one who spoke the caller's own
# "left a message" mark (2 s) left one; in between, a few words, either is right.
SAID_NOTHING_S = 0.5
# Tickets whose place in the queue was not a plain arrival: moved by an operator (a blind
# transfer goes to the head of the new topic with its first arrival time, ivr.acd.control), or
# rebuilt by a restarted engine; judged on their own, not against the arrival order.
ORDER_EXEMPT = frozenset({"transferred", "call_resumed", "operator_rejoined"})
# While a caller gives the number for a queued callback the place is held, not offered
# (ivr.acd.step._book_callback); the dialogue ends with one of these on the timeline.
DIALOGUE_ENDS = frozenset({"callback_accepted", "callback_number", "callback_number_invalid"})


# A key's way from the carrier to the engine, and the line's own delays around its window (the
# notice's end reported, the timeout begun): run 6's ticket 622 took no answer 13.12 s after its
# notice began, for a window of 12.97 s (a 6.97 s notice and the node's 6 s).
KEY_SLACK_S = 0.5
TAKEN, LATE, EITHER = "taken", "late", "either"


def key_timing(press: KeyPress | None) -> str:
    """Whether the line had to take a key: a real line takes a key only within its window (the
    prompt and the node's timeout after it, `ivr.lab.soak.key_windows`), and a later one is no
    answer there, whatever the caller meant. TAKEN: pressed within it even at the latest the
    caller can tell (or no timing known: judged as pressed in time); LATE: after it even at the
    earliest; EITHER: the caller cannot tell, and either outcome is right. Full run 6 blamed the
    line for 13 consents and 2 languages whose keys came after the window, the callers' ears
    seconds behind the recordings (ticket 622: the consent key reached the menu 15.7 s after the
    notice began, for a window of 13 s; tickets 221 and 232: the 9 15.3-15.7 s after the welcome
    began, for 14.6 s)."""
    if press is None or press.window_s is None:
        return TAKEN
    if press.at_least_s > press.window_s + KEY_SLACK_S:
        return LATE
    if press.at_most_s + KEY_SLACK_S < press.window_s:
        return TAKEN
    return EITHER


def late_detail(press: KeyPress) -> str:
    return (
        f"{press.at_least_s:.1f}-{press.at_most_s:.1f} s after {press.prompt} began, "
        f"after the line's {press.window_s or 0.0:.1f} s"
    )


def phone_tickets_by_caller(view: StoreView) -> dict[str, list[Ticket]]:
    out: dict[str, list[Ticket]] = defaultdict(list)
    for t in view.tickets.values():
        if t.channel == "phone":
            out[t.caller_number or ""].append(t)
    return out


def check_one_ticket(ev: SoakEvidence, view: StoreView) -> CheckResult:
    r = CheckResult("one_ticket", "every call has exactly one ticket, closed")
    by_caller = phone_tickets_by_caller(view)
    placed = {c.caller for c in ev.journal if c.caller not in WITHHELD}
    unreachable = 0
    for call in ev.journal:
        if call.caller in WITHHELD:
            continue
        found = by_caller.get(call.caller, [])
        if not found and _line_unreachable(call):
            unreachable += 1
        elif not found:
            r.fail("no ticket for the call", callers=(call.caller,))
        elif len(found) > 1:
            r.fail(f"{len(found)} tickets for one call", [t.id for t in found], (call.caller,))
        elif found[0].open:
            r.fail("the ticket is still open", [found[0].id], (call.caller,))
    if unreachable:
        r.notes.append(f"{unreachable} call(s) never answered while Asterisk restarted: no engine saw them")
    withheld_calls = sum(1 for c in ev.journal if c.caller in WITHHELD)
    withheld_tickets = [t.id for n, ts in by_caller.items() if n in WITHHELD for t in ts]
    if withheld_calls != len(withheld_tickets):
        r.fail(f"{withheld_calls} calls with a withheld number, {len(withheld_tickets)} tickets", withheld_tickets)
    for number, tickets in by_caller.items():
        if number not in WITHHELD and number not in placed:
            r.fail("a ticket for a call nobody placed", [t.id for t in tickets], (number,))
    return r


def _line_unreachable(call: CallRecord) -> bool:
    """Placed while the line's Asterisk was restarting and never answered: the network, not the
    line, turned it away (full run 3: two callers at 14:27:50), so no engine could see it."""
    return not call.answered and call.hung_up_by == HungUpBy.NETWORK and "asterisk_restart" in call.faults


# How long a caller's phone may ring before the line answers. Full run 6 answered 99 % of its
# calls within 3.3 s at 160 calls up; after each database outage the outbox's replay held every
# new call's ticket, so 34 callers rang 15 s and gave up without a word from the line, and none
# of them broke a check (their tickets rightly said "not answered").
ANSWER_S = 5.0
# Faults during which no engine can answer for a while: Asterisk down, or the active engine dead
# or frozen until the standby takes over. Callers then may ring out; the takeover's time is
# measured by bench/takeover.py, not judged here.
NO_ENGINE = frozenset({"asterisk_restart", "engine_kill", "engine_freeze"})
# Faults that may delay an answer without excusing its absence: the engine's ARI socket cut for a
# few seconds holds the call until it is back, and then it must be answered.
SLOWED = frozenset({"ari_socket_cut"})


def check_answered(ev: SoakEvidence, view: StoreView) -> CheckResult:
    """The line answers every call, promptly, whatever its store is doing: an outage of the
    database, the disk or the mail server is the engine's to carry (the outbox), not the caller's
    to hear as a phone ringing unanswered."""
    r = CheckResult("answered", f"every call answered within {ANSWER_S:.0f} s, save while no engine could")
    excused = slowed = 0
    for call in ev.journal:
        if (call.hangup_state or "").startswith(SOAK_ERROR):
            continue  # the soak's caller failed: judged by check 2
        who = (call.caller,) if call.caller not in WITHHELD else ()
        if NO_ENGINE & set(call.faults):
            excused += 1
        elif not call.answered:
            r.fail(f"never answered (placed {call.placed_at:%H:%M:%S}, faults: {', '.join(call.faults) or 'none'})",
                   callers=who)  # fmt: skip
        elif call.answered_after_s is None:
            continue  # an older journal: answered, when not known
        elif call.answered_after_s > ANSWER_S and SLOWED & set(call.faults):
            slowed += 1
        elif call.answered_after_s > ANSWER_S:
            r.fail(f"answered {call.answered_after_s:.1f} s after it was placed at {call.placed_at:%H:%M:%S}"
                   f" (faults: {', '.join(call.faults) or 'none'})", callers=who)  # fmt: skip
    if excused:
        r.notes.append(
            f"{excused} call(s) placed while no engine could answer ({', '.join(sorted(NO_ENGINE))}): not judged"
        )
    if slowed:
        r.notes.append(f"{slowed} call(s) answered late while the engine's ARI socket was cut: not judged on time")
    return r


def single_tickets(ev: SoakEvidence, view: StoreView) -> list[tuple[CallRecord, Ticket]]:
    """Each journal call with its one ticket; calls without exactly one are check 1's business."""
    by_caller = phone_tickets_by_caller(view)
    return [
        (c, by_caller[c.caller][0])
        for c in ev.journal
        if c.caller not in WITHHELD and len(by_caller.get(c.caller, [])) == 1
    ]


def check_outcome(ev: SoakEvidence, view: StoreView) -> CheckResult:
    r = CheckResult("outcome", "the ticket says what the caller went through")
    messages = {v.ticket_id: v for v in view.voicemails}
    answers: dict[int, int] = defaultdict(int)
    for a in view.survey:
        answers[a.ticket_id] += 1
    booked = {q.ticket_id for q in view.queued_callbacks}
    too_soon = 0
    late: dict[str, int] = defaultdict(int)
    for call, t in single_tickets(ev, view):
        who = (call.caller,)
        if (call.hangup_state or "").startswith(SOAK_ERROR):
            r.fail(f"not judged: the soak's caller failed ({call.hangup_state})", [t.id], who)
            continue
        if call.callback_requested != (t.id in booked) and not _gone_after_confirming(call):
            asked = "asked" if call.callback_requested else "never asked"
            said = "a queued callback" if t.id in booked else "none"
            r.fail(f"the caller {asked} for a callback, the store has {said}", [t.id], who)
        if call.consent_asked:
            timing = key_timing(call.consent_press)
            late[timing] += 1 if call.consent_key else 0
            expected = "no_answer" if timing == LATE else CONSENT_OF.get(call.consent_key or "", "no_answer")
            right = t.consent == expected or (timing == EITHER and t.consent == "no_answer")
            if not right and not _consent_excused(call, t.consent, expected):
                key = call.consent_key or "nothing"
                when = f" {late_detail(call.consent_press)}" if timing == LATE and call.consent_press else ""
                r.fail(
                    f"the caller pressed {key} at the consent notice{when}, the ticket says {t.consent}", [t.id], who
                )
        if call.answered != (t.answered_at is not None):
            said = "answered" if t.answered_at is not None else "never answered"
            r.fail(f"the caller was {'' if call.answered else 'not '}answered, the ticket says {said}", [t.id], who)
        if _too_soon_to_hear(call, t):
            too_soon += 1
        elif call.heard_operator != (t.operator_answered_at is not None):
            said = "an operator answered" if t.operator_answered_at is not None else "no operator answered"
            heard = "heard" if call.heard_operator else "never heard"
            r.fail(f"the caller {heard} an operator, the ticket says {said}", [t.id], who)
        vm = messages.get(t.id)
        has_audio = vm is not None and vm.recording_id is not None and not vm.empty
        if call.left_message and (vm is None or vm.recording_id is None):
            r.fail("the caller left a message, no message with audio is stored", [t.id], who)
        elif has_audio and call.message_s < SAID_NOTHING_S:
            r.fail("a message with audio is stored, the caller left none", [t.id], who)
        if call.callback_unsaid and not SPEECHLESS & set(call.faults):
            r.fail("the caller confirmed a callback number and was never told whether it was booked", [t.id], who)
        stored = answers.get(t.id, 0)
        due, lost = _survey_due(call)
        late["survey"] += len(lost)
        keys = "".join(call.survey_keys)
        if due and not stored:
            r.fail(f"the caller answered the survey ({keys}), nothing is stored", [t.id], who)
        elif stored > len(call.survey_keys):
            r.fail(f"{stored} survey answers stored, the caller pressed {len(call.survey_keys)} keys", [t.id], who)
        elif stored > len(call.survey_keys) - len(lost) and not call.faults:
            after = f"{len(lost)} of them after the line stopped asking ({late_detail(lost[0])})"
            r.fail(
                f"{stored} survey answers stored, the caller pressed {len(call.survey_keys)} keys, {after}", [t.id], who
            )
        if stored and not call.heard_operator and t.queue_result != "callback":
            r.fail("survey answers stored for a caller who never heard an operator", [t.id], who)
    for t in view.tickets.values():  # a fault may lose a call, an engine's own error never excuses it
        if (t.end_reason or "").startswith("error:"):
            r.fail(f"the engine failed the call ({t.end_reason} in {t.last_state})", [t.id], (t.caller_number or "",))
    if too_soon:
        r.notes.append(f"{too_soon} call(s) ended within {EAR_S:g} s of an operator's answer: too soon to judge")
    if late[LATE]:
        r.notes.append(f"{late[LATE]} consent key(s) pressed after the line's window: expected as no answer")
    if late[EITHER]:
        r.notes.append(f"{late[EITHER]} consent key(s) pressed at the end of the line's window: the key or no answer")
    if late["survey"]:
        r.notes.append(f"{late['survey']} survey key(s) pressed after the line's last question had passed: not stored")
    return r


def _survey_due(call: CallRecord) -> tuple[bool, list[KeyPress]]:
    """Whether the line had to store an answer for the caller's survey keys, and the keys it must
    not have stored. A key within its question's window (the question and the survey node's
    timeout, `ivr.lab.soak.key_windows`) is an answer the line must keep; one after it found the
    line asking the next question, which may rightly take it (or refuse it: full run 6, ticket
    100, whose 4 for the first question came after the line had skipped it and was invalid for
    the second), so it is owed nothing either way; one after the last question's window came
    when the line no longer asked anything, and is stored by no real line. With no timing known
    (an older journal, an untimed key) every key is held to be in time, as before timings were
    kept."""
    if len(call.survey_presses) != len(call.survey_keys):
        return bool(call.survey_keys), []
    timings = [key_timing(p) for p in call.survey_presses]
    lost = [p for p, when in zip(call.survey_presses, timings, strict=True) if when == LATE and p.next_prompt is None]
    return TAKEN in timings, lost


# Faults that leave the line unable to say anything for a while (no engine, no Asterisk, no
# event socket); a database outage is not one of them: the caller must still be told.
SPEECHLESS = frozenset({"engine_kill", "engine_freeze", "asterisk_restart", "ari_socket_cut"})
EAR_S = 3.0  # the ear knows an operator by the first second of their voice, which starts a moment after the bridge


def _gone_after_confirming(call: CallRecord) -> bool:
    """The caller confirmed the number read back and the call ended before the caller heard
    whether the callback was booked: the caller hung up (full run 7, ticket 2885: patience ran
    out 3 ms after the key), or the line did and the ear did not make out its last words (full
    run 8, ticket 4963). Booked on the confirmation or not, either is right."""
    gone = call.hung_up_by in (HungUpBy.CALLER, HungUpBy.ENGINE)
    return call.callback_number is not None and not call.callback_requested and gone


def _too_soon_to_hear(call: CallRecord, t: Ticket) -> bool:
    """An operator answered as the call was ending: connected for a moment, but no voice could
    reach the caller's ear in that time, so the journal cannot say either way. Excused when the
    caller hung up, or a fault cut the call (run 6: an Asterisk restart two seconds after a
    softphone answered); a short talk the line itself ended with nothing wrong is still judged."""
    if t.operator_answered_at is None or call.heard_operator:
        return False
    if call.hung_up_by != HungUpBy.CALLER and not call.faults:
        return False
    ended = t.operator_ended_at or t.ended_at
    talk_s = (
        t.handle_s if t.handle_s is not None else (ended - t.operator_answered_at).total_seconds() if ended else None
    )
    return talk_s is not None and talk_s < EAR_S


def _consent_excused(call: CallRecord, stored: str | None, expected: str) -> bool:
    """A consent the line never got to record is no broken promise: the caller left during the
    notice (nothing chosen), or a fault took the key away and the line took no answer for a no —
    the safe side. A yes the caller did not give is never excused."""
    if stored is None and (call.hangup_state == "consent" or call.faults):
        return True
    return bool(call.faults) and stored in ("no_answer", "refused") and expected == "accepted"


def _rome_day(ev: SoakEvidence, moment: datetime) -> date:
    return moment.astimezone(ev.tz).date()


def check_cap(ev: SoakEvidence, view: StoreView) -> CheckResult:
    """The cap counts admissions in `daily_admissions` (ivr.acd.cap), one per call put in the queue
    (the ticket's `queued_at`); transfers and queued callbacks are not counted again."""
    r = CheckResult("daily_cap", "per day: admitted = the cap's count <= cap; nobody refused under the cap")
    admitted: dict[date, list[int]] = defaultdict(list)
    refused: dict[date, list[int]] = defaultdict(list)
    for t in view.tickets.values():
        if t.queued_at is not None:
            admitted[_rome_day(ev, t.queued_at)].append(t.id)
        if t.queue_result == "cap":
            when = next((e.at for e in view.events_of(t.id, "queue_not_served")), t.started_at)
            refused[_rome_day(ev, when)].append(t.id)
    for day in sorted(set(admitted) | set(view.admissions) | set(refused)):
        ids, counted = admitted.get(day, []), view.admissions.get(day, 0)
        if len(ids) != counted:
            r.fail(f"{day}: {len(ids)} calls admitted, the cap counted {counted}", ids)
        if max(len(ids), counted) > ev.daily_cap:
            r.fail(f"{day}: {max(len(ids), counted)} admitted, over the cap of {ev.daily_cap}", ids)
        if refused.get(day) and min(len(ids), counted) < ev.daily_cap:
            r.fail(f"{day}: refused for the cap with only {min(len(ids), counted)} admitted", refused[day])
    return r


def _served_at(view: StoreView, t: Ticket) -> datetime | None:
    """When the distributor picked the call: its first offer to an operator (answer times depend
    on how fast each operator picks up, offers are the queue's own order)."""
    offers = view.events_of(t.id, "offer")
    return offers[0].at if offers else t.operator_answered_at


def check_order(ev: SoakEvidence, view: StoreView) -> CheckResult:
    """Per topic and language, by arrival (`queued_at`): nobody picked before someone who arrived
    earlier and was still waiting. Queued callbacks keep the arrival time (ivr.acd.queued) and are
    judged like the others; transferred and resumed calls are exempt (ORDER_EXEMPT), and so is a
    caller passed while giving a callback number (up to `callback_dialogue_s` before the dialogue's
    end on the timeline: the place is held, not offered, meanwhile)."""
    r = CheckResult("answer_order", "callers of one topic served in arrival order")
    groups: dict[tuple[str | None, str | None], list[tuple[datetime, datetime, Ticket]]] = defaultdict(list)
    exempt = 0
    for t in view.tickets.values():
        if t.queued_at is None:
            continue
        served = _served_at(view, t)
        if served is None:
            continue
        if view.kinds(t.id) & ORDER_EXEMPT:
            exempt += 1
            continue
        groups[(t.topic, t.language)].append((t.queued_at, served, t))
    slack, held_s = ev.order_slack_s, ev.callback_dialogue_s
    dialogues = {
        t.id: [e.at for e in view.events.get(t.id, []) if e.kind in DIALOGUE_ENDS]
        for calls in groups.values()
        for _, _, t in calls
    }

    def in_dialogue(a: Ticket, moment: datetime) -> bool:
        return any(0 <= (end - moment).total_seconds() <= held_s for end in dialogues[a.id])

    for (topic, language), calls in groups.items():
        calls.sort(key=lambda c: c[0])
        for j, (arrived_b, served_b, b) in enumerate(calls):  # one violation per caller served too early
            passed = [
                a
                for arrived_a, served_a, a in calls[:j]
                if (arrived_b - arrived_a).total_seconds() > slack
                and (served_a - served_b).total_seconds() > slack
                and not in_dialogue(a, served_b)
            ]
            if passed:
                r.fail(
                    f"{topic}/{language or '-'}: ticket {b.id} (arrived {arrived_b:%Y-%m-%d %H:%M:%S}) was served "
                    f"at {served_b:%H:%M:%S}, before {len(passed)} earlier callers still waiting "
                    f"(first: ticket {passed[0].id})",
                    [b.id, *(a.id for a in passed[:10])],
                )
    if exempt:
        r.notes.append(f"{exempt} transferred or resumed calls not judged by arrival order")
    return r


def check_survey_after_operator(ev: SoakEvidence, view: StoreView) -> CheckResult:
    """A queued callback's questionnaire follows the callback's conversation (ivr.acd.queued), which
    connects on the callback's row, not the ticket's operator columns."""
    r = CheckResult("survey_after_operator", "survey answers only on tickets an operator answered")
    connected = {q.ticket_id: q.connected_at for q in view.queued_callbacks if q.connected_at is not None}
    for a in view.survey:
        t = view.tickets.get(a.ticket_id)
        if t is None:
            r.fail(f"survey answer {a.id} without a ticket", [a.ticket_id])
            continue
        talked = t.operator_answered_at or connected.get(t.id)
        if talked is None:
            r.fail(f"survey answer {a.id} ({a.question}) on a ticket no operator answered", [t.id])
        elif a.at < talked:
            r.fail(f"survey answer {a.id} ({a.question}) given before the operator answered", [t.id])
    return r
