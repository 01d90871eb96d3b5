"""A desk's SIP credential against the real Asterisk: the desk's phone registers over the WSS
port with the password its console session was given; once the user is disabled (as
`ivr user disable` does it: in the store, from another process), the engine's own periodic sweep
takes the auth out of Asterisk within seconds and the same credential is challenged again (401),
PJSIP lists neither the auth nor the desk's registration (which a reload alone leaves in place
until it expires), and the engine no longer counts the desk as registered."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import re
import secrets
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from ivr.acd.operators import REALM
from ivr.app import Engine
from tests.console_support import CSRF_FIELD, PASSWORD
from tests.harness.pbx import PbxPair, running_engine

pytestmark = pytest.mark.asterisk
LOGIN = "dina"
_CHALLENGE = re.compile(r'(\w+)="?([^",]*)"?')


@dataclass
class SipOverWebSocket:
    """The bare SIP a browser phone speaks on its WebSocket (RFC 7118): enough to REGISTER."""

    ws: aiohttp.ClientWebSocketResponse
    user: str
    password: str
    domain: str
    host: str = f"{secrets.token_hex(6)}.invalid"
    call_id: str = secrets.token_hex(12)
    cseq: int = 0

    async def register(self) -> int:
        """REGISTER, answer the digest challenge once with the password; the final status."""
        status, headers = await self._request(None)
        if status != 401:
            return status
        status, _ = await self._request(self._authorization(headers["www-authenticate"]))
        return status

    async def _request(self, authorization: str | None) -> tuple[int, dict[str, str]]:
        self.cseq += 1
        uri = f"sip:{self.domain}"
        lines = [
            f"REGISTER {uri} SIP/2.0",
            f"Via: SIP/2.0/WSS {self.host};branch=z9hG4bK{secrets.token_hex(8)}",
            "Max-Forwards: 70",
            f"From: <sip:{self.user}@{self.domain}>;tag={secrets.token_hex(4)}",
            f"To: <sip:{self.user}@{self.domain}>",
            f"Call-ID: {self.call_id}",
            f"CSeq: {self.cseq} REGISTER",
            f"Contact: <sip:{self.user}@{self.host};transport=ws>;expires=600",
            "Expires: 600",
            *([f"Authorization: {authorization}"] if authorization else []),
            "Content-Length: 0",
        ]
        await self.ws.send_str("\r\n".join(lines) + "\r\n\r\n")
        while True:
            message = await asyncio.wait_for(self.ws.receive(), 15)
            if message.type is not aiohttp.WSMsgType.TEXT:
                raise AssertionError(f"WebSocket closed or unexpected frame: {message.type}")
            head, *rest = str(message.data).split("\r\n")
            headers = {k.strip().lower(): v.strip() for k, _, v in (h.partition(":") for h in rest if ":" in h)}
            if not head.startswith("SIP/2.0 ") or f"{self.cseq} REGISTER" not in headers.get("cseq", ""):
                continue  # an OPTIONS qualify, or a late answer
            status = int(head.split()[1])
            if status >= 200:
                return status, headers

    def _authorization(self, challenge: str) -> str:
        fields = dict(_CHALLENGE.findall(challenge.removeprefix("Digest ")))
        uri, nc, cnonce = f"sip:{self.domain}", "00000001", secrets.token_hex(8)
        ha1 = _md5(f"{self.user}:{fields['realm']}:{self.password}")
        ha2 = _md5(f"REGISTER:{uri}")
        qop = "auth" if "auth" in fields.get("qop", "").split(",") else None
        response = _md5(
            f"{ha1}:{fields['nonce']}:{nc}:{cnonce}:auth:{ha2}" if qop else f"{ha1}:{fields['nonce']}:{ha2}"
        )
        parts = [
            f'username="{self.user}"',
            f'realm="{fields["realm"]}"',
            f'nonce="{fields["nonce"]}"',
            f'uri="{uri}"',
            f'response="{response}"',
            "algorithm=MD5",
        ]
        if "opaque" in fields:
            parts.append(f'opaque="{fields["opaque"]}"')
        if qop:
            parts += [f"qop={qop}", f"nc={nc}", f'cnonce="{cnonce}"']
        return "Digest " + ", ".join(parts)


def _md5(text: str) -> str:
    return hashlib.md5(text.encode()).hexdigest()


@contextlib.asynccontextmanager
async def desk_session(engine: Engine) -> AsyncIterator[tuple[aiohttp.ClientSession, dict[str, Any]]]:
    """A browser logged into the console as LOGIN, with the SIP account its desk was given."""
    c = engine.settings.console
    base = f"http://{c.bind}:{c.port}"
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as http:
        page = await (await http.get(f"{base}/console/login")).text()
        token = CSRF_FIELD.search(page)
        assert token is not None
        data = {"_csrf": token.group(1), "login": LOGIN, "password": PASSWORD, "next": "/console/"}
        response = await http.post(f"{base}/console/login", data=data, allow_redirects=False)
        assert response.status == 303, await response.text()
        account = await http.get(f"{base}/console/desk/phone/account")
        assert account.status == 200, await account.text()
        yield http, await account.json()


async def _auths(pbx: PbxPair) -> str:
    return await asyncio.to_thread(pbx.engine_asterisk.cli, "pjsip show auths")


async def _contacts(pbx: PbxPair) -> str:
    """PJSIP's own list of registered contacts (a reload does not clear them: `pjsip show contacts`)."""
    return await asyncio.to_thread(pbx.engine_asterisk.cli, "pjsip show contacts")


