"""An active engine frozen past its lease (SIGSTOP: a stalled VM, a debugger, swapping) wakes up
after the standby took over: it must act on nothing before it notices and exits, because its
own clock already tells it the lease is stale. Seen from outside: its ARI traffic goes through a
tap, so every request it sends after waking up is on record (calls, dial-outs, PJSIP reloads all
are ARI requests); its mail goes to a sink that holds a receipt at the door until it is frozen."""

from __future__ import annotations

import asyncio
import os
import re
import signal
from pathlib import Path

import aiohttp
import pytest

from ivr.lab.carrier import LabCall
from tests.harness.faults import FaultyLink
from tests.harness.pbx import PbxPair
from tests.harness.postgres import PostgresServer
from tests.harness.smtp import HeldSmtp
from tests.harness.waits import until
from tests.integration.test_ha import Line, _queue_line

pytestmark = [pytest.mark.asterisk, pytest.mark.postgres]
REQUEST = re.compile(rb"(GET|POST|PUT|DELETE) (/ari/[^ ?]*)")


def _requests(chunks: list[bytes]) -> list[str]:
    """The REST requests in what the engine sent (WebSocket frames from a client are masked, so
    they never read as a request line)."""
    return [f"{m[1].decode()} {m[2].decode()}" for chunk in chunks for m in REQUEST.finditer(chunk)]


async def _web_request(base: str) -> int:
    form = {"name": "Maria Rossi", "email": "maria@example.org", "topic": "citizens", "subject": "Orari",
            "message": "Quali sono gli orari dello sportello?", "privacy": "on"}  # fmt: skip
    async with aiohttp.ClientSession() as session, session.post(f"{base}/api/public/requests", json=form) as answer:
        return answer.status


async def test_a_frozen_engine_that_wakes_after_the_takeover_acts_on_nothing(
    pbx: PbxPair, tmp_path: Path, postgres: PostgresServer
) -> None:
    url = postgres.create_database(f"ha_frozen_{os.getpid()}")
    line = Line(pbx, url)
    await line.operators(1)
    ari = pbx.overrides["asterisk"]["ari"]
    tap = FaultyLink("127.0.0.1", int(ari["port"]))
    await tap.start()
    sink = HeldSmtp()
    await sink.start()
    mail = {"host": "127.0.0.1", "port": sink.port, "tls": "none", "sender": "NUL <noreply@nul.example>"}
    a = _queue_line(pbx, tmp_path, "a", url, {"asterisk": {"ari": {"port": tap.port}}, "mail": mail})
    b = _queue_line(pbx, tmp_path, "b", url)
    call: LabCall | None = None
    submitted: asyncio.Future[int] | None = None
    try:
        a.spawn("--standby")
        await a.wait_role("active")
        b.spawn("--standby")
        await b.wait_role("standby")
        # Work the frozen engine has in hand: a conversation, and the app check it runs every second.
        call = await pbx.carrier.call("800000039", caller_number="3471111112")
        await until(lambda: len(line.phones) == 1 and line.events("operator_answered"), "the conversation")
        assert _requests(tap.sent), "the tap saw no request of engine a: it is not on the path"
        # A web request whose receipt engine a is sending: stored, the SMTP connection open, the
        # server not yet greeting.
        submitted = asyncio.ensure_future(_web_request(a.api.removesuffix("/api")))
        await until(lambda: sink.connected == 1, "engine a to connect to the mail server")
        token = line.token()

        assert a.proc is not None
        os.kill(a.proc.pid, signal.SIGSTOP)
        try:
            await b.wait_role("active")
            assert line.token() == token + 1
            seen = len(tap.sent)
            sink.greet.set()  # the server answers now; the engine reads it when it wakes up
        finally:
            os.kill(a.proc.pid, signal.SIGCONT)
        await until(lambda: a.proc is not None and a.proc.poll() is not None, "engine a to exit", 30)
        after = _requests(tap.sent[seen:])
        print(f"engine a after waking: {len(after)} ARI requests {after}")
        assert a.proc.returncode == 4, a.log()[-3000:]
        assert "lease lost" in a.log()
        print(f"mail server: {sink.commands} {len(sink.mails)} messages")
        assert not after, f"the woken engine acted: {after}"
        assert not sink.mails, f"the woken engine sent mail: {sink.commands}"
    finally:
        if submitted is not None:
            submitted.cancel()
        await sink.stop()
        a.stop()
        b.stop()
        if call is not None:
            await call.hangup()
        await tap.stop()
        await line.close()
