"""The soak driver's operators at their desk: presence (pause with a reason, available, the end
of wrap-up, logout and login), the call controls of the conversation up longest (hold, blind
transfer, consultation completed or cancelled, a third party), and the outcome of every call they
took, filed from the desk's cards with the plan's desk steps in turn.

Operators here are on outside numbers (ivr.lab.soak.operators): the console's presence and
outcome pages act on the operator whatever their phone, and the call controls act on the bridge
in the engine, so they reach an outside-number conversation too. Who talks and for how long is
the phone's business (the simulated operator hangs up after its own talk time), so a desk step's
`talk_s` is not applied here.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

from ivr.lab.soak import driver_pages as pages
from ivr.lab.soak.action_journal import OUTCOME, ActionRecord, ActionResult
from ivr.lab.soak.actions import Action, ActionKind
from ivr.lab.soak.checks_reasons import reason_for
from ivr.lab.soak.driver import ActionDriver
from ivr.lab.soak.driver_http import Answer, LineDown

Handler = Callable[[ActionDriver, Action], Awaitable[ActionRecord]]
PRESENCE = {ActionKind.PAUSE: "paused", ActionKind.AVAILABLE: "available", ActionKind.LOGOUT: "logged_out"}
# A call is held, passed or joined once the operator has spoken (the caller's ear knows the call
# was answered by that voice, played once a few seconds after the answer: ivr.lab.soak.operators).
TALKED_S = 6.0
REFERRAL_QUERY = "Bologna"  # an office of the directory imported for the soak (config/referrals)


def _state(answer: Answer | None) -> str:
    return str(answer.json.get("state", "")) if answer is not None and isinstance(answer.json, dict) else ""


async def presence(d: ActionDriver, a: Action) -> ActionRecord:
    login = str(a.params["operator"])
    if login not in d.state.logged_in:
        return d.skipped(a, "the operator is not logged in to the console", user=login)
    data = {"presence": PRESENCE[a.kind]}
    if a.kind is ActionKind.PAUSE:
        data["reason"] = str(a.params.get("reason", "Pausa"))
    tried = await d.attempt(lambda: d.console.post(login, "/console/desk/presence", data, as_json=True), retry=False)
    if a.kind is not ActionKind.LOGOUT or tried.answer is None or tried.why or tried.answer.status != 200:
        return d.judged(a, tried, (200,), _state(tried.answer), user=login)
    state = _state(tried.answer)
    out = await d.attempt(lambda: d.console.logout(login), retry=False)
    if out.answer is not None and not out.why and out.answer.status == 303:
        d.state.logged_in.discard(login)
    return d.judged(
        a, tried, (200,), f"{state}; console logout: {out.answer.status if out.answer else out.why}", user=login
    )


async def login(d: ActionDriver, a: Action) -> ActionRecord:
    user = str(a.params["operator"])
    tried = await d.attempt(lambda: d.console.login(user), retry=False)
    record = d.judged(a, tried, (303,), user=user)
    if record.done:
        d.state.logged_in.add(user)
    return record


async def _operators(d: ActionDriver) -> list[dict[str, Any]] | Answer | str:
    """The operators' live states (the queue's own snapshot), or the answer/fault that kept them."""
    try:
        answer = await d.console.queue()
    except LineDown as exc:
        return f"no answer: {exc}"
    if answer.status != 200 or not isinstance(answer.json, dict):
        return answer
    return list(answer.json.get("operators", []))


def _skip_or_fail(d: ActionDriver, a: Action, got: Answer | str) -> ActionRecord:
    if isinstance(got, str):
        return d.record(a, d.clock(), ActionResult.FAILED, None, got)
    return d.record(a, d.clock(), ActionResult.FAILED if got.fault else ActionResult.REFUSED, got)


async def end_wrap_up(d: ActionDriver, a: Action) -> ActionRecord:
    login = str(a.params["operator"])
    got = await _operators(d)
    if not isinstance(got, list):
        return _skip_or_fail(d, a, got)
    state = next((str(o.get("state")) for o in got if o.get("login") == login), "unknown")
    if state != "wrap_up" or login not in d.state.logged_in:
        return d.skipped(a, f"not in wrap-up ({state})", user=login)
    tried = await d.attempt(
        lambda: d.console.post(login, "/console/desk/presence", {"presence": "available"}, as_json=True), retry=False
    )
    return d.judged(a, tried, (200,), _state(tried.answer), user=login)


async def call_control(d: ActionDriver, a: Action) -> ActionRecord:
    """On the conversation up longest (of an operator allowed the command, for a conference)."""
    got = await _operators(d)
    if not isinstance(got, list):
        return _skip_or_fail(d, a, got)
    may = d.cast.conference if a.kind is ActionKind.CONFERENCE else frozenset(d.state.logged_in)
    talking = [
        o
        for o in got
        if o.get("state") == "busy"
        and o.get("login") in may
        and o.get("login") in d.state.logged_in
        and float(o.get("since_s") or 0) >= TALKED_S
    ]
    if not talking:
        return d.skipped(a, f"no conversation up for {TALKED_S:.0f} s (of an operator who may do this)")
    op = max(talking, key=lambda o: float(o.get("since_s") or 0))
    user, ticket = str(op["login"]), op.get("ticket")

    def post(command: str, data: dict[str, str] | None = None) -> Callable[[], Awaitable[Answer]]:
        return lambda: d.console.post(user, f"/console/desk/call/{command}", data or {}, as_json=True)

    extra: dict[str, Any] = {"operator": user, "ticket": ticket if isinstance(ticket, int) else None, "user": user}
    if a.kind is ActionKind.HOLD:
        tried = await d.attempt(post("hold"), retry=False)
        if tried.answer is not None and tried.answer.status == 200:
            await asyncio.sleep(float(a.params.get("hold_s", 5.0)))
            back = await d.attempt(post("resume"), retry=False)
            extra["params"] = {"resumed": back.answer.status if back.answer else back.why}
        return d.judged(a, tried, (200,), **extra)
    if a.kind is ActionKind.TRANSFER:
        tried = await d.attempt(post("transfer", {"topic": str(a.params.get("topic", ""))}), retry=False)
        return d.judged(a, tried, (200,), **extra)
    # Free colleagues first; one in pause is rung all the same (ivr.acd.control), not handed the call.
    free = [o for o in got if o.get("state") in ("available", "paused") and o.get("login") != user]
    colleagues = [str(o["login"]) for o in sorted(free, key=lambda o: o.get("state") != "available")]
    if not colleagues:
        return d.skipped(a, "no colleague free to ring", operator=user)
    other = colleagues[0]
    extra["params"] = {"colleague": other}
    if a.kind is ActionKind.CONFERENCE:
        tried = await d.attempt(post("conference", {"operator": other}), retry=False)
        return d.judged(a, tried, (200,), **extra)
    tried = await d.attempt(post("consult", {"operator": other}), retry=False)
    if tried.answer is None or tried.answer.status != 200:
        return d.judged(a, tried, (200,), **extra)
    ending = "cancel"
    if a.params.get("complete"):
        for _ in range(12):  # the colleague answers (presses 1 at home), then the call is theirs
            await asyncio.sleep(1.0)
            done = await d.attempt(post("complete"), retry=False)
            if done.answer is not None and done.answer.status == 200:
                ending = "complete"
                break
    else:
        await asyncio.sleep(3.0)
    if ending == "cancel":
        end = await d.attempt(post("cancel"), retry=False)
        ending = f"cancel: {end.answer.status if end.answer else end.why}"
    extra["params"] = {"colleague": other, "ended": ending}
    return d.judged(a, tried, (200,), **extra)


async def file_outcomes(d: ActionDriver) -> None:
    """One round: each logged-in operator's cards still to file get the next desk step."""
    for login in sorted(d.state.logged_in - {d.cast.browser_desk}):
        answer = await d.console.get(login, "/console/desk")
        if answer.status != 200:
            continue
        for card in pages.cards(answer.text):
            if card.live or card.ticket in d.state.filed:
                continue
            record = await file_one(d, login, card)
            if record.result is not ActionResult.FAILED:  # a fault's failure is tried again next round
                d.state.filed.add(card.ticket)
            d.journal.append(record)


