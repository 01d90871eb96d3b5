"""The soak driver's supervisor on a live call: the team leader (a supervisor whose console user
is linked to their own operator account, the softphone that answers by itself) follows the
conversation up longest with the wallboard's commands: listening, then coaching, then leaving.
Check 34 holds each session against the audit log and the call's ticket
(`ivr.lab.soak.checks_supervision`).

Never joining in: the leader's softphone says their name, and the caller's ear would take a
caller who heard it for one reached by a second operator.

The leader's phone also takes queue calls; on a busy line it was never free at the planned moment
(every short soak skipped the session), so the leader does what a team leader on calls does:
pauses (`SET_ASIDE`), the current call, if any, ends as usual, and the phone is free to ring;
back to available after the session, unless they were paused already."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any

from ivr.lab.soak.action_journal import ActionRecord
from ivr.lab.soak.actions import Action, ActionKind
from ivr.lab.soak.driver import ActionDriver, Attempt
from ivr.lab.soak.driver_desk import TALKED_S, _operators, _skip_or_fail
from ivr.lab.soak.driver_http import Answer

FREE = ("available", "paused")  # the leader's phone may ring: not on a call of their own
SET_ASIDE = "Supervisione"  # the pause's reason while the leader follows a call
POLL_S = 1.0


def _outcome(tried: Attempt) -> str | int:
    return tried.answer.status if tried.answer is not None and not tried.why else tried.why


async def supervise(d: ActionDriver, a: Action) -> ActionRecord:
    leader = min(d.cast.conference, default=None)
    if leader is None or leader not in d.state.logged_in:
        return d.skipped(a, "no team leader logged in to the console")
    got = await _operators(d)
    if not isinstance(got, list):
        return _skip_or_fail(d, a, got)
    was = next((str(o.get("state")) for o in got if o.get("login") == leader), "unknown")
    if was != "paused":
        await _presence(d, leader, {"presence": "paused", "reason": SET_ASIDE})
    try:
        return await _follow(d, a, leader)
    finally:
        if was != "paused" and await _still_set_aside(d, leader):
            await _presence(d, leader, {"presence": "available"})


async def _still_set_aside(d: ActionDriver, leader: str) -> bool:
    """Whether the leader's pause is still the one for the session: a pause of the plan's own
    that came meanwhile is left for the plan's return to available."""
    got = await _operators(d)
    if not isinstance(got, list):
        return True  # unknown: the leader goes back to taking calls, as they meant to
    return any(o.get("login") == leader and o.get("reason") == SET_ASIDE for o in got)


async def _presence(d: ActionDriver, leader: str, data: dict[str, str]) -> None:
    """The leader's own presence; a refusal or a fault leaves it as it is (the session is judged
    on its own: a phone still busy is a skip)."""
    await d.attempt(lambda: d.console.post(leader, "/console/desk/presence", data, as_json=True), retry=False)


async def _follow(d: ActionDriver, a: Action, leader: str) -> ActionRecord:
    # A busy line seldom has the leader free at the planned second (the short soak's was in
    # wrap-up): they look again every second for a while, as a person waits for a moment.
    deadline = time.monotonic() + float(a.params.get("wait_s", 0.0))
    while True:
        got = await _operators(d)
        if not isinstance(got, list):
            return _skip_or_fail(d, a, got)
        state = next((str(o.get("state")) for o in got if o.get("login") == leader), "unknown")
        talking = [
            o
            for o in got
            if o.get("state") == "busy" and o.get("login") != leader and float(o.get("since_s") or 0) >= TALKED_S
        ]
        if state in FREE and talking:
            break
        if time.monotonic() >= deadline:
            if state not in FREE:
                return d.skipped(a, f"the leader's phone is not free ({state})", user=leader)
            return d.skipped(a, f"no conversation up for {TALKED_S:.0f} s", user=leader)
        await asyncio.sleep(POLL_S)
    op = max(talking, key=lambda o: float(o.get("since_s") or 0))
    operator, ticket = str(op["login"]), op.get("ticket")

    def post(command: str, mode: str | None = None) -> Callable[[], Awaitable[Answer]]:
        data = {"mode": mode} if mode else {}
        return lambda: d.console.post(leader, f"/console/supervision/{operator}/{command}", data, as_json=True)

    extra: dict[str, Any] = {
        "operator": operator,
        "ticket": ticket if isinstance(ticket, int) else None,
        "user": leader,
    }
    tried = await d.attempt(post("start", "listen"), retry=False)
    if tried.answer is None or tried.why or tried.answer.status != 200:
        return d.judged(a, tried, (200,), **extra)
    stay = float(a.params.get("mode_s", 4.0))
    await asyncio.sleep(stay)
    coach = await d.attempt(post("mode", "coach"), retry=False)
    await asyncio.sleep(stay)
    end = await d.attempt(post("end"), retry=False)
    return d.judged(a, tried, (200,), **extra, params={"coach": _outcome(coach), "end": _outcome(end)})


SUPERVISION_HANDLERS = {ActionKind.SUPERVISE: supervise}
