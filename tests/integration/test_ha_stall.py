"""The active engine stopped (SIGSTOP) past its lease and woken before the standby took over, with
calls in flight and new calls arriving while it stood still: every call gets a ticket and an
engine that serves it (real Asterisk, real PostgreSQL, two `ivr run --standby` processes).

Full run 6 froze the active engine for 15 s twice. On waking, its calls' requests were refused
(the lease stale, Asterisk's proof not yet renewed) and left "to the engine holding the line",
the StasisStart of each call placed during the freeze was dropped the same way, and one second
later the engine renewed its lease and went on: nobody held those calls. 30 callers rang 15 s
and hung up with no ticket; the calls in flight sat in silence for a minute.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import time
from pathlib import Path

import pytest

from ivr.lab.carrier import LabCall
from tests.harness.faults import FaultyLink
from tests.harness.pbx import PbxPair
from tests.harness.postgres import PostgresServer
from tests.harness.waits import until
from tests.integration.test_ha import HA, Line, _active_then_standby, _engine

pytestmark = [pytest.mark.asterisk, pytest.mark.postgres]
FREEZE_S = 4.5  # past the lease's term (2.4 s of its 3 s), short of a takeover (expiry, then 3 s more)


async def test_an_engine_woken_past_its_lease_leaves_no_call_to_nobody(
    pbx: PbxPair, tmp_path: Path, postgres: PostgresServer
) -> None:
    assert HA["lease_ttl_s"] == 3.0
    url = postgres.create_database(f"ha_stall_{os.getpid()}")
    line = Line(pbx, url)
    link = FaultyLink("127.0.0.1", postgres.port)
    await link.start()
    a = _engine(pbx, tmp_path, "a", url.replace(f":{postgres.port}/", f":{link.port}/"))
    b = _engine(pbx, tmp_path, "b", url)
    calls: list[LabCall] = []
    ringing: dict[str, asyncio.Future[LabCall]] = {}
    try:
        await _active_then_standby(a, b)
        in_flight = [f"34711{i:05d}" for i in range(3)]
        for number in in_flight:
            calls.append(await pbx.carrier.call("800000039", caller_number=number))
        await until(lambda: len(line.tickets()) == len(in_flight), "the calls in flight's tickets")
        await asyncio.sleep(1.0)  # in their flows, prompts playing
        token = line.token()

        assert a.proc is not None
        os.kill(a.proc.pid, signal.SIGSTOP)
        frozen_at = time.monotonic()
        try:
            await asyncio.sleep(0.5)
            for i in range(3):  # each enters the app; its StasisStart waits in the frozen engine's socket
                number = f"34722{i:05d}"
                ringing[number] = asyncio.ensure_future(pbx.carrier.call("800000039", caller_number=number))
                await asyncio.sleep(0.8)
            await asyncio.sleep(max(0.0, FREEZE_S - (time.monotonic() - frozen_at)))
            assert line.token() == token, "the standby took over during the freeze: not the case looked at"
            # In run 6 the first renewal after waking did not answer within the few milliseconds
            # a renewal past the lease is given (a loaded machine: "lease 'nul' not renewed: "),
            # and the next one, after the expiry, succeeded. Made certain here by cutting engine
            # a's link to PostgreSQL for a moment around the wake. (A renewal that answers at once
            # is refused, the lease having run out: the engine fences itself, as it should.)
            link.cut()
        finally:
            os.kill(a.proc.pid, signal.SIGCONT)
        await asyncio.sleep(0.3)
        link.restore()

        answered = await asyncio.gather(*ringing.values(), return_exceptions=True)
        failed = {n: repr(r) for n, r in zip(ringing, answered, strict=True) if isinstance(r, BaseException)}
        calls.extend(r for r in answered if isinstance(r, LabCall))
        print(f"engine a: {a.proc.poll()}, lease token {line.token()} (was {token})")
        assert not failed, f"callers of the freeze never answered: {failed}\n{a.log()[-3000:]}"

        numbers = [*in_flight, *ringing]
        tickets = await until(
            lambda: (found := [t for t in line.tickets() if t.caller_number in numbers]) and len(found) == 6 and found,
            "a ticket for every call",
        )
        assert sorted(t.caller_number for t in tickets) == sorted(numbers)  # one each
        # The woken engine did not go on as if nothing had happened: it gave the line up, and the
        # engine that took it picked up the calls in flight where their tickets said they were.
        await until(lambda: a.proc is not None and a.proc.poll() is not None, "engine a to give the line up", 15)
        assert a.proc.returncode == 4, a.log()[-3000:]
        assert "stalled past its lease and left work undone" in a.log()
        await b.wait_role("active")
        assert line.token() == token + 1
        resumed = line.events("call_resumed")
        assert {t.id for t in tickets if t.caller_number in in_flight} <= resumed, a.log()[-3000:]
    finally:
        for pending in ringing.values():
            pending.cancel()
        for call in calls:
            with contextlib.suppress(Exception):
                await call.hangup()
        a.stop()
        b.stop()
        await link.stop()
        await line.close()
