"""Operators at home on an outside number: the lab carrier answers for them, and only a key 1
after the topic makes them the operator who answered (real calls, real Asterisk pair)."""

from __future__ import annotations

import asyncio
import contextlib
from pathlib import Path

import pytest

from ivr.acd.agents import AgentState
from ivr.lab.carrier import LabPhoneCall
from ivr.telephony.errors import CallerHungUp
from tests.harness.listen import contains
from tests.harness.pbx import PbxPair
from tests.harness.queueline import queue_line, talk
from tests.harness.voices import Voices

pytestmark = pytest.mark.asterisk


async def test_no_key_one_skips_to_the_next_operator(pbx: PbxPair, tmp_path: Path, voices: Voices) -> None:
    # a ring answered a little late on a loaded machine must not count as a miss: only the key 1 is tested
    queue = {"confirm_timeout_s": 3, "max_missed_offers": 2, "ring_timeout_s": 12}
    async with queue_line(pbx, tmp_path, voices, queue=queue) as line:
        await line.operator("ugo", softphone=False, phone="3470000011")  # idle the longest: rung first
        await asyncio.sleep(0.2)
        await line.operator("vera", softphone=False, phone="3470000012")
        operator_voice = pbx.carrier.add_voice("operator", voices.operator)
        rung: list[str] = []

        async def answering_machine(ring: LabPhoneCall) -> None:
            await ring.answer()  # picks up and talks over the prompt, never presses a key
            with contextlib.suppress(CallerHungUp):  # the engine gives up on it mid-greeting
                await ring.channel.play([operator_voice])
            await ring.channel.wait_gone()

        async def vera_at_home(ring: LabPhoneCall) -> None:
            await ring.answer()
            await ring.channel.sleep(2.0)
            await ring.channel.send_dtmf("1")
            await ring.channel.sleep(3.0)  # speaks once connected (the engine bridges after the key)
            await ring.channel.play([operator_voice])
            await ring.channel.wait_gone()

        handlers: list[asyncio.Future[None]] = []

        async def home_phones() -> None:
            # The carrier is shared by the session's tests: a ring another test left unanswered may
            # still be queued; only the rings to this test's two operators are theirs.
            mine = {"3470000011": answering_machine, "3470000012": vera_at_home}
            while len(rung) < 2:
                ring = await asyncio.wait_for(pbx.carrier.phones.get(), 60)
                if ring.number not in mine:
                    continue
                rung.append(ring.number)
                handlers.append(asyncio.ensure_future(mine[ring.number](ring)))

        phones = asyncio.ensure_future(home_phones())
        ticket, call = await line.call(talk(14))
        await phones
        assert rung == ["3470000011", "3470000012"]
        assert ticket.queue_result == "answered" and ticket.destination == "operator:vera"
        steps = [(e.kind, (e.detail or {}).get("operator")) for e in ticket.events if e.kind.startswith("offer")]
        assert steps == [
            ("offer", "ugo"),
            ("offer_missed", "ugo"),
            ("offer", "vera"),
            ("offer_confirmed", "vera"),
        ]
        missed = next(e for e in ticket.events if e.kind == "offer_missed")
        assert missed.detail is not None and missed.detail["cause"] == "not_confirmed"
        assert line.engine.distributor.agents["ugo"].missed == 1
        assert line.state("ugo") is AgentState.AVAILABLE  # one miss of two allowed
        assert contains(await call.heard(), voices.operator)
