"""Listen, coach, join on the real console app, with fake legs and snoops (no Asterisk): which
channel each mode hears and speaks into, the supervisor's own bridge beside the untouched
conversation, the operator's desk saying who is on the call, and every session in the audit log.
The real audio of each mode is tests/integration/test_supervision_audio.py."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from ivr.acd.agents import AgentState
from ivr.acd.control import LiveCall
from ivr.acd.offers import OfferFailed
from ivr.supervision.config import SupervisionSettings
from ivr.supervision.service import Supervision
from tests.console_support import PASSWORD, ConsoleLab, console_lab
from tests.fakes import FakeChannel
from tests.unit.test_desk_call_controls import FakeBridges, _live_call

NOTICE = "I supervisori possono ascoltare le conversazioni per la formazione; lo vedi sempre sulla scrivania."
ON = {"supervision": {"enabled": True, "operator_notice": NOTICE}}


class FakeSnoops:
    def __init__(self) -> None:
        self.made: list[tuple[str, str, str, FakeChannel]] = []

    async def snoop(self, channel_id: str, *, spy: str, whisper: str) -> FakeChannel:
        tap = FakeChannel(f"snoop-{len(self.made) + 1}")
        self.made.append((channel_id, spy, whisper, tap))
        return tap


class SupervisorPhone:
    """The supervisor's phone: answers at once, or rings until stopped with `answer=False`."""

    def __init__(self, *, answer: bool = True) -> None:
        self.answer = answer
        self.endpoints: list[str] = []
        self.legs: list[FakeChannel] = []

    async def dial(self, endpoint: str, *, caller_id: str | None, timeout: float, cancelled: Any) -> FakeChannel:
        self.endpoints.append(endpoint)
        if not self.answer:
            await cancelled.wait()
            raise OfferFailed("cancelled")
        leg = FakeChannel(f"sup-leg-{len(self.legs) + 1}")
        self.legs.append(leg)
        return leg


@pytest.fixture
async def lab(tmp_path: Path) -> Any:
    async with console_lab(tmp_path, ON) as lab:
        yield lab


async def _supervised(
    lab: ConsoleLab, phone: SupervisorPhone | None = None
) -> tuple[LiveCall, FakeBridges, Supervision, FakeSnoops, SupervisorPhone]:
    """Anna talking with a caller; vera, a supervisor whose user is linked to her own operator
    account (her phone), logged in and paused."""
    live, bridges, _ = await _live_call(lab)
    deps = lab.deps
    await deps.operators.add("vera", "Vera", now=lab.clock.now(), softphone=False, outside_number="3470000009")
    deps.distributor.sync(await deps.operators.all())
    await deps.distributor.set_presence("vera", "paused")
    await lab.accounts.add("vera", "supervisor", PASSWORD, lab.clock.now(), name="Vera", operator="vera")
    control = deps.console.control
    assert control is not None
    phone = phone or SupervisorPhone()
    control.offerer = phone
    snoops = FakeSnoops()
    supervision = Supervision(
        deps.console.settings.supervision, control, snoops, lab.accounts.audit, lab.clock,
        tasks=deps.tasks, notify=deps.console.live.notify,
    )  # fmt: skip
    deps.console.supervision = supervision
    return live, bridges, supervision, snoops, phone


async def _post(lab: ConsoleLab, who: str, path: str, **data: str) -> tuple[int, dict[str, Any]]:
    client = await lab.login(who)
    token = await lab.csrf(client)
    response = await client.post(path, data={"_csrf": token, **data}, headers={"Accept": "application/json"})
    return response.status, await response.json()


async def _until(check: Any, what: str) -> None:
    for _ in range(200):
        if check():
            return
        await asyncio.sleep(0.01)
    raise AssertionError(f"never: {what}")


async def _audit(lab: ConsoleLab, prefix: str = "supervision_") -> list[Any]:
    entries = await lab.accounts.audit_entries(limit=100)
    return [e for e in reversed(entries) if e.action.startswith(prefix)]


