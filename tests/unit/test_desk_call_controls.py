"""The desk's call controls on the real console app: only the operator talking with the caller
can hold or transfer, with the session's CSRF token; each step is on the ticket's timeline.
The call's legs are fakes (no Asterisk); the distributor, store and accounts are real."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import pytest

from ivr.acd.control import CallControl, LiveCall
from ivr.telephony.ports import BridgeEvent, BridgeInfo
from tests.console_support import ConsoleLab, console_lab
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

    status, body = await _post(lab, "anna", "hold")
    assert status == 200 and body["call"]["held"] is True
    assert caller.moh and caller.id not in bridges.members["call-1"]
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