async def file_one(d: ActionDriver, login: str, card: pages.Card) -> ActionRecord:
    step = d.desk[d.state.desk_turn % len(d.desk)] if d.desk else None
    d.state.desk_turn += 1
    outcome = step.outcome if step is not None else "resolved"
    article = (
        card.articles[0] if step is not None and step.article and outcome == "resolved" and card.articles else None
    )
    base = f"/console/desk/tickets/{card.ticket}"
    sent = d.clock()
    fields: dict[str, Any] = {"kind": OUTCOME, "operator": login, "user": login, "ticket": card.ticket}
    params: dict[str, Any] = {"outcome": outcome, "article": article, "planned_article": bool(step and step.article)}
    # Why the citizen called, chosen on the card before filing (check 30); a refusal here files
    # the call without one, as the line allows (`reasons.required` is off in the soak).
    reason = reason_for(card.ticket)
    said = await d.attempt(
        lambda: d.console.post(login, f"{base}/reason", {"reason": reason}, as_json=True), retry=False
    )
    params["reason"] = reason if said.answer is not None and not said.why and said.answer.status == 200 else None
    if article is not None:
        tried = await d.attempt(
            lambda: d.console.post(login, f"{base}/article", {"article": str(article)}, as_json=True), retry=False
        )
    elif outcome == "referred":
        found = await d.attempt(
            lambda: d.console.get(login, f"{base}/referral?q={REFERRAL_QUERY}", as_json=True), retry=False
        )
        offices = _offices(found.answer)
        if not offices:
            return d.record(None, sent, ActionResult.FAILED if found.why else ActionResult.SKIPPED, found.answer,
                            found.why or "no office found to refer to", params=params, **fields)  # fmt: skip
        params["office"] = offices[0]
        tried = await d.attempt(
            lambda: d.console.post(login, f"{base}/referral", {"office": str(offices[0])}, as_json=True), retry=False
        )
    else:
        data = {"outcome": outcome, "note": "Esito registrato dalla prova di carico."}
        if outcome == "escalated":  # the second level needs the citizen's contact
            data.update(contact_name="Cittadino Prova", answer_by="phone")
            if card.caller.lstrip("+").isdigit():
                data["caller_id_confirmed"] = "yes"
            else:
                data["contact_phone"] = "3471234567"
        tried = await d.attempt(lambda: d.console.post(login, f"{base}/outcome", data, as_json=True), retry=False)
    answer = tried.answer
    result = (
        ActionResult.FAILED
        if answer is None or tried.why
        else (ActionResult.DONE if answer.status == 200 else ActionResult.REFUSED)
    )
    return d.record(None, tried.sent_at, result, answer, tried.why, params=params, **fields)


def _offices(answer: Answer | None) -> list[int]:
    if answer is None or not isinstance(answer.json, dict):
        return []
    return [int(o["id"]) for o in answer.json.get("offices", []) if isinstance(o, dict) and "id" in o]


DESK_HANDLERS: dict[ActionKind, Handler] = {
    ActionKind.PAUSE: presence,
    ActionKind.AVAILABLE: presence,
    ActionKind.LOGOUT: presence,
    ActionKind.LOGIN: login,
    ActionKind.END_WRAP_UP: end_wrap_up,
    ActionKind.HOLD: call_control,
    ActionKind.TRANSFER: call_control,
    ActionKind.CONSULT: call_control,
    ActionKind.CONFERENCE: call_control,
}