async def test_listen_then_coach_then_join_each_on_its_channel_and_all_audited(lab: ConsoleLab) -> None:
    live, bridges, supervision, snoops, phone = await _supervised(lab)
    conversation = set(bridges.members["call-1"])
    board = await (await (await lab.login("vera")).get("/console/wallboard")).text()
    assert 'action="/console/supervision/anna/start"' in board and 'data-supervise="listen"' in board

    status, body = await _post(lab, "vera", "/console/supervision/anna/start", mode="listen")
    assert status == 200 and body["session"]["mode"] == "listen" and body["session"]["by"] == "Vera"
    session = supervision.of("anna")
    assert session is not None
    await _until(lambda: session.state == "on", "vera on the call")
    assert phone.endpoints == ["PJSIP/3470000009@carrier"]  # her own phone, as a colleague would be rung
    leg = phone.legs[0]
    caller, operator = live.caller.id, live.operator.id
    assert [(m[0], m[1], m[2]) for m in snoops.made] == [(caller, "both", "none")]  # hears both, says nothing
    own = f"supervise-{live.ticket_id}-1"
    assert bridges.members[own] == {leg.id, "snoop-1"}
    assert bridges.members["call-1"] == conversation  # the conversation (and its recording) untouched
    assert lab.deps.distributor.agents["vera"].state is AgentState.PAUSED  # not offered queue calls meanwhile

    desk = await (await (await lab.login("anna")).get("/console/desk")).text()
    assert 'id="supervised" data-mode="listen"' in desk and "Vera in ascolto" in desk
    assert NOTICE in desk and 'href="/console/desk/supervision"' in desk

    status, body = await _post(lab, "vera", "/console/supervision/anna/mode", mode="coach")
    assert status == 200 and body["session"]["mode"] == "coach"
    assert snoops.made[1][:3] == (operator, "both", "out")  # only the operator's phone hears her
    assert snoops.made[0][3].hung_up  # the PBX takes a hung-up channel out of its bridge
    assert bridges.members[own] - {"snoop-1"} == {leg.id, "snoop-2"}
    status, body = await _post(lab, "vera", "/console/supervision/anna/mode", mode="barge")
    assert snoops.made[2][:3] == (caller, "both", "both")  # the caller hears her, and through the bridge anna
    assert snoops.made[1][3].hung_up and bridges.members[own] - {"snoop-1", "snoop-2"} == {leg.id, "snoop-3"}
    assert bridges.members["call-1"] == conversation
    desk = await (await (await lab.login("anna")).get("/console/desk")).text()
    assert 'data-mode="barge"' in desk and "il chiamante lo sente" in desk

    status, body = await _post(lab, "vera", "/console/supervision/anna/end")
    assert status == 200 and body["session"] is None
    assert supervision.of("anna") is None and leg.hung_up and snoops.made[2][3].hung_up
    assert own not in bridges.members and bridges.members["call-1"] == conversation
    desk = await (await (await lab.login("anna")).get("/console/desk")).text()
    assert 'id="supervised"' not in desk

    entries = await _audit(lab)
    assert [(e.action, e.login, e.object_kind, e.object_id) for e in entries] == [
        ("supervision_started", "vera", "operator", "anna"),
        ("supervision_mode", "vera", "operator", "anna"),
        ("supervision_mode", "vera", "operator", "anna"),
        ("supervision_ended", "vera", "operator", "anna"),
    ]
    assert entries[0].detail["mode"] == "listen" and entries[0].detail["ticket"] == live.ticket_id
    assert entries[2].detail == {"ticket": live.ticket_id, "session": 1, "mode": "barge", "before": "coach"}
    assert entries[3].detail["reason"] == "ended_by_supervisor"
    assert entries[3].detail["modes"] == ["listen", "coach", "barge"]
    assert lab.deps.distributor.agents["vera"].state is AgentState.PAUSED

    mine = await (await (await lab.login("anna")).get("/console/desk/supervision")).text()
    assert mine.count('data-action="supervision_') == 4 and "chiusa dal supervisore" in mine
    theirs = await (await (await lab.login("bruno")).get("/console/desk/supervision")).text()
    assert 'id="my-supervision-none"' in theirs  # bruno sees only his own


