"""Invariants over what the store keeps: audio (5, 6), callbacks and dial-out (8), commitments and
mail (9), and the line left clean after draining (10)."""

from __future__ import annotations

import hashlib
import re
import sqlite3
from collections import Counter, defaultdict
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from ivr.dialout.guard import NumberRefused, check
from ivr.lab.soak.checks_actions import fault_spans
from ivr.lab.soak.checks_calls import single_tickets
from ivr.lab.soak.evidence import SoakEvidence
from ivr.lab.soak.store_view import StoreView
from ivr.lab.soak.verdict import CheckResult
from ivr.schema.tickets import Ticket

FINAL_CALLBACK = ("completed", "unreachable", "escalated")


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def check_audio(ev: SoakEvidence, view: StoreView) -> CheckResult:
    r = CheckResult("voicemail_audio", "every message has its audio with its checksum; no audio without a row")
    spans = fault_spans(ev)
    calls = {t.id: call for call, t in single_tickets(ev, view)}  # the carrier's own (real) times
    for vm in view.voicemails:
        if vm.recording_id is None:
            if vm.transcript_status == "lost" and _during_fault(
                calls.get(vm.ticket_id), spans, view.tickets.get(vm.ticket_id)
            ):
                r.notes.append(f"message {vm.id}: Asterisk lost its audio in a fault; the message says so (lost)")
            elif not vm.empty:
                r.fail(f"message {vm.id} has no audio", [vm.ticket_id])
            continue
        rec = view.recordings.get(vm.recording_id)
        if rec is None:
            r.fail(f"message {vm.id} names recording {vm.recording_id}, which does not exist", [vm.ticket_id])
            continue
        path = Path(rec.path)
        if not path.is_file():
            r.fail(f"message {vm.id}: audio file missing: {path}", [vm.ticket_id])
        elif _sha256(path) != rec.sha256:
            r.fail(f"message {vm.id}: audio file {path} does not match its stored sha256", [vm.ticket_id])
    for ticket_id, events in view.events.items():
        # A conversation's recording, once started, is kept or said failed by some engine, even
        # one that took the call over after the engine recording it was killed (ivr.recordings.left).
        started = sum(e.kind == "recording_started" for e in events)
        ended = sum(e.kind in ("recording_kept", "recording_failed") for e in events)
        if started > ended:
            r.fail(f"{started - ended} conversation recording(s) started, neither kept nor failed", [ticket_id])
    known = {Path(p).resolve() for rec in view.recordings.values() for p in (rec.path, rec.web_path) if p}
    for folder in (ev.voicemail_dir, ev.recordings_dir):
        if not folder.is_dir():
            r.notes.append(f"audio folder {folder} does not exist")
            continue
        for path in sorted(folder.rglob("*")):
            if path.is_file() and not path.name.startswith(".") and path.resolve() not in known:
                r.fail(f"audio file without a row: {path}")
    return r


def _during_fault(call: Any, spans: list[tuple[datetime, datetime]], ticket: Ticket | None = None) -> bool:
    """The call (as the carrier saw it: faults are timed on the real clock, tickets on the
    engines' simulated one) overlapped a fault. A withheld number pairs with no call of the
    journal (full run 11, message 237: an anonymous caller cut 1.2 s into the message by an
    Asterisk restart); its ticket's channel id carries the real second Asterisk made it."""
    if call is not None:
        start, end = call.placed_at, call.ended_at or call.placed_at
    elif ticket is not None and (made := _channel_made(ticket.call_uid)) is not None:
        lasted = (ticket.ended_at - ticket.started_at) if ticket.ended_at is not None else timedelta(0)
        start, end = made, made + max(lasted, timedelta(0)) + timedelta(seconds=1)
    else:
        return False
    return any(low <= end and high >= start for low, high in spans)


def _channel_made(uid: str | None) -> datetime | None:
    """The real time in an Asterisk channel id (`<system>-<unix seconds>.<sequence>`)."""
    found = re.search(r"-(\d{9,11})\.\d+$", uid or "")
    return datetime.fromtimestamp(int(found.group(1)), UTC) if found else None


# The charter's missed call, written out here again (not imported: the product's rule is what is
# checked): it ended without an operator and without a message to call back on, because the caller
# gave up waiting, the cap refused it, nobody was logged in, or the line was closed.
MISSED_QUEUE_RESULTS = {"abandoned", "max_wait", "caller_choice", "cap", "no_operators"}
LATE_LISTING_S = 120.0  # the sweep lists a call whose note was lost within a minute or two


def _missed(t: Any, message: Any) -> bool:
    if t.channel != "phone" or t.open or t.operator_answered_at is not None:
        return False
    if message is not None and not (message.empty and message.callback_number is None):
        return False
    if t.queue_result is not None:
        return t.queue_result in MISSED_QUEUE_RESULTS
    return t.line_state not in (None, "open")


