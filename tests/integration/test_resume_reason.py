"""A caller turned away by the daily cap and leaving a message when the engine is killed: the
next engine picks the message up and the ticket still says why the caller was not served."""

from __future__ import annotations

import asyncio
import contextlib
from pathlib import Path

import pytest
from sqlalchemy import select

from ivr.schema.tickets import Voicemail
from tests.harness.pbx import PbxPair
from tests.harness.process_line import process_line
from tests.harness.waits import until
from tests.integration.test_faults import FLOW

pytestmark = pytest.mark.asterisk


async def test_cap_reason_survives_an_engine_killed_during_the_message(pbx: PbxPair, tmp_path: Path) -> None:
    # queue -> voicemail (reason: busy) when not served; staffed: the cap is what refuses
    async with process_line(pbx, tmp_path, FLOW, {"queue": {"daily_cap": 0}}, operators={"ada": "3479900001"}) as line:
        engine, kinds = line.engine, line.kinds
        await engine.start()
        call = None
        try:
            call = await pbx.carrier.call("800000039", caller_number="3470000001")
            await until(lambda: "voicemail_recording" in kinds(), "the message to start recording")
            engine.kill()
            await engine.start()
            await until(lambda: "voicemail_left" in kinds(), "the interrupted message to be saved")
            await call.hangup()
            closed = await until(lambda: (t := line.ticket()) is not None and not t.open and t, "the ticket to close")
            assert (closed.queue_result, closed.outcome) == ("cap", "voicemail")
            assert closed.end_reason == "voicemail:cap"
            assert line.read(lambda s: s.scalars(select(Voicemail.reason)).one()) == "cap"
        finally:
            engine.stop()
            if call is not None:
                with contextlib.suppress(Exception):
                    await call.hangup()
            await asyncio.sleep(0)
