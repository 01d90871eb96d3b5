"""What a person at the soak's browser desk does next, and how the plan's desk step becomes a
filing the desk allows: the pure part of `ivr.lab.soak.desk_operator`, unit-tested on its own."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from ivr.lab.soak.action_journal import OUTCOME, ActionRecord, ActionResult, Param
from ivr.lab.soak.actions import DeskStep
from ivr.webphone.desks import CLOSED_REASON


class Act(StrEnum):
    NOTHING = "nothing"
    WAIT = "wait"  # no desk open and no console ready (a takeover is under way): nothing to do but wait
    GO = "go"  # open the desk on the console that is ready (the proxy's choice)
    LOGIN = "login"  # the login form is shown: the session ended
    RELOAD = "reload"  # the phone stayed unregistered too long: reload the page
    AVAILABLE = "available"  # the engine paused the desk as closed (or it starts logged out): to work


@dataclass(frozen=True)
class Look:
    """What the person sees at the desk, and which console the line's proxy would send them to."""

    here: str | None  # the console the page is on (None: no desk page open)
    ready: str | None  # the console answering ready (the active engine), None during a takeover
    on_login: bool = False
    registered: bool = True
    unregistered_s: float = 0.0  # for how long the phone has shown unregistered
    state: str | None = None  # the desk's "Il mio stato": available, paused, logged_out, ...
    reason: str | None = None  # the pause's reason


def next_act(look: Look, patience_s: float, starting: bool = False) -> Act:
    """One step of a person keeping their desk working; the order matters: a page on a dead
    console cannot log in, and a login form has no phone to wait for. While no console answers
    ready (a takeover, a database outage) an open desk stays as it is: a phone that rings is
    answered whatever the line's health says."""
    if look.ready is None and look.here is None:
        return Act.WAIT
    if look.ready is not None and look.here != look.ready:
        return Act.GO
    if look.on_login:
        return Act.LOGIN
    if not look.registered and look.unregistered_s >= patience_s:
        return Act.RELOAD
    if (starting and look.state == "logged_out") or (look.state == "paused" and look.reason == CLOSED_REASON):
        return Act.AVAILABLE  # a logout or a pause of the plan's (the soak's driver) is left as it is
    return Act.NOTHING


@dataclass(frozen=True)
class Filing:
    """How one call's card is filed on the desk."""

    outcome: str  # resolved or escalated (what the desk's outcome form offers)
    article: int | None = None  # "Risolta con l'articolo N"
    note: str = ""  # what differs from the plan's step, and why
    reason: str | None = None  # the reason for the call chosen on the card (check 30), if the card asks


def filing(step: DeskStep | None, articles: Sequence[int]) -> Filing:
    """The plan's desk step as the desk allows it: an article only when the card lists one for the
    call's topic; a referral (an office searched in the referral panel, another page) is not made
    by the browser desk: filed as resolved, and said so."""
    if step is None:
        return Filing("resolved", note="no desk step left in the plan")
    if step.outcome == "referred":
        return Filing("resolved", note="referral planned; referrals are not made from the browser desk")
    if step.outcome == "resolved" and step.article:
        if articles:
            return Filing("resolved", article=articles[0])
        return Filing("resolved", note="article planned; the desk offered none for the topic")
    if step.outcome == "escalated" and step.article:
        return Filing("escalated", note="article planned; an escalation is filed without one")
    return Filing(step.outcome)


@dataclass
class DeskEvent:
    """Something the person had to do to keep the desk working, or that went wrong at it."""

    at: datetime
    what: str  # an Act, or: answered, filed, not_filed, error
    detail: str = ""


def desk_login(operators: Sequence[str]) -> str | None:
    """Which planned operator sits at the browser desk: the first, once the line has the other two
    kinds of phone too (bench/soak.py gives the last ones a softphone and an answering machine)."""
    return operators[0] if len(operators) >= 3 else None


def filing_record(
    login: str, ticket: int, chosen: Filing | None, sent_at: datetime, done_at: datetime, offset_s: float, why: str = ""
) -> ActionRecord:
    """The browser desk's filing as the action journal keeps the driver's (kind `outcome`), so the
    checker holds every outcome filed, whichever desk, against its ticket. `chosen` None: the card
    could not be filed (`why`)."""
    params: dict[str, Param] = {"via": "browser desk"}
    if chosen is not None:
        params |= {"outcome": chosen.outcome, "article": chosen.article, "reason": chosen.reason}
    return ActionRecord(
        kind=OUTCOME,
        sent_at=sent_at,
        done_at=done_at,
        offset_s=offset_s,
        result=ActionResult.DONE if chosen is not None else ActionResult.FAILED,
        answer=why or (chosen.note if chosen is not None else ""),
        user=login,
        operator=login,
        ticket=ticket,
        params=params,
    )
