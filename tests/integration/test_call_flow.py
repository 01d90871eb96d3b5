"""The 800 number's flow with real calls: hours, closures, consent, menu, hangups anywhere.

Calls of one test run concurrently; the engine's clock is set per call (the hours decision is
taken when a call arrives), so no test depends on today's date.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from ivr.app import Engine
from ivr.clock import ShiftedClock
from ivr.hours.notices import media_name
from ivr.lab.carrier import LabCall
from ivr.tickets.audit import Actor
from ivr.tickets.store import TicketView
from tests.harness.callers import Script, Watcher, after, hang_up_at_beep, hang_up_during, run_call
from tests.harness.listen import PromptEar, contains
from tests.harness.pbx import PbxPair, running_engine

pytestmark = pytest.mark.asterisk
ROME = ZoneInfo("Europe/Rome")
VOICEMAIL = ["vm_greeting_busy", "vm_record_instructions"]
NOBODY = ["queue_no_operators", *VOICEMAIL]  # no operator logged in: told, then voicemail
OPEN = datetime(2026, 2, 10, 10, 0, tzinfo=ROME)  # a Tuesday morning, no campaign
CAMPAIGN_DAY = datetime(2026, 3, 10, 10, 0, tzinfo=ROME)
EXTRA = {
    "campaigns": [{"id": "q-2026-03", "name": "Verifica qualità marzo", "from": "2026-03-01", "to": "2026-03-31"}],
    "hours": {
        "closures": [
            {
                "id": "sciopero",
                "date": "2026-02-12",
                "reason": "Sciopero generale",
                "message": "Oggi il servizio è chiuso per sciopero.",
            },
        ]
    },
}


@dataclass
class Line:
    engine: Engine
    clock: ShiftedClock
    pbx: PbxPair
    ear: PromptEar
    calls: int = 0
    at: datetime | None = None

    async def call(self, at: datetime, script: Script) -> tuple[TicketView, list[str]]:
        """Place a call at `at` (engine time), run the caller's script, return ticket and heard."""
        self.calls += 1
        if at != self.at:  # calls at the same moment share one running clock
            self.clock.set(at)
            self.at = at
        ticket, call = await run_call(self.engine, self.pbx.carrier, f"39{self.calls:08d}", script)
        return ticket, await self.ear.hear(await call.heard())


@pytest.fixture(scope="module")
async def line(pbx: PbxPair, tmp_path_factory: pytest.TempPathFactory, prompts_cache: Path) -> AsyncIterator[Line]:
    clock = ShiftedClock(OPEN)
    settings = pbx.settings(tmp_path_factory.mktemp("flow"), EXTRA)
    async with running_engine(settings, clock) as engine:
        yield Line(engine, clock, pbx, PromptEar(prompts_cache))


# --- caller scripts ---


_BARGED: dict[str, object] = {}


async def _barge_in(call: LabCall, w: Watcher) -> None:
    await w.playing("menu_main")
    await asyncio.sleep(2.5)  # well into the prompt, long enough for the ear to recognise it
    await call.press("2")
    note = await w.played("menu_main")
    _BARGED["complete"] = note.detail["complete"]
    await hang_up_at_beep(call, w)


# --- tests -------------------------------------------------------------------------------------


