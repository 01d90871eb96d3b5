"""The desk's call controls on the real console app: only the operator talking with the caller
can hold or transfer, with the session's CSRF token; each step is on the ticket's timeline.
The call's legs are fakes (no Asterisk); the distributor, store and accounts are real."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, get_args

import pytest
from pydantic import ValidationError

from ivr.acd.agents import AgentState
from ivr.acd.config import QueueSettings, Role
from ivr.acd.control import CallControl, LiveCall
from ivr.acd.offers import OfferFailed
from ivr.schema.console import ROLES
from ivr.tasks import TaskSupervisor
from ivr.telephony.ports import BridgeEvent, BridgeInfo
from tests.console_support import PASSWORD, ConsoleLab, console_lab
from tests.fakes import FakeChannel


class FakeBridges:
    def __init__(self) -> None:
        self.members: dict[str, set[str]] = {}

    async def create(self, name: str) -> str:
        self.members[name] = set()
        return name

    async def add_channels(self, bridge_id: str, channel_ids: Sequence[str]) -> None:
        self.members.setdefault(bridge_id, set()).update(channel_ids)

    async def remove_channel(self, bridge_id: str, channel_id: str) -> None:
        self.members[bridge_id].discard(channel_id)

    async def destroy(self, bridge_id: str) -> None:
        self.members.pop(bridge_id, None)

    async def list(self) -> list[BridgeInfo]:
        return [BridgeInfo(b, b, tuple(m)) for b, m in self.members.items()]

    async def record(self, bridge_id: str, name: str, *, fmt: str) -> None:
        raise NotImplementedError

    async def stop_recording(self, name: str) -> None:
        raise NotImplementedError

    def watch(self, bridge_id: str, handler: Callable[[BridgeEvent], None]) -> None:
        pass

    def unwatch(self, bridge_id: str) -> None:
        pass


@pytest.fixture
async def lab(tmp_path: Path) -> Any:
    async with console_lab(tmp_path) as lab:
        yield lab


async def _live_call(lab: ConsoleLab) -> tuple[LiveCall, FakeBridges, FakeChannel]:
    deps = lab.deps
    bridges = FakeBridges()

    async def ticket_event(ticket_id: int, kind: str, detail: dict[str, Any]) -> None:
        await deps.store.record(ticket_id, kind, lab.clock.now(), detail)

    async def ticket_update(ticket_id: int, columns: dict[str, Any]) -> None:
        await deps.store.update(ticket_id, **columns)

    control = CallControl(
        bridges,
        deps.distributor,
        deps.distributor.offerer,
        ticket_event,
        ticket_update,
        lambda: {"citizens", "employers"},
        5,
        tasks=TaskSupervisor("test"),
    )
    deps.console.control = control
    ticket = await lab.call("3331112222", operator="anna")
    caller, leg = FakeChannel("caller-1"), FakeChannel("leg-anna")
    anna = deps.distributor.agents["anna"]
    anna.ticket_id = ticket
    live = control.open(ticket, "citizens", caller, anna, leg)
    live.bridge_id = await bridges.create("call-1")
    await bridges.add_channels(live.bridge_id, [caller.id, leg.id])
    return live, bridges, caller


async def _post(lab: ConsoleLab, who: str, action: str, **data: str) -> tuple[int, dict[str, Any]]:
    client = await lab.login(who)
    token = await lab.csrf(client)
    response = await client.post(
        f"/console/desk/call/{action}", data={"_csrf": token, **data}, headers={"Accept": "application/json"}
    )
    return response.status, await response.json()


async def test_hold_resume_and_transfer_from_the_desk(lab: ConsoleLab) -> None:
    live, bridges, caller = await _live_call(lab)
    page = await (await (await lab.login("anna")).get("/console/desk")).text()
    assert "Metti in attesa" in page and "Trasferisci alla coda" in page and 'value="employers"' in page

    assert 'data-held="0"' in page and '<p class="call-held" role="status" hidden>' in page
    assert '<button type="submit" name="resume" hidden>' in page  # not on hold: only "hold" offered

    status, body = await _post(lab, "anna", "hold")
    assert status == 200 and body["call"]["held"] is True
    assert caller.moh and caller.id not in bridges.members["call-1"]
    again = await (await (await lab.login("anna")).get("/console/desk")).text()  # the desk opened again
    assert 'data-held="1"' in again and '<p class="call-held" role="status">Chiamante in attesa' in again
    assert '<button type="submit" name="hold" hidden>' in again and '<button type="submit" name="resume">' in again
    status, body = await _post(lab, "anna", "resume")
    assert status == 200 and body["call"]["held"] is False
    assert not caller.moh and caller.id in bridges.members["call-1"]

    status, body = await _post(lab, "anna", "transfer", topic="nessuno")
    assert status == 409 and "argomento sconosciuto" in body["error"]
    await lab.deps.distributor.set_presence("bruno", "available")  # someone takes employers' calls
    status, body = await _post(lab, "anna", "transfer", topic="employers")
    assert status == 200 and body["call"]["transfer_to"] == "employers"
    assert live.changed.is_set()  # the conversation ends and the caller goes back to the queue

    ticket = await lab.deps.store.get(live.ticket_id)
    assert ticket is not None
    steps = [(e.kind, e.detail) for e in ticket.events if e.kind in ("call_held", "call_unheld", "transferred")]
    assert [k for k, _ in steps] == ["call_held", "call_unheld", "transferred"]
    assert steps[2][1] == {"operator": "anna", "from_topic": "citizens", "to_topic": "employers"}


async def test_only_the_operator_of_the_call_and_only_with_the_token(lab: ConsoleLab) -> None:
    live, _, caller = await _live_call(lab)
    status, body = await _post(lab, "bruno", "hold")  # another operator: not their call
    assert status == 409 and "non sei in conversazione" in body["error"]
    anna = await lab.login("anna")
    response = await anna.post("/console/desk/call/hold", headers={"Accept": "application/json"})
    assert response.status == 403  # no CSRF token
    assert not caller.moh and live.held_since is None
    token = await lab.csrf(anna)
    response = await anna.post("/console/desk/call/teleport", data={"_csrf": token})
    assert response.status == 404


async def test_a_held_caller_is_taken_off_the_music_when_transferred(lab: ConsoleLab) -> None:
    live, bridges, caller = await _live_call(lab)
    await lab.deps.distributor.set_presence("bruno", "available")
    assert (await _post(lab, "anna", "hold"))[0] == 200
    status, body = await _post(lab, "anna", "transfer", topic="employers")
    assert status == 200 and body["call"]["held"] is False
    assert not caller.moh and caller.id in bridges.members["call-1"]  # leaves with the bridge, seen leaving
    status, body = await _post(lab, "anna", "resume")  # nothing left to resume: harmless
    assert status == 200 and live.transfer_to == "employers"


class Dialled:
    """The colleague's phone: records who was rung and rings until the ringing is stopped."""

    def __init__(self) -> None:
        self.endpoints: list[str] = []

    async def dial(self, endpoint: str, *, caller_id: str | None, timeout: float, cancelled: Any) -> Any:
        self.endpoints.append(endpoint)
        await cancelled.wait()
        raise OfferFailed("cancelled")


