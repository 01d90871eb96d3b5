"""The desks' SIP WebSocket relay at /ws on the console's origin: who is refused before anything
reaches Asterisk, and what the relay does once open (text both ways, both sides closed together,
a bounded message size, logout ends it). Asterisk's side is a small WebSocket server on loopback
standing in for Asterisk's HTTP server; the real one is in tests/integration/test_desk_relay_netns.py."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import WSMsgType, web
from aiohttp.test_utils import TestClient

from ivr.asterisk.instance import free_port
from tests.console_support import ConsoleLab, console_lab


@dataclass
class FakeAsterisk:
    """Asterisk's `/ws` (subprotocol sip): answers each text message with `echo:<text>` and
    records what arrived, how many sockets opened and how each closed."""

    port: int
    received: list[str] = field(default_factory=list)
    opened: int = 0
    closed: int = 0
    sockets: list[web.WebSocketResponse] = field(default_factory=list)
    ended: asyncio.Event = field(default_factory=asyncio.Event)

    async def handle(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse(protocols=("sip",))
        await ws.prepare(request)
        self.opened += 1
        self.sockets.append(ws)
        async for msg in ws:
            if msg.type is WSMsgType.TEXT:
                self.received.append(msg.data)
                await ws.send_str(f"echo:{msg.data}")
        self.closed += 1
        self.ended.set()
        return ws


@pytest.fixture
async def asterisk() -> AsyncIterator[FakeAsterisk]:
    fake = FakeAsterisk(free_port())
    app = web.Application()
    app.router.add_get("/ws", fake.handle)
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", fake.port).start()
    yield fake
    await runner.cleanup()


@pytest.fixture
async def lab(tmp_path: Path, asterisk: FakeAsterisk) -> AsyncIterator[ConsoleLab]:
    secrets = {"password": "x" * 16}
    extra = {"asterisk": {"ari": {**secrets, "port": asterisk.port}, "ami": secrets}}
    async with console_lab(tmp_path, extra) as lab:
        yield lab


def origin(client: TestClient[Any, Any]) -> str:
    return str(client.make_url("/").origin())


async def refusal(client: TestClient[Any, Any], headers: dict[str, str]) -> int:
    with pytest.raises(aiohttp.WSServerHandshakeError) as err:
        await client.ws_connect("/ws", protocols=("sip",), headers=headers)
    return err.value.status


async def test_an_anonymous_websocket_is_refused_before_asterisk(lab: ConsoleLab, asterisk: FakeAsterisk) -> None:
    anonymous = await lab.client()
    assert await refusal(anonymous, {"Origin": origin(anonymous)}) == 401
    assert asterisk.opened == 0


async def test_another_origin_is_refused_even_with_a_session(lab: ConsoleLab, asterisk: FakeAsterisk) -> None:
    anna = await lab.login("anna")
    assert await refusal(anna, {"Origin": "https://evil.example"}) == 403
    assert await refusal(anna, {"Origin": origin(anna).replace("127.0.0.1", "localhost")}) == 403
    assert await refusal(anna, {}) == 403  # no Origin: not the desk's page
    assert asterisk.opened == 0


async def test_only_an_operator_with_a_desk_gets_the_relay(lab: ConsoleLab, asterisk: FakeAsterisk) -> None:
    sara = await lab.login("sara")  # a supervisor without an operator: no desk phone
    assert await refusal(sara, {"Origin": origin(sara)}) == 403
    anna = await lab.login("anna")
    with pytest.raises(aiohttp.WSServerHandshakeError) as err:
        await anna.ws_connect("/ws", headers={"Origin": origin(anna)})  # not asking for SIP
    assert err.value.status == 400
    assert asterisk.opened == 0


async def test_text_goes_both_ways_and_the_desk_closing_closes_asterisks_side(
    lab: ConsoleLab, asterisk: FakeAsterisk
) -> None:
    anna = await lab.login("anna")
    ws = await anna.ws_connect("/ws", protocols=("sip",), headers={"Origin": origin(anna)})
    assert ws.protocol == "sip"
    await ws.send_str("REGISTER sip:nul SIP/2.0\r\n\r\n")
    answer = await ws.receive()
    assert answer.type is WSMsgType.TEXT and answer.data == "echo:REGISTER sip:nul SIP/2.0\r\n\r\n"
    await ws.close()
    await asterisk.ended.wait()
    assert asterisk.received == ["REGISTER sip:nul SIP/2.0\r\n\r\n"] and asterisk.closed == 1


async def test_asterisk_closing_closes_the_desks_side(lab: ConsoleLab, asterisk: FakeAsterisk) -> None:
    anna = await lab.login("anna")
    ws = await anna.ws_connect("/ws", protocols=("sip",), headers={"Origin": origin(anna)})
    await ws.send_str("OPTIONS")
    assert (await ws.receive()).data == "echo:OPTIONS"
    await asterisk.sockets[0].close()
    closing = await ws.receive()
    assert closing.type is WSMsgType.CLOSE


async def test_a_message_over_the_limit_ends_the_relay_unsent(lab: ConsoleLab, asterisk: FakeAsterisk) -> None:
    anna = await lab.login("anna")
    ws = await anna.ws_connect("/ws", protocols=("sip",), headers={"Origin": origin(anna)})
    await ws.send_str("x" * (64 * 1024 + 1))
    closing = await ws.receive()
    assert closing.type is WSMsgType.CLOSE and closing.data == aiohttp.WSCloseCode.MESSAGE_TOO_BIG
    await asterisk.ended.wait()
    assert asterisk.received == [] and asterisk.closed == 1


async def test_binary_frames_are_not_relayed(lab: ConsoleLab, asterisk: FakeAsterisk) -> None:
    anna = await lab.login("anna")
    ws = await anna.ws_connect("/ws", protocols=("sip",), headers={"Origin": origin(anna)})
    await ws.send_bytes(b"\x00\x01")
    closing = await ws.receive()
    assert closing.type is WSMsgType.CLOSE and closing.data == aiohttp.WSCloseCode.UNSUPPORTED_DATA
    await asterisk.ended.wait()
    assert asterisk.received == [] and asterisk.closed == 1


async def test_logging_out_ends_the_desks_relay(lab: ConsoleLab, asterisk: FakeAsterisk) -> None:
    anna = await lab.login("anna")
    csrf = await lab.csrf(anna, "/console/desk")
    ws = await anna.ws_connect("/ws", protocols=("sip",), headers={"Origin": origin(anna)})
    await ws.send_str("OPTIONS")
    assert (await ws.receive()).data == "echo:OPTIONS"
    await anna.post("/console/logout", data={"_csrf": csrf}, allow_redirects=False)
    closing = await ws.receive()
    assert closing.type is WSMsgType.CLOSE and closing.data == aiohttp.WSCloseCode.POLICY_VIOLATION
    await asterisk.ended.wait()
    assert asterisk.closed == 1


async def test_one_session_holds_a_few_relays_at_most(lab: ConsoleLab, asterisk: FakeAsterisk) -> None:
    anna = await lab.login("anna")
    sockets = [await anna.ws_connect("/ws", protocols=("sip",), headers={"Origin": origin(anna)}) for _ in range(4)]
    assert await refusal(anna, {"Origin": origin(anna)}) == 429
    assert asterisk.opened == 4
    await sockets[0].close()
    while asterisk.closed < 1:  # its relay ends once Asterisk's side has closed
        asterisk.ended.clear()
        await asterisk.ended.wait()
    again = await anna.ws_connect("/ws", protocols=("sip",), headers={"Origin": origin(anna)})
    await again.send_str("OPTIONS")
    assert (await again.receive()).data == "echo:OPTIONS"


async def test_disabling_the_user_ends_the_desks_relay(lab: ConsoleLab, asterisk: FakeAsterisk) -> None:
    anna = await lab.login("anna")
    ws = await anna.ws_connect("/ws", protocols=("sip",), headers={"Origin": origin(anna)})
    await ws.send_str("OPTIONS")
    assert (await ws.receive()).data == "echo:OPTIONS"
    ada = await lab.login("ada")  # the administrator
    csrf = await lab.csrf(ada, "/console/users")
    disabled = await ada.post("/console/users/anna/active", data={"_csrf": csrf, "active": "0"}, allow_redirects=False)
    assert disabled.status == 303
    closing = await ws.receive()
    assert closing.type is WSMsgType.CLOSE and closing.data == aiohttp.WSCloseCode.POLICY_VIOLATION
    await asterisk.ended.wait()
    assert asterisk.closed == 1


async def test_a_database_outage_does_not_cut_a_desk_off_mid_call(
    lab: ConsoleLab, asterisk: FakeAsterisk, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Medium soak run 6: the session check met the stopped database, the relay ended, the desk's
    BYE never reached Asterisk and a citizen called back talked for 3 minutes to a dead leg."""
    from sqlalchemy.exc import OperationalError

    import ivr.console.desk_relay as desk_relay

    anna = await lab.login("anna")
    ws = await anna.ws_connect("/ws", protocols=("sip",), headers={"Origin": origin(anna)})
    await ws.send_str("INVITE")
    assert (await ws.receive()).data == "echo:INVITE"
    relay = lab.deps.console.relay
    assert relay is not None
    relay.session_check_s = 0.0  # every message checks the session

    async def away(*_: Any) -> None:
        raise OperationalError("SELECT", {}, Exception("connection refused"))

    monkeypatch.setattr(desk_relay, "session_from_cookie", away)
    await ws.send_str("BYE")
    assert (await ws.receive(timeout=5)).data == "echo:BYE"
    assert asterisk.received == ["INVITE", "BYE"] and asterisk.closed == 0
