"""Faults between the engine and Asterisk: the engine heals by itself and keeps serving."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from ivr.app import Engine
from ivr.audio import voiced_seconds
from ivr.lab.carrier import LabCall
from tests.harness.callers import Watcher, citizen_to_voicemail, run_call
from tests.harness.faults import FaultyLink
from tests.harness.pbx import PbxPair, running_engine
from tests.harness.waits import soon

pytestmark = pytest.mark.asterisk


@pytest.fixture
async def linked(pbx: PbxPair, tmp_path: Path) -> AsyncIterator[tuple[Engine, FaultyLink, FaultyLink]]:
    """An engine whose ARI and AMI connections run through links the test can cut."""
    base = pbx.settings(tmp_path)
    ari_link = FaultyLink("127.0.0.1", base.asterisk.ari.port)
    ami_link = FaultyLink("127.0.0.1", base.asterisk.ami.port)
    await ari_link.start()
    await ami_link.start()
    settings = pbx.settings(
        tmp_path,
        {
            "asterisk": {
                "ari": {"port": ari_link.port, "heartbeat_s": 1.0},
                "ami": {"port": ami_link.port, "ping_interval_s": 1.0},
            }
        },
    )
    try:
        async with running_engine(settings) as engine:
            yield engine, ari_link, ami_link
    finally:
        await ari_link.stop()
        await ami_link.stop()


_numbers = iter(range(1000))


async def _served(pbx: PbxPair, engine: Engine) -> None:
    """One complete call: the caller hears the prompts and the ticket is closed as expected."""
    ticket, call = await run_call(engine, pbx.carrier, f"35{next(_numbers):08d}", citizen_to_voicemail)
    assert voiced_seconds(await call.heard()) > 2.5
    assert ticket.outcome == "voicemail"
    assert ticket.topic == "citizens"


async def test_event_socket_cut_reconnects_and_next_call_is_served(
    pbx: PbxPair, linked: tuple[Engine, FaultyLink, FaultyLink]
) -> None:
    engine, ari_link, _ = linked
    assert engine.ari.connections == 1
    ari_link.cut()
    await soon(lambda: not engine.ari.connected.is_set(), "the engine to notice the cut", 5)
    await asyncio.sleep(1.0)  # stays down a while: reconnect attempts are refused
    ari_link.restore()
    await soon(lambda: engine.ari.connected.is_set(), "the engine to reconnect", 10)
    assert engine.ari.connections == 2
    await _served(pbx, engine)


async def test_call_in_progress_survives_a_cut(pbx: PbxPair, linked: tuple[Engine, FaultyLink, FaultyLink]) -> None:
    """While the socket is down the welcome prompt ends unseen; the resync notices and the call
    goes on to its end instead of waiting forever."""
    engine, ari_link, _ = linked

    async def script(call: LabCall, w: Watcher) -> None:
        await w.playing("welcome")
        ari_link.cut()
        await asyncio.sleep(6.0)  # longer than the rest of the welcome prompt
        ari_link.restore()
        await citizen_to_voicemail(call, w)

    ticket, _ = await run_call(engine, pbx.carrier, "3399999999", script)
    assert ticket.outcome == "voicemail"
    assert ticket.last_state == "voicemail:voicemail_busy"


async def test_ami_reconnects_after_cut(linked: tuple[Engine, FaultyLink, FaultyLink]) -> None:
    engine, _, ami_link = linked
    assert engine.ami.logins == 1 and await engine.ami.alive()
    ami_link.cut()
    await soon(lambda: not engine.ami.logged_in.is_set(), "AMI to notice the cut", 10)
    ami_link.restore()
    await soon(lambda: engine.ami.logins >= 2, "AMI to log in again", 15)
    assert await engine.ami.alive()


async def test_caller_hears_notice_when_engine_is_down(pbx: PbxPair) -> None:
    """No engine connected: the dialplan answers with the 'service unavailable' prompt."""
    call = await pbx.carrier.call("800000039")
    await call.wait_ended(timeout=30)
    assert voiced_seconds(await call.heard()) > 2.0
