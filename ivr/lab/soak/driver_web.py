"""The soak driver's citizens and supervisor: web requests on the public form, their answers and
escalations in the console's request pages, listens to recordings and voicemail, closures."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Awaitable, Callable

from ivr.lab.soak import driver_pages as pages
from ivr.lab.soak.action_journal import ActionRecord, ActionResult, Param
from ivr.lab.soak.actions import Action, ActionKind
from ivr.lab.soak.driver import ActionDriver, Attempt

Handler = Callable[[ActionDriver, Action], Awaitable[ActionRecord]]
FORM = "/richiesta"
REVIEW = "review"  # a record of its own, after the listen it follows (no action of the plan)
REVIEW_MARK = re.compile(r'name="c_([a-z0-9_]+)"')  # the review form's radio groups, one per criterion
SCANNED = 40  # the newest tickets' pages looked at for a recording (the newest calls are still up)
MAIL_READS, MAIL_READ_EVERY_S = 20, 2.0  # an e-mail's fate is written within the mail timeout (mail.timeout_s)
REPLY = (
    "Gentile utente, grazie per la domanda. Può iscriversi al centro per l'impiego anche online, "
    "con SPID. Se ha bisogno di aiuto, ci chiami al numero verde. Cordiali saluti."
)


def address_of(ref: str) -> str:
    """Each citizen on an address of their own (127.0.0.0/8), as separate people are."""
    n = int("".join(c for c in ref if c.isdigit()) or "0")
    return f"127.0.{n // 250 + 1}.{n % 250 + 2}"


def email_of(ref: str) -> str:
    return f"{ref}@cittadini.example.it"


async def web_request(d: ActionDriver, a: Action) -> ActionRecord:
    """A citizen opens the form, fills it in and sends it; with no answer (the line down, a 503,
    a post still unanswered after the browser's 20 s) they send the same form again, as a
    browser does and a person pressing "Invia" again does. The form's token makes that safe:
    the line answers with the request it filed (200), and the checker holds the store to one
    request per citizen (full run 6 filed web-0050 twice when the first post's answer was lost)."""
    ref = str(a.params["ref"])
    source = address_of(ref)
    data = {
        "name": "Cittadina Prova",
        # The form asks for an e-mail address in every case (ivr.webrequests.form): a plan's
        # "no e-mail" request is filed with one all the same, and a phone number beside it.
        "email": email_of(ref),
        "phone": "" if a.params.get("email", True) else "3471234567",
        "topic": str(a.params.get("topic", "citizens")),
        "subject": f"Domanda {ref}",
        "message": "Vorrei sapere come iscrivermi al centro per l'impiego e quali documenti servono.",
        "privacy": "on",
    }
    mail_to = {"mail_to": data["email"]}  # whose request it is, whatever became of it
    try:
        opened = await d.attempt(lambda: d.console.citizen_page(source, FORM), retry=True)
        if opened.answer is None or opened.why or opened.answer.status != 200:
            return d.judged(a, opened, (), user=source, params=mail_to)
        token = pages.form_token(opened.answer.text)
        if token is not None:
            data["request_token"] = token
        tried = await d.attempt(lambda: d.console.citizen(source, FORM, data), retry=True)
        got = pages.received(tried.answer.text) if tried.answer is not None and not tried.why else None
        if got is None:
            return d.judged(a, tried, (), user=source, params=mail_to)
        ticket, receipt = got
        d.state.requests[ref] = ticket
        assert tried.answer is not None
        again = tried.answer.status == 200  # an earlier post of this form had filed it
        return d.judged(
            a, tried, (200, 201), ticket=ticket, user=source,
            params={**mail_to, "mail_sent": receipt, "filed_before": again},
        )  # fmt: skip
    finally:
        d.state.event(d.state.request_done, ref).set()


async def _request_ticket(d: ActionDriver, a: Action) -> int | None:
    ref = str(a.params["ref"])
    await d.state.event(d.state.request_done, ref).wait()  # its filing may still be retried
    return d.state.requests.get(ref)


async def web_answer(d: ActionDriver, a: Action) -> ActionRecord:
    """A reply (first or second level) or an escalation, from the request's page."""
    ticket = await _request_ticket(d, a)
    if ticket is None:
        return d.skipped(a, "the request was never filed")
    if a.kind is ActionKind.WEB_SECOND_REPLY and str(a.params["ref"]) not in d.state.escalated:
        return d.skipped(a, "the request never reached the second level", ticket=ticket)
    escalate = a.kind is ActionKind.WEB_ESCALATE
    path = f"/console/requests/{ticket}/{'escalate' if escalate else 'reply'}"
    data = {"note": "Serve il parere del secondo livello."} if escalate else {"reply": REPLY}
    user = d.cast.supervisor
    tried = await d.attempt(lambda: d.console.post(user, path, data), retry=True)
    said = pages.message(tried.answer.location) if tried.answer is not None else ""
    sent = said in ("request_replied", "request_escalated")
    record = d.judged(a, tried, (303,), said, ticket=ticket, user=user, params={"mail_sent": sent})
    if record.result is ActionResult.REFUSED and tried.attempts > 1:
        record = await _went_through(d, a, tried, ticket) or record
    if record.done and escalate:
        d.state.escalated.add(str(a.params["ref"]))
    return record


async def _went_through(d: ActionDriver, a: Action, tried: Attempt, ticket: int) -> ActionRecord | None:
    """A refusal ("answered already", "at the second level already") after tries that got no
    answer: one of them may have gone through, its answer lost (full run 6, tickets 2397 and
    2522: the driver gave up on a post after 20 s, the console stored the reply and e-mailed the
    citizen a moment later, and the post sent again was refused). As a person would, the driver
    reads the request's page: if it shows this very reply (or the escalation), the action was
    done, and the page says whether the e-mail went, waiting while it is not written yet.
    Anything else leaves the refusal as it was."""
    user, path, escalate = d.cast.supervisor, f"/console/requests/{ticket}", a.kind is ActionKind.WEB_ESCALATE
    for _ in range(MAIL_READS):
        page = await d.attempt(lambda: d.console.get(user, path), retry=True)
        if page.answer is None or page.why or page.answer.status != 200:
            return None
        seen = pages.request_state(page.answer.text)
        if not (seen.second_level if escalate else (seen.replied_by == user and seen.reply == REPLY)):
            return None
        mailed = seen.notice_mail if escalate else seen.reply_mail
        if isinstance(mailed, bool):
            break
        await asyncio.sleep(MAIL_READ_EVERY_S)
    fate = {True: "went", False: "did not go", None: "is not written yet", "perhaps": "perhaps went"}[mailed]
    note = f"an earlier try went through, its answer lost; the page says the e-mail {fate}"
    return d.record(
        a, tried.sent_at, ActionResult.DONE, page.answer, note, attempts=tried.attempts, ticket=ticket, user=user,
        params={"mail_sent": mailed if mailed == "perhaps" else mailed is True, "answer_lost": True},
    )  # fmt: skip


async def _get(d: ActionDriver, user: str, path: str) -> Attempt:
    return await d.attempt(lambda: d.console.get(user, path), retry=False)


async def listen_voicemail(d: ActionDriver, a: Action) -> ActionRecord:
    user = d.cast.supervisor
    tried = await d.attempt(lambda: d.console.get(user, "/console/voicemail"), retry=False)
    if tried.answer is None or tried.why or tried.answer.status != 200:
        return d.judged(a, tried, (), user=user)
    fresh = [m for m in pages.ids(pages.MESSAGE_LINK, tried.answer.text) if m not in d.state.heard_messages]
    if not fresh:
        return d.skipped(a, "no message not yet heard", user=user)
    message = fresh[-1]  # the latest
    d.state.heard_messages.add(message)
    played = await d.attempt(lambda: d.console.get(user, f"/console/voicemail/{message}/audio"), retry=False)
    return d.judged(a, played, (200,), user=user, object_id=str(message))


async def listen_recording(d: ActionDriver, a: Action) -> ActionRecord:
    """The latest call recording not yet heard, found on the newest tickets' pages (as a
    supervisor finds one: there is no list of recordings)."""
    user = d.cast.supervisor
    tried = await d.attempt(lambda: d.console.get(user, "/console/tickets?channel=phone"), retry=False)
    if tried.answer is None or tried.why or tried.answer.status != 200:
        return d.judged(a, tried, (), user=user)
    for ticket in reversed(pages.ids(pages.TICKET_LINK, tried.answer.text)[-SCANNED:]):
        page = await _get(d, user, f"/console/tickets/{ticket}")
        if page.answer is None or page.why:
            return d.judged(a, page, (), user=user)
        fresh = [r for r in pages.ids(pages.RECORDING_AUDIO, page.answer.text) if r not in d.state.heard_recordings]
        if fresh:
            recording = fresh[-1]
            d.state.heard_recordings.add(recording)
            played = await _get(d, user, f"/console/recordings/{recording}/audio")
            heard = d.judged(a, played, (200,), user=user, ticket=ticket, object_id=str(recording))
            if heard.done:  # then scored, as a quality campaign's supervisor does (check 32)
                d.journal.append(await review_recording(d, a, user, ticket, recording))
            return heard
    return d.skipped(a, f"no recording not yet heard on the newest {SCANNED} tickets", user=user)


async def review_recording(d: ActionDriver, a: Action, user: str, ticket: int, recording: int) -> ActionRecord:
    """The review form as the page offers it (its criteria's radio groups), each criterion given a
    mark from the recording's number, so the checker knows every mark posted."""
    form = await _get(d, user, f"/console/reviews/{recording}")
    if form.answer is None or form.why or form.answer.status != 200:
        return d.judged(a, form, (), kind=REVIEW, user=user, ticket=ticket, object_id=str(recording))
    keys = list(dict.fromkeys(REVIEW_MARK.findall(form.answer.text)))
    marks: dict[str, Param] = {f"c_{key}": 1 + (recording + n) % 5 for n, key in enumerate(keys)}
    data = {name: str(mark) for name, mark in marks.items()} | {"comment": f"soak {recording}"}
    tried = await d.attempt(lambda: d.console.post(user, f"/console/reviews/{recording}", data), retry=True)
    return d.judged(a, tried, (303,), kind=REVIEW, user=user, ticket=ticket, object_id=str(recording), params=marks)


async def closure_on(d: ActionDriver, a: Action) -> ActionRecord:
    ref, user = str(a.params["ref"]), d.cast.supervisor
    data = {"mode": "now", "reason": f"{a.params.get('reason', 'Chiusura')} [{ref}]"}
    try:
        tried = await d.attempt(lambda: d.console.post(user, "/console/closures", data), retry=True)
        if tried.answer is None or tried.why or tried.answer.status != 303:
            return d.judged(a, tried, (), user=user)
        listing = await d.attempt(lambda: d.console.get(user, "/console/closures"), retry=True)
        found = pages.closure_id(listing.answer.text, ref) if listing.answer is not None else None
        if found is None:  # switched on (the line said so) but not listed: the checker is told
            return d.record(
                a, tried.sent_at, ActionResult.DONE, tried.answer, "saved, not found in the list", user=user
            )
        d.state.closures[ref] = found
        return d.judged(a, tried, (303,), pages.message(tried.answer.location), user=user, object_id=f"rt-{found}")
    finally:
        d.state.event(d.state.closure_done, ref).set()


async def switch_off(
    d: ActionDriver, a: Action, done: dict[str, asyncio.Event], live: dict[str, int], path: str, ident: str
) -> ActionRecord:
    """The end of what the supervisor switched on (a closure, a notice: `live` by the plan's ref),
    once its start was decided; `path` takes its id; forgotten when the console ended it."""
    ref, user = str(a.params["ref"]), d.cast.supervisor
    await d.state.event(done, ref).wait()
    found = live.get(ref)
    if found is None:
        return d.skipped(a, f"{a.kind.removesuffix('_off')} {ref}: never switched on", user=user)
    tried = await d.attempt(lambda: d.console.post(user, path.format(found), {}), retry=True)
    record = d.judged(a, tried, (303,), user=user, object_id=f"{ident}-{found}")
    if record.done:
        live.pop(ref, None)
    return record


async def closure_off(d: ActionDriver, a: Action) -> ActionRecord:
    return await switch_off(d, a, d.state.closure_done, d.state.closures, "/console/closures/{}/end", "rt")


async def lift(d: ActionDriver, kind: ActionKind, live: dict[str, int], off: Handler) -> None:
    """At the end, nothing the soak switched on stays on (one whose end failed is tried again)."""
    for ref in list(live):
        action = Action(kind=kind, at_s=d.actions[-1].at_s if d.actions else 0.0, params={"ref": ref})
        d.journal.append(await off(d, action))


async def lift_closures(d: ActionDriver) -> None:
    await lift(d, ActionKind.CLOSURE_OFF, d.state.closures, closure_off)


WEB_HANDLERS: dict[ActionKind, Handler] = {
    ActionKind.WEB_REQUEST: web_request,
    ActionKind.WEB_REPLY: web_answer,
    ActionKind.WEB_ESCALATE: web_answer,
    ActionKind.WEB_SECOND_REPLY: web_answer,
    ActionKind.LISTEN_RECORDING: listen_recording,
    ActionKind.LISTEN_VOICEMAIL: listen_voicemail,
    ActionKind.CLOSURE_ON: closure_on,
    ActionKind.CLOSURE_OFF: closure_off,
}