def check_missed(ev: SoakEvidence, view: StoreView) -> CheckResult:
    r = CheckResult("missed_calls", "every call that reached nobody and left nothing is on the missed-calls list, once")
    messages = {vm.ticket_id: vm for vm in view.voicemails}
    listed = Counter(m.ticket_id for m in view.missed)
    expected = {t.id for t in view.tickets.values() if _missed(t, messages.get(t.id))}
    heard = {t.id for call, t in single_tickets(ev, view) if call.heard_operator}
    for tid in sorted(expected - set(listed)):
        ended = view.tickets[tid].ended_at
        if ended is not None and (ev.ended_at - ended).total_seconds() < LATE_LISTING_S:
            r.notes.append(f"ticket {tid}: missed, ended too near the end to be listed yet")
            continue
        r.fail(f"a missed call ({view.tickets[tid].queue_result or view.tickets[tid].line_state}) is not listed", [tid])
    for tid in sorted(set(listed) - expected):
        r.fail("listed as missed, yet the ticket shows an operator or a message to call back on", [tid])
    for tid, n in sorted(listed.items()):
        if n > 1:
            r.fail(f"listed {n} times", [tid])
        if tid in heard:
            r.fail("listed as missed, yet the caller heard an operator", [tid])
    reached = {a.ticket_id: a.at for a in view.attempts if a.result == "answered"}
    for m in view.missed:
        if m.ticket_id in reached and m.done_at is None:
            r.fail("called back and answered, yet still to do on the missed-calls list", [m.ticket_id])
    called_back = sum(1 for m in view.missed if m.ticket_id in reached)
    r.notes.append(f"{len(expected)} missed calls, {len(listed)} listed, {called_back} called back and answered")
    return r


def check_consent(ev: SoakEvidence, view: StoreView) -> CheckResult:
    r = CheckResult("recording_consent", "calls recorded only with consent accepted")
    for rec in view.recordings.values():
        t = view.tickets.get(rec.ticket_id)
        if rec.kind == "call" and (t is None or t.consent != "accepted"):
            r.fail(f"recording {rec.id} of a call without consent ({t.consent if t else 'no ticket'})", [rec.ticket_id])
    pressed = {t.id: call.consent_key for call, t in single_tickets(ev, view)}  # the witness, not the ticket
    for rec in view.recordings.values():
        if rec.kind == "call" and rec.ticket_id in pressed and pressed[rec.ticket_id] != "1":
            key = pressed[rec.ticket_id] or "nothing"
            r.fail(f"recording {rec.id} of a caller who pressed {key} at the consent notice", [rec.ticket_id])
    for tid, events in view.events.items():
        t = view.tickets.get(tid)
        started = [e for e in events if e.kind == "recording_started"]
        if started and (t is None or t.consent != "accepted"):
            r.fail("a recording was started on a call without consent", [tid])
    return r


def check_callbacks(ev: SoakEvidence, view: StoreView) -> CheckResult:
    r = CheckResult("callbacks", "callbacks dialled or closed with a reason; one leg at a time; no refused number")
    for q in view.queued_callbacks:
        tries = view.events_of(q.ticket_id, "callback_try")
        if q.state not in FINAL_CALLBACK:
            r.fail(f"queued callback {q.id} left {q.state}: neither dialled to the end nor closed", [q.ticket_id])
        elif q.state in ("completed", "unreachable") and not tries:
            r.fail(f"queued callback {q.id} is {q.state} without any attempt on its timeline", [q.ticket_id])
        elif q.state == "escalated" and not view.events_of(q.ticket_id, "callback_escalated"):
            r.fail(f"queued callback {q.id} escalated without saying so on its timeline", [q.ticket_id])
        numbers = Counter(e.detail.get("attempt") for e in tries if e.detail)
        repeated = sorted(str(n) for n, c in numbers.items() if c > 1)
        if repeated:
            r.fail(f"queued callback {q.id}: attempt {', '.join(repeated)} made twice", [q.ticket_id])
        open_leg = False
        for e in view.events.get(q.ticket_id, []):
            if e.kind == "callback_connected":
                if open_leg:
                    r.fail(f"queued callback {q.id}: a second leg connected while one was up", [q.ticket_id])
                open_leg = True
            elif e.kind == "callback_try":
                open_leg = False
    attempts: dict[int, int] = defaultdict(int)
    for a in view.attempts:
        attempts[a.ticket_id] += 1
    for t in view.tickets.values():
        if t.channel != "phone" or t.level != 2 or t.callback_due is None or t.callback_due > ev.ended_at:
            continue
        closed_with_reason = t.status == "closed" and bool(t.resolution_note)
        if not attempts.get(t.id) and not closed_with_reason:
            r.fail(f"second-level callback due {t.callback_due:%Y-%m-%d %H:%M} never dialled nor closed", [t.id])
    for d in view.dials:
        if d.action != "dial_out" or not d.object_id:
            continue
        try:
            check(d.object_id, ev.dialout)
        except NumberRefused as exc:
            ticket = (d.detail or {}).get("ticket")
            r.fail(f"dialled a refused number ({exc.reason})", [int(ticket)] if ticket else [], (d.object_id,))
    r.notes.append("refused numbers judged with the product's own rule (ivr.dialout.guard.check)")
    return r


