"""The second level's daily round, as its people do it in the console: the supervisor lists the
phone callbacks still open (`/console/tickets`, level 2, commitment open), assigns each to an
operator, and the operator records the call they made (answered, or no answer: tried again the next
day). Every ticket worked is one record in the action journal, for the checker to find its attempt
on the ticket; the charter's ten days are judged over all callbacks (check 8, `callbacks`)."""

from __future__ import annotations

import functools

from ivr.lab.soak import driver_pages as pages
from ivr.lab.soak.action_journal import ActionRecord
from ivr.lab.soak.actions import Action
from ivr.lab.soak.driver import ActionDriver

OPEN_CALLBACKS = "/console/tickets?channel=phone&level=2&kind=phone_callback&sla=open&page={page}"
PAGE = 100  # tickets per page of the console's list (ivr.console.supervise)
MAX_PAGES = 50


def result_for(ticket: int) -> str:
    """Two calls in three reach the citizen; the rest are tried again at the next round."""
    return "no_answer" if ticket % 3 == 0 else "answered"


async def open_callbacks(d: ActionDriver, a: Action) -> tuple[list[int], ActionRecord | None]:
    """The open callbacks' tickets, oldest first; or the record of the listing that failed."""
    user, found = d.cast.supervisor, set()
    for page in range(MAX_PAGES):
        tried = await d.attempt(functools.partial(d.console.get, user, OPEN_CALLBACKS.format(page=page)), retry=True)
        if tried.answer is None or tried.why or tried.answer.status != 200:
            return [], d.judged(a, tried, (), user=user)
        listed = pages.ids(pages.TICKET_LINK, tried.answer.text)
        found.update(listed)
        if len(listed) < PAGE:
            break
    return sorted(found), None


async def second_level_round(d: ActionDriver, a: Action) -> ActionRecord:
    tickets, failed = await open_callbacks(d, a)
    if failed is not None:
        return failed
    if not tickets:
        return d.skipped(a, "no phone callback open", user=d.cast.supervisor)
    records = [await _work(d, a, ticket, _staff(d, n)) for n, ticket in enumerate(tickets)]
    for record in records[:-1]:
        d.journal.append(record)
    return records[-1]


def _staff(d: ActionDriver, n: int) -> str:
    """Who works the n-th callback: the operators logged in to the console at that moment (one
    the soak logged out would find the login page: its "done" was a redirect there, 34 attempts
    on no ticket), else the supervisor. Chosen per callback, not per round: a round outlasts an
    operator's logout (run 11: soak06 left at 13:58 and 17 callbacks of that round went to them)."""
    staff = [login for login in d.cast.operators if login in d.state.logged_in] or [d.cast.supervisor]
    return staff[n % len(staff)]


async def _work(d: ActionDriver, a: Action, ticket: int, login: str) -> ActionRecord:
    """One callback: assigned by the supervisor, called by the operator, the call recorded. An
    operator logged out between the assignment and the call hands it to the supervisor, as a
    colleague leaving mid-round would."""
    record = await _work_as(d, a, ticket, login)
    if record.status == 401 and login != d.cast.supervisor and login not in d.state.logged_in:
        record = await _work_as(d, a, ticket, d.cast.supervisor)
    return record


async def _work_as(d: ActionDriver, a: Action, ticket: int, login: str) -> ActionRecord:
    sup = d.cast.supervisor
    assign = functools.partial(d.console.post, sup, f"/console/tickets/{ticket}/assign", {"operator": login})
    assigned = await d.attempt(assign, retry=True)
    if assigned.answer is None or assigned.why or assigned.answer.status != 303:
        return d.judged(a, assigned, (), user=sup, ticket=ticket, operator=login)
    form = {"result": result_for(ticket), "note": "richiamata dal secondo livello"}
    record = functools.partial(d.console.post, login, f"/console/tickets/{ticket}/callback-result", form)
    called = await d.attempt(record, retry=False)  # an attempt recorded twice would be two calls
    return d.judged(a, called, (303,), user=login, ticket=ticket, operator=login, params={"result": form["result"]})
