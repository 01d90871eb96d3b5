"""The engine's Asterisk stopped and started again under a running engine, the way the soak's
fault does it (`PbxPair.restart_engine_asterisk`): the engine comes back by itself, its reconnect
waits stay within its configured cap (`asterisk.ari.reconnect_max_s`), and the next call is served
to its end. Finding 10 of the soak ("a restart held 3 minutes") was the soak's own loop; this keeps
the line's side of it from growing into one."""

from __future__ import annotations

import asyncio
import logging
import re
from pathlib import Path

import pytest

from ivr.audio import voiced_seconds
from tests.harness.callers import citizen_to_voicemail, run_call
from tests.harness.pbx import PbxPair, running_engine
from tests.harness.waits import soon

pytestmark = pytest.mark.asterisk

WAIT = re.compile(r"ARI event socket down; reconnecting in ([0-9.]+) s")


async def test_after_an_asterisk_restart_the_engine_reconnects_within_its_cap_and_serves_the_next_call(
    pbx: PbxPair, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    settings = pbx.settings(tmp_path)
    cap = settings.asterisk.ari.reconnect_max_s
    caplog.set_level(logging.WARNING, logger="ivr.telephony.ari")
    async with running_engine(settings) as engine:
        before_ari, before_ami = engine.ari.connections, engine.ami.logins
        await asyncio.to_thread(pbx.restart_engine_asterisk)
        await soon(lambda: engine.ari.connections > before_ari, "the event socket to connect again", 30)
        await soon(lambda: engine.ami.logins > before_ami, "AMI to log in again", 30)
        ticket, call = await run_call(engine, pbx.carrier, "3512345678", citizen_to_voicemail)
        assert voiced_seconds(await call.heard()) > 2.5
        assert (ticket.outcome, ticket.topic) == ("voicemail", "citizens")
    waits = [float(m.group(1)) for r in caplog.records if (m := WAIT.search(r.getMessage()))]
    assert waits, "the engine saw its event socket go down"
    assert max(waits) <= cap + 0.05, f"a reconnect wait {max(waits)} s past the cap {cap} s"