async def test_open_hours_each_menu_branch_and_bad_input(line: Line) -> None:
    scenarios = {
        "citizens": after(("menu_main", "1"), then=hang_up_at_beep),
        "employers": after(("menu_main", "2"), then=hang_up_at_beep),
        "agencies": after(("menu_main", "3"), then=hang_up_at_beep),
        "invalid-then-2": after(("menu_main", "7"), ("menu_main", "2"), then=hang_up_at_beep),  # re-prompted
        "repeat-then-3": after(("menu_main", "*"), ("menu_main", "3"), then=hang_up_at_beep),  # * repeats
        "operator": after(("menu_main", "0"), then=hang_up_at_beep),  # 0: an operator, whatever the topic
        "timeout-then-1": after(("menu_main", None), ("menu_timeout", "1"), then=hang_up_at_beep),  # no choice
        "silent": hang_up_at_beep,  # no key twice: put through (a phone whose keys never arrive)
        "barge-in": _barge_in,  # a key one second into the menu stops it
    }
    results = await asyncio.gather(*(line.call(OPEN, s) for s in scenarios.values()))
    by_name = dict(zip(scenarios, results, strict=True))
    for name, (ticket, heard) in by_name.items():
        assert ticket.line_state == "open", name
        # Nobody is logged in here: the queue says so and the call goes on to voicemail, where
        # the caller leaves at the beep: an empty message, kept with the number to call back.
        assert (ticket.queue_result, ticket.end_reason) == ("no_operators", "voicemail:no_operators"), name
        assert (ticket.outcome, ticket.level, ticket.status) == ("voicemail", 2, "new"), name
        assert ticket.consent is None and ticket.campaign is None, name  # no campaign in February
        assert heard[:2] == ["welcome", "menu_main"], (name, heard)
        assert heard[-3:] == NOBODY, (name, heard)
    assert [by_name[n][0].topic for n in ("citizens", "employers", "agencies")] == ["citizens", "employers", "agencies"]
    assert by_name["invalid-then-2"][0].topic == "employers"
    assert by_name["invalid-then-2"][1] == ["welcome", "menu_main", "menu_invalid", "menu_main", *NOBODY]
    assert by_name["repeat-then-3"][0].topic == "agencies"
    assert by_name["repeat-then-3"][1] == ["welcome", "menu_main", "menu_main", *NOBODY]
    assert by_name["timeout-then-1"][1] == ["welcome", "menu_main", "menu_timeout", "menu_main", *NOBODY]
    assert by_name["timeout-then-1"][0].topic == "citizens"
    barged, heard = by_name["barge-in"]
    assert barged.topic == "employers"
    assert heard == ["welcome", "menu_main", *NOBODY]
    assert barged.events[[e.kind for e in barged.events].index("menu_choice")].detail == {
        "key": "2",
        "topic": "employers",
        "next": "queue",
    }
    assert _BARGED["complete"] is False  # the engine stopped the menu prompt at the key
    silent, heard = by_name["silent"]
    assert heard == ["welcome", "menu_main", "menu_timeout", "menu_main", "menu_put_through", *NOBODY]
    assert [e.kind for e in silent.events].count("menu_timeout") == 2
    assert (silent.topic, [e.kind for e in silent.events].count("menu_default")) == ("citizens", 1)
    operator, heard = by_name["operator"]
    assert heard == ["welcome", "menu_main", *NOBODY]
    assert operator.events[[e.kind for e in operator.events].index("menu_choice")].detail == {
        "key": "0",
        "topic": "citizens",
        "next": "queue",
    }


async def test_closed_evening_weekend_easter_monday_and_closures(line: Line) -> None:
    cases = [
        ("evening", datetime(2026, 2, 10, 18, 30, tzinfo=ROME), "outside_hours", None, "closed_hours"),
        ("weekend", datetime(2026, 2, 14, 11, 0, tzinfo=ROME), "outside_hours", None, "closed_hours"),
        ("easter-monday", datetime(2026, 4, 6, 10, 0, tzinfo=ROME), "holiday", None, "closed_holiday"),
        ("strike", datetime(2026, 2, 12, 10, 0, tzinfo=ROME), "closure", "sciopero", "closure_sciopero"),
    ]
    results = []
    for _name, at, *_ in cases:  # staggered: each call's hours decision is taken at its own time
        results.append(asyncio.ensure_future(line.call(at, hang_up_at_beep)))
        await asyncio.sleep(2.0)
    for (name, _at, state, closure, prompt), (ticket, heard) in zip(cases, await asyncio.gather(*results), strict=True):
        assert ticket.line_state == state, name
        assert ticket.closure_id == closure, name
        assert (ticket.outcome, ticket.end_reason) == ("voicemail", "voicemail:closed"), name
        assert heard == [prompt, "vm_greeting_closed", "vm_record_instructions"], (name, heard)
        status = next(e for e in ticket.events if e.kind == "line_status")
        assert status.detail is not None and status.detail["state"] == state


async def test_closed_now_switch(line: Line) -> None:
    now = datetime(2026, 2, 10, 11, 0, tzinfo=ROME)
    closure_id = await line.engine.closures.add(now, None, "guasto tecnico", None, created_at=now)
    line.engine.closures._cached = None  # the engine re-reads within 2 s anyway; the test need not wait
    try:
        ticket, heard = await line.call(now, hang_up_at_beep)
    finally:
        await line.engine.closures.end(closure_id, now)
        line.engine.closures._cached = None
    assert ticket.line_state == "closure" and ticket.closure_id == f"rt-{closure_id}"
    assert heard == ["closed_special", "vm_greeting_closed", "vm_record_instructions"]


async def test_consent_accepted_refused_and_no_answer(line: Line) -> None:
    scenarios = {
        "accepted": after(("consent_notice", "1"), ("menu_main", "1"), then=hang_up_at_beep),
        "refused": after(("consent_notice", "2"), ("menu_main", "1"), then=hang_up_at_beep),
        "no_answer": after(("consent_notice", None), ("menu_main", "1"), then=hang_up_at_beep),
    }
    results = await asyncio.gather(*(line.call(CAMPAIGN_DAY, s) for s in scenarios.values()))
    for choice, (ticket, heard) in zip(scenarios, results, strict=True):
        assert ticket.campaign == "q-2026-03", choice
        assert ticket.consent == choice, choice
        assert ticket.consent_at is not None and ticket.consent_at >= ticket.answered_at  # type: ignore[operator]
        assert ticket.consent_prompt is not None and ticket.consent_prompt.startswith("consent_notice@2026-")
        assert "#unbuilt" not in ticket.consent_prompt
        reply = "consent_accepted" if choice == "accepted" else "consent_refused"
        assert heard == ["welcome", "consent_notice", reply, "menu_main", *NOBODY], (choice, heard)