async def _audited(lab: ConsoleLab, action: str) -> list[Any]:
    return [e for e in await lab.accounts.audit_entries(limit=50) if e.action == action]


async def test_consulting_a_logged_out_colleague_or_oneself_is_refused_and_audited(lab: ConsoleLab) -> None:
    live, _, caller = await _live_call(lab)
    dialled = Dialled()
    assert lab.deps.console.control is not None
    lab.deps.console.control.offerer = dialled
    assert lab.deps.distributor.agents["bruno"].state is AgentState.LOGGED_OUT
    status, body = await _post(lab, "anna", "consult", operator="bruno")
    assert status == 403 and "non è collegato" in body["error"]
    assert live.consult is None and not caller.moh and dialled.endpoints == []  # nobody rung, caller not held
    refused = await _audited(lab, "call_consult_refused")
    assert len(refused) == 1 and refused[0].login == "anna" and refused[0].object_id == str(live.ticket_id)
    assert refused[0].detail == {"operator": "bruno", "reason": body["error"]}

    status, body = await _post(lab, "anna", "consult", operator="anna")
    assert status == 403 and "te stesso" in body["error"]
    assert len(await _audited(lab, "call_consult_refused")) == 2

    await lab.deps.distributor.set_presence("bruno", "available")
    status, body = await _post(lab, "anna", "consult", operator="bruno")
    assert status == 200 and body["call"]["consult"]["login"] == "bruno"
    assert len(await _audited(lab, "call_consult")) == 1
    await lab.deps.console.control.close(live)  # the ringing stops


