"""Invariants over the non-call actions the soak's driver carried out (its action journal, a
witness the engine did not write) held against the store, the SMTP sink and the carrier's journal:

13. web requests: each one filed is in the store, once, each answer and escalation on it
    (their due times: check 9, `web_and_mail`, over every web ticket); none refused;
14. e-mails: each one the line said it sent for an action is in the sink exactly once;
15. listens: each recording or message a supervisor played is in the access audit;
16. closures: callers during a closure get its treatment (their ticket names it), others not;
17. presence: an operator paused or logged out is offered no call until back;
18. outcomes: each outcome filed at the desk is on its ticket;
25. the second level: each callback its round worked is recorded on its ticket.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass
from datetime import datetime, timedelta

from ivr.lab.soak.action_journal import OUTCOME, ActionRecord, ActionResult
from ivr.lab.soak.actions import ActionKind
from ivr.lab.soak.checks_calls import single_tickets
from ivr.lab.soak.evidence import SoakEvidence
from ivr.lab.soak.store_view import StoreView
from ivr.lab.soak.verdict import CheckResult

K = ActionKind
NO_JOURNAL = "no action journal: the driver did not run, nothing judged"
# Which sink mail an action makes, told by its subject (ivr.webrequests.mail).
MAIL_OF = {
    str(K.WEB_REQUEST): "ricevuta",
    str(K.WEB_REPLY): "risposta alla richiesta",
    str(K.WEB_SECOND_REPLY): "risposta alla richiesta",
    str(K.WEB_ESCALATE): "presa in carico",
}
LISTENED = {str(K.LISTEN_RECORDING): ("recording_listen",), str(K.LISTEN_VOICEMAIL): ("voicemail_listen",)}
PRESENCE_SLACK_S = 0.5  # an offer stamped this close to the pause's answer was under way before it
CLOSURE_SETTLE_S = 5.0  # the engines read closures again every 2 s (ivr.hours.closures)
CLOSURE_REACH_S = 10.0  # a caller placed this long before the closure ends may reach the hours check after it
FAULT_REACH_S = 25.0  # a caller ringing through a takeover is offered again for up to 20 s (ha.callers_wait_s)


def _done(ev: SoakEvidence, *kinds: str) -> list[ActionRecord]:
    return [a for a in ev.actions or [] if a.done and (not kinds or a.kind in kinds)]


def tally(actions: list[ActionRecord]) -> str:
    """What the driver did, per kind: 'pause 3 done, 1 skipped; ...' (the report's account of it)."""
    counts: dict[str, Counter[str]] = defaultdict(Counter)
    for a in actions:
        counts[a.kind][str(a.result)] += 1
    return "; ".join(
        f"{k} " + ", ".join(f"{n} {res}" for res, n in sorted(c.items())) for k, c in sorted(counts.items())
    )


def check_web_requests(ev: SoakEvidence, view: StoreView) -> CheckResult:
    """Each citizen (the driver's: one e-mail address and one client address per request, a
    form filled in correctly) files one request. Sending the form again when the line gave no
    answer is what a browser or a person does: the line must file it once (full run 6 filed
    web-0050 twice, tickets 3241 and 3275), and must not refuse it (run 6's web-0034 was
    refused as 'too many requests' after five posts the store, being away, had not taken)."""
    r = CheckResult("web_requests", "each web request filed is in the store once, with each answer given to it")
    if ev.actions is None:
        r.notes.append(NO_JOURNAL)
        return r
    r.notes.append(f"actions carried out: {tally(ev.actions) or 'none'}")
    stored: dict[str, list[int]] = defaultdict(list)
    for w in view.web_requests:
        stored[w.email.casefold()].append(w.ticket_id)
    sent_again = 0
    for a in ev.actions:
        if a.kind != K.WEB_REQUEST:
            continue
        if a.result is ActionResult.FAILED:
            r.fail(f"request {a.ref} could not be filed in {a.attempts} attempts: {a.answer}")
        elif a.result is ActionResult.REFUSED:
            r.fail(f"request {a.ref} refused ({a.status}) after {a.attempts} attempts: {a.answer}")
        sent_again += a.attempts > 1
        citizen = a.params.get("mail_to")
        filed = stored.get(citizen.casefold(), []) if isinstance(citizen, str) else []
        if len(filed) > 1:
            numbers = ", ".join(map(str, filed))
            r.fail(f"request {a.ref} filed {len(filed)} times (tickets {numbers}), sent {a.attempts} times", filed)
    r.notes.append(f"{sent_again} requests sent more than once (no answer, or a fault, the first time)")
    for a in _done(ev, K.WEB_REQUEST):
        t = view.tickets.get(a.ticket or -1)
        if t is None or t.channel != "web":
            r.fail(
                f"request {a.ref}: the form gave number {a.ticket}, the store has no such web request", [a.ticket or 0]
            )
    steps = {K.WEB_REPLY: "web_reply", K.WEB_SECOND_REPLY: "web_reply", K.WEB_ESCALATE: "web_escalated"}
    for a in _done(ev, *steps):
        t = view.tickets.get(a.ticket or -1)
        if t is None:
            r.fail(f"{a.kind} of request {a.ref}: no ticket {a.ticket}", [a.ticket or 0])
        elif not view.events_of(t.id, steps[K(a.kind)]):
            r.fail(f"{a.kind} of request {a.ref} answered by the console, not on its timeline", [t.id])
        elif a.kind == K.WEB_ESCALATE and t.level != 2:
            r.fail(f"request {a.ref} escalated, the ticket is at level {t.level}", [t.id])
    return r


def check_action_mail(ev: SoakEvidence, view: StoreView) -> CheckResult:
    r = CheckResult(
        "action_mail", "each e-mail the line said it sent for an action is in the sink once, to its citizen"
    )
    if ev.actions is None or ev.mails is None:
        r.notes.append(NO_JOURNAL if ev.actions is None else "no SMTP sink record given: e-mails not checked")
        return r
    said: Counter[tuple[int, str]] = Counter()
    perhaps: Counter[tuple[int, str]] = Counter()  # the line said its send began, no outcome written
    unsent: set[tuple[int, str]] = set()
    address: dict[int, str] = {}
    for a in _done(ev, *MAIL_OF):
        if a.ticket is None:
            continue
        key = (a.ticket, MAIL_OF[a.kind])
        if a.params.get("mail_sent") is True:
            said[key] += 1
        elif a.params.get("mail_sent") == "perhaps":
            perhaps[key] += 1
        else:
            unsent.add(key)
        if isinstance(a.params.get("mail_to"), str):
            address[a.ticket] = str(a.params["mail_to"])
    got: Counter[tuple[int, str]] = Counter()
    for m in ev.mails:
        for what in set(MAIL_OF.values()):
            if m.ticket is not None and what in m.subject.casefold():
                got[(m.ticket, what)] += 1
                wanted = address.get(m.ticket)
                if wanted is not None and wanted not in m.recipients:
                    r.fail(f"mail '{m.subject}' went to {', '.join(m.recipients)}, not {wanted}", [m.ticket])
    tickets = {t for t, _ in said} | {t for t, _ in unsent} | {t for t, _ in perhaps}
    for key in sorted(set(said) | set(perhaps) | {k for k in got if k[0] in tickets}):
        if not said[key] <= got[key] <= said[key] + perhaps[key]:
            ticket, what = key
            maybe = f" and {perhaps[key]} perhaps" if perhaps[key] else ""
            r.fail(f"'{what}' mails: the line said {said[key]} sent{maybe}, the sink received {got[key]}", [ticket])
    if perhaps:
        r.notes.append(f"{sum(perhaps.values())} mails the line said perhaps went (an engine stopped mid-send)")
    if unsent:
        r.notes.append(f"{len(unsent)} mails the line said it could not send (a fault): none expected in the sink")
    return r


def check_listens_audited(ev: SoakEvidence, view: StoreView) -> CheckResult:
    r = CheckResult("listens_audited", "every recording or message a supervisor played is in the access audit")
    if ev.actions is None:
        r.notes.append(NO_JOURNAL)
        return r
    audited = {(e.action, e.object_id, e.login) for e in view.listens}
    for a in _done(ev, *LISTENED):
        if not any((action, a.object_id, a.user) in audited for action in LISTENED[a.kind]):
            r.fail(f"{a.user} played {a.kind.removeprefix('listen_')} {a.object_id}: not in the access audit",
                   [a.ticket] if a.ticket else [])  # fmt: skip
    return r


@dataclass(frozen=True)
class ClosureWindow:
    """A closure switched on and off, in real time. Each switch took effect at some moment
    between the console's request and its answer (full run 11: rt-3's answer took 15 s, and
    two callers placed in between heard the closure they were judged to be outside of)."""

    ident: str
    on_sent: datetime
    on_done: datetime
    off_sent: datetime
    off_done: datetime


def _windows(ev: SoakEvidence, end: datetime) -> list[ClosureWindow]:
    """Each closure switched on, until it was switched off (or the end)."""
    return switched(ev, K.CLOSURE_ON, K.CLOSURE_OFF, end)


def switched(ev: SoakEvidence, on_kind: str, off_kind: str, end: datetime) -> list[ClosureWindow]:
    """Each thing the driver switched on (a closure, a service notice), named by the record's
    `object_id`, until it was switched off (or `end`)."""
    out = []
    offs = {a.object_id: a for a in _done(ev, off_kind)}
    for on in _done(ev, on_kind):
        if on.object_id is None:
            continue
        off = offs.get(on.object_id)
        off_sent, off_done = (off.sent_at, off.done_at) if off is not None else (end, end)
        out.append(ClosureWindow(on.object_id, on.sent_at, on.done_at, off_sent, off_done))
    return out


def fault_spans(ev: SoakEvidence) -> list[tuple[datetime, datetime]]:
    """Each fault from its first record to its next of the same name (undone), else a minute."""
    spans: list[tuple[datetime, datetime]] = []
    open_at: dict[str, datetime] = {}
    for f in sorted(ev.faults, key=lambda f: f.at):
        if f.name in open_at:
            spans.append((open_at.pop(f.name), f.at))
        else:
            open_at[f.name] = f.at
    spans += [(at, at + timedelta(seconds=60)) for at in open_at.values()]
    return spans


def _near_fault(spans: list[tuple[datetime, datetime]], at: datetime) -> bool:
    """A fault on from just before the call until its hours check could have been held up."""
    low, high = at - timedelta(seconds=CLOSURE_SETTLE_S), at + timedelta(seconds=FAULT_REACH_S)
    return any(start <= high and end >= low for start, end in spans)


def check_closures(ev: SoakEvidence, view: StoreView) -> CheckResult:
    r = CheckResult("closures", "callers during a closure get its treatment (their ticket names it), no one else")
    if ev.actions is None:
        r.notes.append(NO_JOURNAL)
        return r
    ends = [c.ended_at or c.placed_at for c in ev.journal]
    windows = _windows(ev, max(ends) if ends else ev.ended_at)
    unsure = judged = 0
    spans = fault_spans(ev)
    for call, t in single_tickets(ev, view):
        if not call.answered:
            continue
        settle, reach = timedelta(seconds=CLOSURE_SETTLE_S), timedelta(seconds=CLOSURE_REACH_S)
        for w in windows:
            ident = w.ident
            inside = w.on_done + settle <= call.placed_at <= w.off_sent - reach
            outside = call.placed_at < w.on_sent - reach or call.placed_at > w.off_done + settle
            if inside and (_near_fault(spans, call.placed_at) or t.line_state is None):
                unsure += 1  # a fault may have held the call past the closure's end; or it left before the check
                continue
            judged += inside
            if inside and (t.line_state != "closure" or t.closure_id != ident):
                r.fail(f"called during closure {ident}; the ticket says {t.line_state} ({t.closure_id})", [t.id],
                       (call.caller,))  # fmt: skip
            elif outside and t.closure_id == ident:
                r.fail(f"called outside closure {ident}; the ticket names it", [t.id], (call.caller,))
    if unsure:
        r.notes.append(
            f"{unsure} calls during a closure placed near a fault or gone before the hours check: not judged"
        )
    r.notes.append(f"{len(windows)} closures switched on, {judged} calls during them judged")
    return r


def check_presence(ev: SoakEvidence, view: StoreView) -> CheckResult:
    r = CheckResult("presence", "an operator paused or logged out is offered no call until available again")
    if ev.actions is None:
        r.notes.append(NO_JOURNAL)
        return r
    away: dict[str, list[tuple[datetime, datetime | None, str]]] = defaultdict(list)
    for a in sorted(ev.actions, key=lambda a: a.sent_at):
        if a.operator is None:
            continue
        spans = away[a.operator]
        if a.done and a.kind in (K.PAUSE, K.LOGOUT) and (not spans or spans[-1][1] is not None):
            spans.append((a.line_time(a.done_at) + timedelta(seconds=PRESENCE_SLACK_S), None, a.kind))
        elif a.kind == K.AVAILABLE and spans and spans[-1][1] is None:
            spans[-1] = (spans[-1][0], a.line_time(a.sent_at), spans[-1][2])  # tried: from here it may be offered
    for tid, events in view.events.items():
        for e in events:
            login = (e.detail or {}).get("operator") if e.kind == "offer" else None
            for start, end, why in away.get(str(login), []) if login else []:
                if start <= e.at and (end is None or e.at < end):
                    r.fail(f"offered to {login} at {e.at:%H:%M:%S}, {why} since {start:%H:%M:%S}", [tid])
    return r


def check_outcomes_filed(ev: SoakEvidence, view: StoreView) -> CheckResult:
    r = CheckResult("outcomes_filed", "every outcome filed at the desk is on its ticket, once, and in the audit")
    if ev.actions is None:
        r.notes.append(NO_JOURNAL)
        return r
    filed = _done(ev, OUTCOME)
    for ticket, n in Counter(a.ticket for a in filed).items():
        if n > 1:
            r.fail(f"the desk offered ticket {ticket} to file {n} times", [ticket or 0])
    for a in filed:
        t = view.tickets.get(a.ticket or -1)
        outcome, article = a.params.get("outcome"), a.params.get("article")
        if t is None:
            r.fail(f"outcome {outcome} filed for ticket {a.ticket}, which does not exist", [a.ticket or 0])
            continue
        said = [e.detail or {} for e in view.events_of(t.id, "outcome_filed")]
        if not any(d.get("outcome") == outcome for d in said):
            r.fail(f"outcome {outcome} filed by {a.operator}, not on the ticket's timeline", [t.id])
        elif article is not None and t.kb_article_id != article:
            r.fail(f"resolved with article {article}, the ticket names {t.kb_article_id}", [t.id])
        elif outcome == "escalated" and t.level != 2:
            r.fail(f"escalated at the desk, the ticket is at level {t.level}", [t.id])
        elif outcome in ("resolved", "referred") and t.status != outcome:
            r.fail(f"{outcome} at the desk, the ticket's status is {t.status}", [t.id])
    # One path for every surface: an outcome on a timeline was filed through it, so it is audited.
    audited = Counter(e.object_id for e in view.filings)
    for tid, events in sorted(view.events.items()):
        on_timeline = sum(e.kind == "outcome_filed" for e in events)
        if on_timeline > audited.get(str(tid), 0):
            r.fail(f"{on_timeline} outcome(s) on the timeline, {audited.get(str(tid), 0)} in the audit log", [tid])
    with_article = sum(1 for a in filed if a.params.get("article") is not None)
    r.notes.append(f"{len(filed)} outcomes filed, {with_article} with an article")
    return r


def check_second_level(ev: SoakEvidence, view: StoreView) -> CheckResult:
    """25. The second level's round: each call an operator recorded in the console is on its
    ticket (an attempt by that operator, with that result; answered meets the commitment), and the
    console refused none of the open callbacks it listed."""
    r = CheckResult("second_level", "each callback the second level worked is recorded on its ticket")
    if ev.actions is None:
        r.notes.append(NO_JOURNAL)
        return r
    kind = str(K.SECOND_LEVEL_ROUND)
    worked = [a for a in ev.actions if a.kind == kind and a.ticket is not None]
    for a in worked:
        if a.result is ActionResult.REFUSED:
            r.fail(f"the console refused the second level's work on it ({a.status}: {a.answer})", [a.ticket or 0])
    for a in (a for a in worked if a.done):
        result = a.params.get("result")
        mine = [x for x in view.attempts if x.ticket_id == a.ticket and x.operator == a.operator and x.result == result]
        if not mine:
            r.fail(f"{a.operator} recorded the call ({result}), the ticket has no such attempt", [a.ticket or 0])
            continue
        t = view.tickets.get(a.ticket or -1)
        if result == "answered" and (t is None or t.sla_met_at is None):
            r.fail(f"{a.operator} reached the citizen, the ticket's commitment is not met", [a.ticket or 0])
    done = sum(1 for a in worked if a.done)
    r.notes.append(f"{done} callbacks worked by the second level, {len(worked) - done} not")
    return r