async def test_the_conversation_ending_ends_the_session_even_while_her_phone_rings(lab: ConsoleLab) -> None:
    live, _bridges, supervision, snoops, _phone = await _supervised(lab, SupervisorPhone(answer=False))
    status, _ = await _post(lab, "vera", "/console/supervision/anna/start", mode="listen")
    assert status == 200
    session = supervision.of("anna")
    assert session is not None and session.state == "ringing"
    desk = await (await (await lab.login("anna")).get("/console/desk")).text()
    assert "sta per collegarsi" in desk  # told before anyone can hear
    control = lab.deps.console.control
    assert control is not None
    await control.close(live)
    await asyncio.wait_for(session.done.wait(), 5)
    assert supervision.of("anna") is None and snoops.made == []
    ended = (await _audit(lab, "supervision_ended"))[0]
    assert ended.detail["reason"] == "conversation_ended"


async def test_the_supervisor_hanging_up_ends_it_and_a_handover_leaves_nobody_listening(lab: ConsoleLab) -> None:
    live, bridges, supervision, _snoops, phone = await _supervised(lab)
    await _post(lab, "vera", "/console/supervision/anna/start", mode="coach")
    session = supervision.of("anna")
    assert session is not None
    await _until(lambda: session.state == "on", "vera on the call")
    phone.legs[0].caller_hangs_up()
    await asyncio.wait_for(session.done.wait(), 5)
    assert (await _audit(lab, "supervision_ended"))[0].detail["reason"] == "supervisor_hung_up"
    assert not any(b.startswith("supervise-") for b in bridges.members)

    await _post(lab, "vera", "/console/supervision/anna/start", mode="listen")
    again = supervision.of("anna")
    assert again is not None
    await _until(lambda: again.state == "on", "vera back on the call")
    control = lab.deps.console.control
    assert control is not None
    control.on_left(live.agent.login, live)  # what a handover to a colleague says
    await asyncio.wait_for(again.done.wait(), 5)
    assert (await _audit(lab, "supervision_ended"))[1].detail["reason"] == "conversation_ended"


async def test_who_may_supervise_whom_and_when_refusals_audited(lab: ConsoleLab) -> None:
    _live, _, supervision, _, phone = await _supervised(lab)
    client = await lab.login("anna")
    token = await lab.csrf(client)
    response = await client.post("/console/supervision/bruno/start", data={"_csrf": token, "mode": "listen"})
    assert response.status == 403  # an operator cannot supervise

    status, body = await _post(lab, "sara", "/console/supervision/anna/start", mode="listen")
    assert status == 409 and "telefono" in body["error"]  # a supervisor with no phone of her own
    status, body = await _post(lab, "vera", "/console/supervision/bruno/start", mode="listen")
    assert status == 409 and "non è in conversazione" in body["error"]
    status, body = await _post(lab, "vera", "/console/supervision/anna/start", mode="shout")
    assert status == 409 and "modalità" in body["error"]
    status, body = await _post(lab, "vera", "/console/supervision/anna/mode", mode="coach")
    assert status == 409 and "nessuno sta seguendo" in body["error"]
    failed = await _audit(lab, "supervision_start_failed")
    assert [e.login for e in failed] == ["sara", "vera", "vera"] and all(e.detail["reason"] for e in failed)
    assert phone.endpoints == [] and supervision.sessions == {}

    await _post(lab, "vera", "/console/supervision/anna/start", mode="listen")
    await lab.accounts.add("ugo", "supervisor", PASSWORD, lab.clock.now(), name="Ugo", operator="bruno")
    await lab.deps.distributor.set_presence("bruno", "paused")
    status, body = await _post(lab, "ugo", "/console/supervision/anna/start", mode="listen")
    assert status == 409 and "già seguito da Vera" in body["error"]
    status, body = await _post(lab, "ugo", "/console/supervision/anna/mode", mode="barge")
    assert status == 403 and "Vera" in body["error"]  # only she changes how she is on it
    status, body = await _post(lab, "ugo", "/console/supervision/anna/end")
    assert status == 200  # but any supervisor may end it (she may have left the room)
    assert (await _audit(lab, "supervision_ended"))[0].detail["reason"] == "ended_by:ugo"