async def test_a_disabled_users_desk_credential_is_refused_by_asterisk(pbx: PbxPair, tmp_path: Path) -> None:
    settings = pbx.settings(tmp_path, {"database": {"url": f"sqlite:///{tmp_path / 'nul.db'}"}})
    async with running_engine(settings) as engine:
        assert engine.http is not None and engine.http.console is not None
        accounts = engine.http.console.accounts
        await engine.operators.add(LOGIN, "Dina", now=engine.clock.now(), softphone=False, outside_number="3470000091")
        await engine.operator_sync.run_once()
        await accounts.add(LOGIN, "operator", PASSWORD, engine.clock.now(), name="Dina", operator=LOGIN)

        async with desk_session(engine) as (http, account):
            assert account["username"] == f"web-{LOGIN}" and account["realm"] == REALM
            c = engine.settings.console
            origin = f"http://{c.bind}:{c.port}"  # the console's own page: the relay checks Origin
            ws_url = origin.replace("http", "ws", 1) + account["ws_path"]
            async with http.ws_connect(ws_url, protocols=("sip",), headers={"Origin": origin}) as ws:
                phone = SipOverWebSocket(ws, account["username"], account["password"], settings.asterisk.sip.bind)
                assert await phone.register() == 200  # the desk's credential works
                assert f"web-{LOGIN}-auth" in await _auths(pbx)
                agent = engine.distributor.agents[LOGIN]
                await _until(engine, lambda: agent.desk)

                await accounts.set_active(LOGIN, False)  # as `ivr user disable` does: the store only

                # Nothing here calls the sync: the engine's own periodic sweep must notice.
                loop = asyncio.get_running_loop()
                deadline = loop.time() + 30  # a bound for a sweep that never comes, not a measure
                while f"web-{LOGIN}" in (await _auths(pbx)) + (await _contacts(pbx)):
                    assert loop.time() < deadline, "the desk's auth or registration is still in Asterisk"
                    await asyncio.sleep(0.25)
                assert f"web-{LOGIN}" not in engine.operator_sync.conf_path.read_text()
                assert await phone.register() == 401  # the same credential is challenged again
                assert f"web-{LOGIN}" not in await _contacts(pbx)  # and registers nothing
                assert not agent.desk and agent.endpoint() != f"PJSIP/web-{LOGIN}"

        async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as again:  # the console too
            c = engine.settings.console
            page = await (await again.get(f"http://{c.bind}:{c.port}/console/login")).text()
            token = CSRF_FIELD.search(page)
            assert token is not None
            data = {"_csrf": token.group(1), "login": LOGIN, "password": PASSWORD}
            refused = await again.post(f"http://{c.bind}:{c.port}/console/login", data=data, allow_redirects=False)
            assert refused.status == 401


async def _until(engine: Engine, condition: Any) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 20
    while not condition():
        assert loop.time() < deadline, "the desk never counted as registered"
        await engine.operator_sync.run_once()
        await asyncio.sleep(0.2)
