"""Check 28: the menu routes each caller by the key they pressed, and a caller who presses nothing
is put through after the first repeat (issue 26: callers on old phones, in a car, with keys that
never arrive were held in menu repeats for about 90 s)."""

from __future__ import annotations

from ivr.lab.soak.checks_calls import TAKEN, key_timing, single_tickets
from ivr.lab.soak.evidence import SoakEvidence
from ivr.lab.soak.journal import CallRecord
from ivr.lab.soak.store_view import StoreView
from ivr.lab.soak.verdict import CheckResult
from ivr.schema.tickets import TicketEvent

# The shipped flow's promise (config/callflows/main.yaml, `silent_attempts`): the menu said, once
# more after no key, then the caller is put through. Written out here, not read from the flow:
# the checker holds the line to the promise, not to whatever the flow says today.
SILENT_ROUNDS = 2
ROUTED = ("menu_choice", "menu_default")


def check_menu(ev: SoakEvidence, view: StoreView) -> CheckResult:
    r = CheckResult("menu", "the menu routes by the caller's key; a caller who presses nothing is put through")
    faulted = spilled = 0
    for call, t in single_tickets(ev, view):
        kinds = [e.kind for e in view.events.get(t.id, [])]
        if not any(k in ROUTED or k == "menu_timeout" for k in kinds):
            continue  # never reached the menu (closed, hung up before it)
        # A call during a fault, or taken over by another engine (`call_resumed`: a lease lost
        # with no fault injected, full run 8's tickets 6226, 6228, 6312), may meet the menu
        # again from its start, or lose a key pressed while no engine drove it.
        if call.faults or "call_resumed" in kinds:
            faulted += 1
            continue
        who = (call.caller,)
        routed = next((k for k in kinds if k in ROUTED), None)
        if call.journey.startswith("silent/"):
            silences = kinds[: kinds.index(routed)].count("menu_timeout") if routed else kinds.count("menu_timeout")
            if routed is None and silences >= SILENT_ROUNDS:
                r.fail(f"the caller pressed nothing: {silences} rounds of the menu, never put through", [t.id], who)
            elif routed is not None and silences > SILENT_ROUNDS:
                r.fail(f"the caller pressed nothing and was put through only after {silences} rounds", [t.id], who)
            elif routed == "menu_choice":
                r.fail("the caller pressed nothing, the ticket says a key chose the route", [t.id], who)
        # The menu's route: the topic before an operator's transfer, if any (the ticket then
        # says the topic transferred to: full run 8's ticket 5983, read as a wrong route).
        transfers = view.events_of(t.id, "transferred")
        menu_topic = (transfers[0].detail or {}).get("from_topic") if transfers else t.topic
        if routed is not None and call.topic is not None and menu_topic != call.topic:
            if _late_consent_key_at_menu(call, view.events_of(t.id, "menu_choice")):
                spilled += 1
                continue
            r.fail(f"the caller's keys chose {call.topic}, the ticket says {menu_topic}", [t.id], who)
    if faulted:
        r.notes.append(f"{faulted} call(s) through the menu during a fault or a takeover: not judged here")
    if spilled:
        r.notes.append(f"{spilled} consent key(s) pressed at the end of the notice's window chose at the menu")
    return r


def _late_consent_key_at_menu(call: CallRecord, choices: list[TicketEvent]) -> bool:
    """The consent key pressed at the end of the notice's window or after it (the caller cannot
    tell which) reached the menu and chose there: full run 13's ticket 285, whose 1 for consent
    came 7.7-18.6 s into a 13.0 s window and routed the call to citizens before the caller's 3
    for agencies. Either outcome is the line's right answer to a key that late."""
    press = call.consent_press
    if press is None or key_timing(press) == TAKEN or not choices:
        return False
    return (choices[0].detail or {}).get("key") == press.key
