"""A conversation whose operator hung up while no engine watched leaves no bridge behind.

Full run 6 ended with one bridge on the line's Asterisk after draining: engine b was killed
during a conversation (ticket 6414), the operator's leg went while nobody watched, and the engine
that took over sent the caller on to the survey, out of the conversation's bridge. The recovery's
sweep spared that bridge because it is named for a call the engine serves (the name that protects
a conversation being set up), and nobody else ever destroyed it.
"""

from __future__ import annotations

import asyncio
import contextlib
from pathlib import Path

import pytest

from ivr.lab.carrier import LabPhoneCall
from tests.harness.pbx import PbxPair, ari_get
from tests.harness.process_line import process_line
from tests.harness.waits import until
from tests.integration.test_faults import FLOW

pytestmark = pytest.mark.asterisk


async def test_the_bridge_of_a_conversation_whose_operator_left_while_no_engine_watched_is_destroyed(
    pbx: PbxPair, tmp_path: Path
) -> None:
    queue = {"ring_timeout_s": 10, "wrap_up_s": 1, "announce_every_s": 600}
    async with process_line(pbx, tmp_path, FLOW, {"queue": queue}, operators={"op01": "3479900001"}) as line:
        engine, kinds = line.engine, line.kinds

        def bridges() -> list[str]:
            return [b["id"] for b in ari_get(pbx, "bridges")]

        phone: LabPhoneCall | None = None
        call = None
        await engine.start()
        try:
            call = await pbx.carrier.call("800000039", caller_number="3470000001")
            phone = await asyncio.wait_for(pbx.carrier.phones.get(), 20)
            await phone.take_offer()
            await until(lambda: "operator_answered" in kinds(), "the operator to answer")
            assert await until(bridges, "the conversation's bridge")

            engine.kill()
            await asyncio.sleep(1.0)
            await phone.hangup()  # the operator leaves while no engine watches: the caller stays, alone
            await asyncio.sleep(1.0)
            await engine.start()

            await until(lambda: "survey_offered" in kinds(), "the caller to be asked the survey after the restart")
            await call.hangup()
            await until(lambda: (t := line.ticket()) is not None and not t.open, "the ticket to close")
            await until(lambda: not bridges(), "Asterisk to hold no bridge", timeout=20)
        finally:
            engine.stop()
            for leg in (call, phone):
                if leg is not None:
                    with contextlib.suppress(Exception):
                        await leg.hangup()