async def test_hangup_during_each_prompt(line: Line) -> None:
    """The closed call goes first (its hours decision is taken at once); the others share the
    campaign day, since the consent decision is taken a few seconds into each call."""
    weekend = datetime(2026, 2, 14, 11, 0, tzinfo=ROME)
    cases = {
        "closed": (weekend, hang_up_during("closed_hours"), "hours:hours"),
        "welcome": (CAMPAIGN_DAY, hang_up_during("welcome"), "play:welcome"),
        "consent_notice": (CAMPAIGN_DAY, hang_up_during("consent_notice"), "consent:consent"),
        "consent_reply": (
            CAMPAIGN_DAY,
            _then_hang_up(("consent_notice", "1"), prompt="consent_accepted"),
            "consent:consent",
        ),
        "menu": (CAMPAIGN_DAY, _then_hang_up(("consent_notice", "2"), prompt="menu_main"), "menu:menu"),
        "menu_invalid": (
            CAMPAIGN_DAY,
            _then_hang_up(("consent_notice", "2"), ("menu_main", "9"), prompt="menu_invalid"),
            "menu:menu",
        ),
        "queue": (
            CAMPAIGN_DAY,
            _then_hang_up(("consent_notice", "2"), ("menu_main", "1"), prompt="queue_no_operators"),
            "queue:queue",
        ),
        "voicemail": (
            CAMPAIGN_DAY,
            _then_hang_up(("consent_notice", "2"), ("menu_main", "1"), prompt="vm_greeting_busy"),
            "voicemail:voicemail_busy",
        ),
    }
    pending = []
    for at, script, _ in cases.values():
        pending.append(asyncio.ensure_future(line.call(at, script)))
        await asyncio.sleep(2.0 if at == weekend else 0.5)  # the next call moves the clock
    for (name, (_, _, state)), (ticket, _heard) in zip(cases.items(), await asyncio.gather(*pending), strict=True):
        assert ticket.outcome == "caller_hangup", name
        assert ticket.last_state == state, name
        assert ticket.end_reason == f"caller_hangup_in_{state.split(':')[0]}", name
        assert ticket.ended_at is not None and ticket.duration_s is not None and ticket.duration_s > 1.0
        assert ticket.events[-1].kind == "call_ended"


def _then_hang_up(*steps: tuple[str, str | None], prompt: str) -> Script:
    async def script(call: LabCall, w: Watcher) -> None:
        await after(*steps)(call, w)
        await hang_up_during(prompt, 0.5)(call, w)

    return script


async def test_a_service_notice_is_said_after_the_welcome_while_in_force(line: Line) -> None:
    """Set from the console's desk (synthesised there), heard by a real caller right after the
    welcome and before the menu, written on their ticket; lifted, the next caller hears none."""
    desk = line.engine.http.console.notices if line.engine.http and line.engine.http.console else None
    assert desk is not None
    line.clock.set(OPEN)
    line.at = OPEN
    text = "Il portale delle domande è fuori servizio fino a domani."
    notice = await desk.add(text, OPEN + timedelta(hours=2), at=OPEN, by=Actor(login="sara"))
    try:
        line.calls += 1
        # Gone once the menu has been heard (the ear knows a prompt by its first two seconds):
        # nothing after the menu is this test's.
        told, call = await run_call(
            line.engine, line.pbx.carrier, f"39{line.calls:08d}", hang_up_during("menu_main", 2.5)
        )
        recording = await call.heard()
        heard = await line.ear.hear(recording)
        assert heard[:2] == ["welcome", "menu_main"], heard  # the notice is no prompt of the catalogue ...
        spoken = desk.notices.local_dir / f"{media_name(notice)}.wav"
        assert contains(recording, spoken)  # ... but it is in what the caller heard
        assert [e.detail for e in told.events if e.kind == "notice_played"] == [{"notices": [notice]}]
    finally:  # the module's other calls are not told it
        assert await desk.end(notice, at=line.clock.now(), by=Actor(login="sara")) == 1
    line.calls += 1
    # gone once the menu began: past the place where a notice is said
    untold, _ = await run_call(line.engine, line.pbx.carrier, f"39{line.calls:08d}", hang_up_during("menu_main", 0.5))
    assert not [e for e in untold.events if e.kind == "notice_played"]
