"""Hold and a blind transfer on a real call: two operators at home (the lab carrier answers for
them and presses 1), the first holds the caller, takes them back, then sends them to another
topic's queue; the second operator gets them and hangs up; the survey follows."""

from __future__ import annotations

import asyncio
import contextlib
from pathlib import Path

import pytest

from ivr.acd.control import SECOND_LEVEL
from ivr.console.queries import TicketQueries
from ivr.lab.carrier import LabPhoneCall
from ivr.telephony.ari_resources import AriBridges
from tests.harness.callers import after
from tests.harness.pbx import PbxPair
from tests.harness.queueline import queue_line
from tests.harness.voices import Voices

pytestmark = pytest.mark.asterisk

FLOW = """
name: transfer-survey
start: queue
nodes:
  queue: {type: queue, topic: citizens, fallback: voicemail, next: survey}
  survey:
    type: survey
    timeout_s: 4
    questions:
      - {id: satisfaction, prompt: survey_satisfaction, keys: "12345"}
  voicemail: {type: voicemail, reason: busy}
"""


async def test_hold_resume_and_blind_transfer(pbx: PbxPair, tmp_path: Path, voices: Voices) -> None:
    async with queue_line(pbx, tmp_path, voices, flow=FLOW) as line:
        await line.operator("anna", softphone=False, phone="3470000061", skills=["citizens"])
        await line.operator("bruno", softphone=False, phone="3470000062", skills=["employers"])
        control = line.engine.control
        assert control is not None
        bridges = AriBridges(line.engine.ari)
        rings: asyncio.Queue[LabPhoneCall] = asyncio.Queue()

        async def home_phones() -> None:
            while True:
                ring = await pbx.carrier.phones.get()
                await ring.take_offer()
                rings.put_nowait(ring)

        async def members(bridge_id: str) -> set[str]:
            return {c for b in await bridges.list() if b.id == bridge_id for c in b.channels}

        def talking(login: str) -> bool:
            live = control.calls.get(login)
            return live is not None and live.bridge_id is not None

        phones = asyncio.ensure_future(home_phones())
        try:
            calling = asyncio.ensure_future(line.call(after(("survey_satisfaction", "4"))))
            anna = await asyncio.wait_for(rings.get(), 60)
            assert anna.number == "3470000061"
            await line.until(lambda: talking("anna"), "anna talking with the caller", timeout=30)
            live = control.calls["anna"]
            assert live.bridge_id is not None
            caller = live.caller.id
            assert caller in await members(live.bridge_id)

            await control.hold("anna")  # the caller leaves the bridge for music on hold
            assert caller not in await members(live.bridge_id)
            assert live.operator.id in await members(live.bridge_id)
            await asyncio.sleep(1.5)
            await control.resume("anna")
            assert caller in await members(live.bridge_id)

            await control.transfer("anna", "employers")
            queries = TicketQueries(line.engine.store)
            anna_id = line.engine.distributor.agents["anna"].info.id
            waiting = [t.id for t in await queries.to_file(anna_id)]
            assert live.ticket_id not in waiting  # the next operator's to file, not anna's (run 6: filed twice)
            bruno = await asyncio.wait_for(rings.get(), 60)
            assert bruno.number == "3470000062"
            await asyncio.wait_for(anna.channel.wait_gone(), 15)  # the first operator is off the call
            await line.until(lambda: talking("bruno"), "bruno talking with the caller", timeout=30)
            await asyncio.sleep(1.5)
            await bruno.hangup()  # the operator ends the call: the caller stays for the survey
            ticket, _ = await asyncio.wait_for(calling, 60)
        finally:
            phones.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await phones

        steps = [
            (e.kind, (e.detail or {}).get("operator"))
            for e in ticket.events
            if e.kind.startswith(("offer", "operator_", "call_held", "call_unheld", "transferred"))
        ]
        assert steps == [
            ("offer", "anna"),
            ("offer_confirmed", "anna"),
            ("operator_answered", "anna"),
            ("call_held", "anna"),
            ("call_unheld", "anna"),
            ("transferred", "anna"),
            ("operator_call_ended", None),
            ("offer", "bruno"),
            ("offer_confirmed", "bruno"),
            ("operator_answered", "bruno"),
            ("operator_call_ended", None),
        ]
        moved = next(e for e in ticket.events if e.kind == "transferred")
        assert moved.detail == {"operator": "anna", "from_topic": "citizens", "to_topic": "employers"}
        ended = [e.detail for e in ticket.events if e.kind == "operator_call_ended"]
        assert [d["ended_by"] for d in ended if d] == ["transfer", "operator"]
        assert ticket.topic == "employers" and ticket.destination == "operator:bruno"
        assert ticket.operator_id == line.engine.distributor.agents["bruno"].info.id
        assert [t.id for t in await queries.to_file(ticket.operator_id)] == [ticket.id]  # bruno's card
        assert ticket.id not in [t.id for t in await queries.to_file(anna_id)]
        assert ticket.survey_status == "completed"
        assert await line.engine.cap.count(line.engine.clock.now()) == 1  # the cap counted the call once