async def test_a_conference_is_for_supervisors_only_refused_to_a_plain_operator_and_audited(lab: ConsoleLab) -> None:
    live, _, _ = await _live_call(lab)
    dialled = Dialled()
    assert lab.deps.console.control is not None
    lab.deps.console.control.offerer = dialled
    await lab.deps.distributor.set_presence("bruno", "available")
    page = await (await (await lab.login("anna")).get("/console/desk")).text()
    assert "Aggiungi in conferenza" not in page  # not offered to whom it would be refused
    status, body = await _post(lab, "anna", "conference", operator="bruno")
    assert status == 403 and "supervisor" in body["error"]
    assert live.third is None and dialled.endpoints == []
    refused = await _audited(lab, "call_conference_refused")
    assert len(refused) == 1 and refused[0].login == "anna" and refused[0].detail is not None
    assert refused[0].detail["reason"] == body["error"]


async def test_a_supervisor_on_the_call_brings_in_a_third_party(lab: ConsoleLab) -> None:
    live, _, _ = await _live_call(lab)
    dialled = Dialled()
    control = lab.deps.console.control
    assert control is not None
    control.offerer = dialled
    await lab.accounts.set_active("anna", False)  # anna's login is taken by a supervisor working as anna
    await lab.accounts.add("vera", "supervisor", PASSWORD, lab.clock.now(), operator="anna")
    await lab.deps.distributor.set_presence("bruno", "logged_out")
    status, body = await _post(lab, "vera", "conference", operator="bruno")
    assert status == 403 and "non è collegato" in body["error"]  # a logged-out colleague: not even so
    await lab.deps.distributor.set_presence("bruno", "available")
    status, body = await _post(lab, "vera", "conference", operator="bruno")
    assert status == 200 and body["call"]["third"]["login"] == "bruno"
    done = await _audited(lab, "call_conference")
    assert len(done) == 1 and done[0].login == "vera" and done[0].object_id == str(live.ticket_id)
    await control.close(live)
    assert len(dialled.endpoints) == 1  # bruno was rung, once


async def test_the_roles_allowed_a_conference_are_a_setting(tmp_path: Path) -> None:
    async with console_lab(tmp_path, {"queue": {"conference_roles": ["operator", "supervisor"]}}) as lab:
        await _live_call(lab)
        assert lab.deps.console.control is not None
        lab.deps.console.control.offerer = Dialled()
        await lab.deps.distributor.set_presence("bruno", "available")
        status, body = await _post(lab, "anna", "conference", operator="bruno")
        assert status == 200, body
        await lab.deps.console.control.close(lab.deps.console.control.calls["anna"])
    assert set(get_args(Role)) == set(ROLES)  # the setting names the console's roles, no other
    with pytest.raises(ValidationError, match="conference_roles"):
        QueueSettings.model_validate({"conference_roles": ["caller"]})