def check_web_and_mail(ev: SoakEvidence, view: StoreView) -> CheckResult:
    r = CheckResult("web_and_mail", "web requests answered or flagged by their due time; each e-mail sent once")
    for t in view.tickets.values():
        if t.channel != "web" or t.callback_due is None or t.callback_due > ev.ended_at:
            continue
        met = t.sla_met_at is not None and t.sla_met_at <= t.callback_due
        # Flagged: the flag now, or an earlier one on the timeline (an answer given late clears it)
        flagged = t.sla_flag == "overdue" or bool(view.events_of(t.id, "sla_overdue"))
        if not met and not flagged:
            r.fail(f"web request due {t.callback_due:%Y-%m-%d %H:%M} neither answered in time nor flagged", [t.id])
    if ev.mails is None:
        r.notes.append("no SMTP sink record given: e-mails not checked")
        return r
    ids = Counter(m.message_id for m in ev.mails)
    for message_id, n in ids.items():
        if n > 1:
            tickets = sorted({m.ticket for m in ev.mails if m.message_id == message_id and m.ticket is not None})
            r.fail(f"mail {message_id} received {n} times", tickets)
    received: Counter[int] = Counter(m.ticket for m in ev.mails if m.ticket is not None)
    sent, perhaps = _mails_of(view)
    for tid in sorted(set(received) | {t for t, n in sent.items() if n}):
        if not sent[tid] <= received[tid] <= sent[tid] + perhaps[tid]:
            maybe = f" ({perhaps[tid]} more perhaps)" if perhaps[tid] else ""
            r.fail(f"{sent[tid]} mails sent by the store's account{maybe}, {received[tid]} received", [tid])
    return r


def _mails_of(view: StoreView) -> tuple[Counter[int], Counter[int]]:
    """Per ticket, the e-mails its timeline says went, and those it says perhaps went: a send's
    intent (`sending`, written before it) with no outcome after it, an engine stopped between the
    two (ivr.tickets.events.mail_sending)."""
    sent: Counter[int] = Counter()
    perhaps: Counter[int] = Counter()
    for tid, events in view.events.items():
        begun: Counter[str] = Counter()
        for e in events:
            if not e.kind.startswith("mail_"):
                continue
            detail = e.detail or {}
            if detail.get("sending"):
                begun[e.kind] += 1
            else:  # an outcome: the intent before it, if any, is answered
                if begun[e.kind]:
                    begun[e.kind] -= 1
                if detail.get("sent") is True:
                    sent[tid] += 1
        perhaps[tid] += sum(begun.values())
    return sent, perhaps


def check_drained(ev: SoakEvidence, view: StoreView) -> CheckResult:
    r = CheckResult("drained", "after draining: no open ticket, no channel or bridge, every engine's outbox empty")
    still_open = [t.id for t in view.tickets.values() if t.open]
    if still_open:
        r.fail(f"{len(still_open)} tickets still open", still_open)
    if ev.asterisk is None:
        r.notes.append("Asterisk's state not given: channels and bridges not checked")
    else:
        if ev.asterisk.channels:
            r.fail(f"{ev.asterisk.channels} channels left in Asterisk")
        if ev.asterisk.bridges:
            r.fail(f"{ev.asterisk.bridges} bridges left in Asterisk")
    if not ev.outboxes:
        r.notes.append("no outbox path given: outbox not checked")
    for path in ev.outboxes:
        _check_outbox(r, path)
    return r


def _check_outbox(r: CheckResult, path: Path) -> None:
    """Nothing waiting and nothing set aside: an engine's outbox (the active one's or not: a fenced
    engine's held the only record of its last calls in full run 8) keeps no write for good."""
    if not path.exists():
        r.notes.append(f"no outbox at {path} (never needed)")
        return
    db = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        pending = int(db.execute("SELECT count(*) FROM pending").fetchone()[0])
        tables = {row[0] for row in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        rejected = db.execute("SELECT command, error FROM rejected").fetchall() if "rejected" in tables else []
    finally:
        db.close()
    if pending:
        r.fail(f"{pending} writes still waiting in the outbox {path}")
    for command, error in rejected:
        r.fail(f"a write the database would not take, set aside in {path}: {command[:200]} ({error})")
