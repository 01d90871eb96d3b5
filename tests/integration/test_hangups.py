"""A hangup at every state of the flow, with real calls: each ticket is closed with the state it
reached, and nothing is left behind (channels, bridges, recordings, tasks, open tickets)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from ivr.acd.agents import AgentState
from ivr.callflows.states import CallState
from ivr.lab.carrier import LabCall
from tests.harness.callers import Script, Watcher, after, hang_up_during
from tests.harness.pbx import PbxPair
from tests.harness.queueline import QueueLine, home_operators, queue_line
from tests.harness.voices import Voices

pytestmark = pytest.mark.asterisk

FLOW = """
name: every-state
start: hours
nodes:
  hours: {type: hours, open: welcome, closed: voicemail}
  welcome: {type: play, prompt: welcome, next: consent}
  consent: {type: consent, next: menu}
  menu:
    type: menu
    prompt: menu_main
    options:
      "1": {next: queue, topic: citizens}
      "2": {next: voicemail, topic: employers}
      "3": {next: stub, topic: agencies}
    default: {next: queue, topic: citizens}
  queue: {type: queue, fallback: voicemail, next: survey}
  survey:
    type: survey
    questions: [{id: satisfaction, prompt: survey_satisfaction, keys: "12345"}]
  voicemail: {type: voicemail, reason: busy}
  stub: {type: stub, destination: agencies_desk, prompt: route_unavailable, next: bye}
  bye: {type: hangup, prompt: goodbye}
"""
CAMPAIGN = [{"id": "q-feb", "name": "Qualità", "from": "2026-02-01", "to": "2026-02-28"}]


def _consent_then(*steps: tuple[str, str | None], then: Script) -> Script:
    return after(("consent_notice", "2"), *steps, then=then)


async def _in_conversation(call: LabCall, w: Watcher) -> None:
    await w.until_event("operator_answered", timeout=60)
    await asyncio.sleep(1.0)
    await call.hangup()


async def _while_recording(call: LabCall, w: Watcher) -> None:
    await w.played("vm_record_instructions")
    await asyncio.sleep(2.0)
    await call.hangup()


async def _while_waiting(call: LabCall, w: Watcher) -> None:
    await w.until_event("queue_admitted", timeout=60)
    await asyncio.sleep(1.5)
    await call.hangup()


# state reached -> (the caller's script, the ticket's last state)
CASES: dict[str, tuple[Script, str]] = {
    "play": (hang_up_during("welcome"), "play:welcome"),
    "consent": (hang_up_during("consent_notice"), "consent:consent"),
    "menu": (_consent_then(then=hang_up_during("menu_main")), "menu:menu"),
    "stub": (_consent_then(("menu_main", "3"), then=hang_up_during("route_unavailable")), "stub:stub"),
    "hangup": (_consent_then(("menu_main", "3"), then=hang_up_during("goodbye", 0.5)), "hangup:bye"),
    "voicemail greeting": (
        _consent_then(("menu_main", "2"), then=hang_up_during("vm_greeting_busy")),
        "voicemail:voicemail",
    ),
    "voicemail recording": (_consent_then(("menu_main", "2"), then=_while_recording), "voicemail:voicemail"),
    "voicemail number": (
        _consent_then(("menu_main", "2"), ("vm_record_instructions", "#"), then=hang_up_during("vm_callback_confirm")),
        "voicemail:voicemail",
    ),
    "queue talking": (_consent_then(("menu_main", "1"), then=_in_conversation), "queue:queue"),
    "survey": (_consent_then(("menu_main", "1"), then=hang_up_during("survey_satisfaction")), "survey:survey"),
    "queue waiting": (_consent_then(("menu_main", "1"), then=_while_waiting), "queue:queue"),
}


async def test_hangup_in_every_state_leaves_nothing_behind(pbx: PbxPair, tmp_path: Path, voices: Voices) -> None:
    async with (
        queue_line(pbx, tmp_path, voices, flow=FLOW, campaigns=CAMPAIGN) as line,
        home_operators(line, pbx, {"ada": "3470000051"}, talk_s=3.0),
    ):
        # Earlier tests share this Asterisk: what they left is not this test's.
        before = {r["name"] for r in await line.engine.ari.get("recordings/stored")}
        # Those that need the operator go one after the other; the rest all at once beside them.
        alone = ["queue talking", "survey", "queue waiting"]
        together = [name for name in CASES if name not in alone]
        results = dict(zip(together, await asyncio.gather(*(line.call(CASES[n][0]) for n in together)), strict=True))
        for name in alone:
            if name == "queue waiting":
                await line.engine.distributor.set_presence("ada", "paused", "test")  # nobody free: the caller waits
            results[name] = await line.call(CASES[name][0])

        for name, (ticket, _call) in results.items():
            expected = CASES[name][1]
            assert ticket.last_state == expected, name
            assert not ticket.open and ticket.ended_at is not None, name
            if name in ("voicemail recording", "voicemail number"):  # the message is kept: a voicemail
                assert (ticket.outcome, ticket.end_reason) == ("voicemail", "voicemail:busy"), name
            else:
                assert ticket.outcome == "caller_hangup", (name, ticket.outcome, ticket.end_reason)
                assert ticket.end_reason == f"caller_hangup_in_{expected.split(':')[0]}", name
            assert ticket.events[-1].kind == "call_ended", name
        assert results["queue waiting"][0].queue_result == "abandoned"
        kept = [e for e in results["voicemail recording"][0].events if e.kind == "voicemail_left"]
        assert len(kept) == 1  # a hangup while speaking still saves the message

        # Every state a caller can hang up in was exercised (hours: tests/integration/test_call_flow.py).
        reached = {CallState(t.last_state.split(":")[0]) for t, _ in results.values() if t.last_state}
        assert reached | {CallState.HOURS} == set(CallState) - {CallState.STARTED, CallState.ENDED}

        await _nothing_left(line, before)


async def _nothing_left(line: QueueLine, stored_before: set[str]) -> None:
    engine = line.engine
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 20
    while True:
        channels = await engine.ari.get("channels")
        bridges = await engine.ari.get("bridges")
        stored = await engine.ari.get("recordings/stored")
        busy = [a.login for a in engine.distributor.agents.values() if a.state in (AgentState.OFFERED, AgentState.BUSY)]
        left = {
            "channels": [c["id"] for c in channels],
            "bridges": [b["id"] for b in bridges],
            "recordings on Asterisk": [r["name"] for r in stored if r["name"] not in stored_before],
            "calls running": list(engine.dispatcher.sessions),
            "calls waiting": [c.ticket_id for c in engine.distributor.waiting],
            "operators busy": busy,
            "open tickets": [t.id for t in await engine.store.open_calls()],
            "call tasks": [t.get_name() for t in asyncio.all_tasks() if t.get_name().startswith("call-")],
        }
        if not any(left.values()):
            return
        if loop.time() > deadline:
            raise AssertionError(f"left behind: { {k: v for k, v in left.items() if v} }")
        await asyncio.sleep(0.3)