async def test_off_by_default_and_never_on_without_the_notice(tmp_path: Path) -> None:
    async with console_lab(tmp_path) as lab:
        await _live_call(lab)
        status = (await _post_raw(lab, "sara", "/console/supervision/anna/start", mode="listen")).status
        assert status == 404
        desk = await (await (await lab.login("anna")).get("/console/desk")).text()
        assert 'id="supervision-notice"' not in desk
        board = await (await (await lab.login("sara")).get("/console/wallboard")).text()
        assert "/console/supervision/" not in board
    with pytest.raises(ValidationError, match="operator_notice"):
        SupervisionSettings.model_validate({"enabled": True})
    with pytest.raises(ValidationError, match="roles"):  # a role the console does not have
        SupervisionSettings.model_validate({"enabled": True, "operator_notice": NOTICE, "roles": ["boss"]})


async def _post_raw(lab: ConsoleLab, who: str, path: str, **data: str) -> Any:
    client = await lab.login(who)
    token = await lab.csrf(client)
    return await client.post(path, data={"_csrf": token, **data}, headers={"Accept": "application/json"})


async def test_an_available_supervisors_desk_says_what_she_follows_and_never_offers_the_call_to_file(
    lab: ConsoleLab,
) -> None:
    await _supervised(lab, SupervisorPhone(answer=False))
    await lab.deps.distributor.set_presence("vera", "available")  # taking calls: reserved while she follows
    await _post(lab, "vera", "/console/supervision/anna/start", mode="coach")
    assert lab.deps.distributor.agents["vera"].state is AgentState.OFFERED  # no queue call rings her now
    client = await lab.login("vera")
    card = await (await client.get("/console/desk/phone/card")).json()
    assert card["ticket"] is None and card["who"].startswith("Supervisione · anna · pratica #")
    desk = await (await client.get("/console/desk")).text()
    assert 'id="following" data-mode="coach"' in desk and "Stai seguendo la conversazione di anna" in desk
    assert 'class="call-card' not in desk  # the followed call is not hers to file
    await _post(lab, "vera", "/console/supervision/anna/end")
    assert lab.deps.distributor.agents["vera"].state is AgentState.AVAILABLE


async def test_while_the_caller_holds_coaching_is_inside_the_call_and_listening_hears_the_operator(
    lab: ConsoleLab,
) -> None:
    """Nothing is written to an operator alone in the bridge for a whisper to ride on: while the
    caller holds, the supervisor's phone is in the conversation's bridge (the caller is on music),
    and back in her own with the operator's snoop when the caller is taken back."""
    live, bridges, supervision, snoops, phone = await _supervised(lab)
    await _post(lab, "vera", "/console/supervision/anna/start", mode="coach")
    session = supervision.of("anna")
    assert session is not None
    await _until(lambda: session.state == "on", "vera on the call")
    leg, own = phone.legs[0], f"supervise-{live.ticket_id}-1"
    status, _ = await _post(lab, "anna", "/console/desk/call/hold")
    assert status == 200
    await _until(lambda: session.inside, "vera inside the conversation")
    assert leg.id in bridges.members["call-1"] and live.caller.id not in bridges.members["call-1"]
    assert leg.id not in bridges.members[own] and session.tap is None and snoops.made[0][3].hung_up

    await _post(lab, "vera", "/console/supervision/anna/mode", mode="listen")  # listening while held
    assert snoops.made[-1][:3] == (live.operator.id, "both", "none")  # the operator's side, not the music
    assert not session.inside and leg.id in bridges.members[own] and leg.id not in bridges.members["call-1"]
    await _post(lab, "vera", "/console/supervision/anna/mode", mode="coach")
    assert session.inside and leg.id in bridges.members["call-1"]

    status, _ = await _post(lab, "anna", "/console/desk/call/resume")
    assert status == 200
    await _until(lambda: not session.inside, "vera back in her own bridge")
    assert leg.id not in bridges.members["call-1"] and live.caller.id in bridges.members["call-1"]
    assert snoops.made[-1][:3] == (live.operator.id, "both", "out") and session.tap is snoops.made[-1][3]
    await _post(lab, "vera", "/console/supervision/anna/end")
    assert supervision.of("anna") is None and leg.hung_up
