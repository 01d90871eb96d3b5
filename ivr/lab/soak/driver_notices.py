"""The soak driver's service notices: a supervisor sets one in the console (its text names the
plan's reference), and lifts it later; at the end none the soak set stays in force. Check 33
holds the callers' tickets against these moments (`ivr.lab.soak.checks_notices`)."""

from __future__ import annotations

import html
import re
from datetime import UTC, datetime, timedelta

from ivr.lab.soak.action_journal import ActionRecord
from ivr.lab.soak.actions import Action, ActionKind
from ivr.lab.soak.driver import ActionDriver
from ivr.lab.soak.driver_web import lift, lift_closures, switch_off
from ivr.lab.soak.evidence import ROME

NOTICE_ITEM = re.compile(r'<li data-notice="(\d+)" class="live">(.*?)</li>', re.DOTALL)
UNTIL = timedelta(hours=2)  # longer than any notice of the plan: the driver lifts each itself


def notice_text(ref: str) -> str:
    return f"Avviso di prova: il servizio funziona regolarmente. [{ref}]"


def live_notice(page: str, ref: str) -> int | None:
    """The notice in force whose text names `ref`, from the console's list."""
    for found in NOTICE_ITEM.finditer(page):
        if f"[{ref}]" in html.unescape(found.group(2)):
            return int(found.group(1))
    return None


async def notice_on(d: ActionDriver, a: Action) -> ActionRecord:
    ref, user = str(a.params["ref"]), d.cast.supervisor
    try:
        line_now = datetime.now(UTC) + timedelta(seconds=d.offset_s())
        until = (line_now + UNTIL).astimezone(ROME).strftime("%Y-%m-%dT%H:%M")
        data = {"text": notice_text(ref), "until": until}
        tried = await d.attempt(lambda: d.console.post(user, "/console/notices", data), retry=True)
        if tried.answer is None or tried.why or tried.answer.status != 303:
            return d.judged(a, tried, (), user=user)
        listing = await d.attempt(lambda: d.console.get(user, "/console/notices"), retry=True)
        found = live_notice(listing.answer.text, ref) if listing.answer is not None else None
        if found is None:
            return d.judged(a, tried, (303,), "set, not found in the list", user=user)
        d.state.notices[ref] = found
        return d.judged(a, tried, (303,), user=user, object_id=f"notice-{found}")
    finally:
        d.state.event(d.state.notice_done, ref).set()


async def notice_off(d: ActionDriver, a: Action) -> ActionRecord:
    return await switch_off(d, a, d.state.notice_done, d.state.notices, "/console/notices/{}/end", "notice")


async def lift_all(d: ActionDriver) -> None:
    """At the end, no closure and no notice the soak set stays on."""
    await lift_closures(d)
    await lift(d, ActionKind.NOTICE_OFF, d.state.notices, notice_off)


NOTICE_HANDLERS = {ActionKind.NOTICE_ON: notice_on, ActionKind.NOTICE_OFF: notice_off}
