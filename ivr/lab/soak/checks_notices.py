"""Check 33: service notices. A caller whose welcome fell inside a notice the soak's supervisor
set (after the console said it was set, before it was lifted) and who went on past the welcome
has `notice_played` on their ticket, naming that notice; a caller placed after it was lifted, or
gone before it was set, has none of it; no ticket names a notice nobody set. Real time on both
sides (the journal's calls and the driver's requests); the settling allows for the engine's
two-second cache and the welcome's length."""

from __future__ import annotations

from datetime import datetime, timedelta

from ivr.lab.soak.checks_actions import NO_JOURNAL, ClosureWindow, _near_fault, fault_spans, switched
from ivr.lab.soak.checks_calls import single_tickets
from ivr.lab.soak.evidence import SoakEvidence
from ivr.lab.soak.store_view import StoreView
from ivr.lab.soak.verdict import CheckResult

NOTICE_ON, NOTICE_OFF = "notice_on", "notice_off"
SETTLE_S = 3.0  # set or lifted: the next call's reading, past the two-second cache
WELCOME_S = 30.0  # placed this long before the lift: the welcome (and a language chosen) may end after it
PAST_WELCOME = frozenset({"consent", "menu_choice", "menu_default", "menu_timeout", "menu_invalid", "menu_repeat"})


def windows(ev: SoakEvidence, end: datetime) -> list[tuple[int, ClosureWindow]]:
    """Each notice the driver set, by its id, until it was lifted (or `end`)."""
    found = switched(ev, NOTICE_ON, NOTICE_OFF, end)
    return [(int(w.ident.removeprefix("notice-")), w) for w in found if w.ident.startswith("notice-")]


def check_notices(ev: SoakEvidence, view: StoreView) -> CheckResult:
    r = CheckResult("notices", "callers during a service notice hear it after the welcome (their ticket says so)")
    if ev.actions is None:
        r.notes.append(NO_JOURNAL)
        return r
    ends = [c.ended_at or c.placed_at for c in ev.journal]
    found = windows(ev, max(ends) if ends else ev.ended_at)
    known = {ident for ident, _w in found}
    spans = fault_spans(ev)
    judged = unsure = 0
    settle, welcome = timedelta(seconds=SETTLE_S), timedelta(seconds=WELCOME_S)
    for call, t in single_tickets(ev, view):
        said: set[int] = set()
        for e in view.events_of(t.id, "notice_played"):
            said |= set((e.detail or {}).get("notices", []))
        if said - known:
            r.fail(f"the ticket names notice(s) {sorted(said - known)}, which the soak never set", [t.id],
                   (call.caller,))  # fmt: skip
        passed = bool(view.kinds(t.id) & PAST_WELCOME)
        for ident, w in found:
            inside = w.on_done + settle <= call.placed_at and call.placed_at + welcome <= w.off_sent
            gone_before = call.ended_at is not None and call.ended_at < w.on_sent
            outside = call.placed_at > w.off_done + settle or gone_before
            if inside and passed:
                if _near_fault(spans, call.placed_at) or call.faults:
                    unsure += 1
                    continue
                judged += 1
                if ident not in said:
                    r.fail(f"called while notice {ident} was in force and went past the welcome; not told it",
                           [t.id], (call.caller,))  # fmt: skip
            elif outside and ident in said:
                r.fail(f"called outside notice {ident}; the ticket says it was said", [t.id], (call.caller,))
    if unsure:
        r.notes.append(f"{unsure} calls during a notice placed near a fault: not judged")
    r.notes.append(f"{len(found)} notices set, {judged} calls during them judged")
    return r