async def test_consult_then_hand_over_and_a_three_way(pbx: PbxPair, tmp_path: Path, voices: Voices) -> None:
    async with queue_line(pbx, tmp_path, voices, flow=FLOW) as line:
        await line.operator("carla", softphone=False, phone="3470000071", skills=["citizens"])
        await line.operator("dario", softphone=False, phone="3470000072", skills=["employers", "second_level"])
        await line.operator("sara", softphone=False, phone="3470000073", presence="paused")  # a supervisor
        control = line.engine.control
        assert control is not None
        bridges = AriBridges(line.engine.ari)
        rings: asyncio.Queue[LabPhoneCall] = asyncio.Queue()

        async def home_phones() -> None:
            while True:
                ring = await pbx.carrier.phones.get()
                await ring.take_offer()
                rings.put_nowait(ring)

        async def members(bridge_id: str) -> set[str]:
            return {c for b in await bridges.list() if b.id == bridge_id for c in b.channels}

        def talking(login: str) -> bool:
            live = control.calls.get(login)
            return live is not None and live.bridge_id is not None

        phones = asyncio.ensure_future(home_phones())
        try:
            calling = asyncio.ensure_future(line.call(after(("survey_satisfaction", "5"))))
            carla = await asyncio.wait_for(rings.get(), 60)
            await line.until(lambda: talking("carla"), "carla talking with the caller", timeout=30)
            live = control.calls["carla"]
            assert live.bridge_id is not None
            caller = live.caller.id

            await control.consult("carla", SECOND_LEVEL)  # the caller holds while the second level (dario) is rung
            dario = await asyncio.wait_for(rings.get(), 60)
            assert dario.number == "3470000072"
            await line.until(lambda: live.consult is not None and live.consult.leg is not None, "dario in", 30)
            inside = await members(live.bridge_id)
            assert caller not in inside and live.operator.id in inside and len(inside) == 2
            await control.complete("carla")  # dario takes the caller, carla leaves
            await asyncio.wait_for(carla.channel.wait_gone(), 15)
            assert control.calls.get("dario") is live and "carla" not in control.calls
            assert caller in await members(live.bridge_id)

            await control.conference("dario", "sara")  # the supervisor joins dario and the caller
            sara = await asyncio.wait_for(rings.get(), 60)
            assert sara.number == "3470000073"
            await line.until(lambda: live.third is not None and live.third.leg is not None, "sara in", 30)
            assert len(await members(live.bridge_id)) == 3
            await asyncio.sleep(1.0)
            await sara.hangup()  # she leaves; the call goes on
            await line.until(lambda: live.third is None, "sara gone", 15)
            await asyncio.sleep(1.0)
            await dario.hangup()
            ticket, _ = await asyncio.wait_for(calling, 60)
        finally:
            phones.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await phones

        kinds = [e.kind for e in ticket.events]
        order = [
            "operator_answered",
            "call_held",
            "consult_started",
            "consult_ended",
            "conference_joined",
            "conference_left",
            "operator_call_ended",
            "survey_offered",
        ]
        assert [k for k in kinds if k in order] == order
        handover = next(e for e in ticket.events if e.kind == "consult_ended")
        assert handover.detail == {"operator": "carla", "consulted": "dario", "result": "completed"}
        left = next(e for e in ticket.events if e.kind == "conference_left")
        assert left.detail == {"joined": "sara", "result": "hung_up"}
        assert ticket.operator_id == line.engine.distributor.agents["dario"].info.id
        assert ticket.destination == "operator:dario" and ticket.survey_status == "completed"
