"""An operator's PC at home, run inside a test's network namespace (`ip netns exec NS python
ns_desk_client.py '<json>'`): what it can reach of the engine's host, printed as JSON.

- `ari`: for each TCP port given, whether `POST /ari/channels` (with ARI's real password, over
  HTTP and HTTPS) got an HTTP answer, or why not (connection refused, not HTTP);
- `anonymous`: the status of a WebSocket to the console's /ws without a session;
- `foreign_origin`: the same with a session but another site's Origin;
- `register`: a SIP REGISTER over the console's /ws with the desk's per-session credential:
  the status lines seen (the digest challenge, then its answer); then, once `REGISTERED` is
  printed, `offer`: the SDP of the INVITE Asterisk sends the desk (answered 486).
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import re
import secrets
import ssl
import sys
from typing import Any

import aiohttp

CSRF = re.compile(r'name="_csrf" value="([^"]+)"')


async def post_channels(host: str, port: int, user: str, password: str) -> dict[str, str]:
    """What each scheme got; an HTTP status means Asterisk's HTTP server (ARI) is there."""
    found: dict[str, str] = {}
    insecure = ssl.create_default_context()
    insecure.check_hostname = False
    insecure.verify_mode = ssl.CERT_NONE
    auth = {"Authorization": "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()}
    timeout = aiohttp.ClientTimeout(total=5)
    for scheme in ("http", "https"):
        url = f"{scheme}://{host}:{port}/ari/channels?endpoint=PJSIP/0039066666666@carrier&app=x"
        try:
            async with (
                aiohttp.ClientSession(timeout=timeout) as session,
                session.post(url, headers=auth, ssl=insecure if scheme == "https" else None) as r,
            ):
                found[scheme] = f"http {r.status}"
        except aiohttp.ClientConnectorError as exc:
            found[scheme] = "refused" if isinstance(exc.os_error, ConnectionRefusedError) else f"no connection: {exc}"
        except (aiohttp.ClientError, TimeoutError, ssl.SSLError) as exc:
            found[scheme] = f"not HTTP: {type(exc).__name__}"
    return found


async def ws_status(base: str, session: aiohttp.ClientSession, origin: str) -> int:
    try:
        ws = await session.ws_connect(
            f"{base.replace('http', 'ws', 1)}/ws", protocols=("sip",), headers={"Origin": origin}
        )
    except aiohttp.WSServerHandshakeError as exc:
        return exc.status
    await ws.close()
    return 101


async def login(session: aiohttp.ClientSession, base: str, user: str, password: str) -> None:
    page = await (await session.get(f"{base}/console/login")).text()
    token = CSRF.search(page)
    assert token is not None, "no login form"
    data = {"_csrf": token.group(1), "login": user, "password": password, "next": "/console/"}
    async with session.post(f"{base}/console/login", data=data, allow_redirects=False) as r:
        assert r.status == 303, f"login answered {r.status}"


def _header(message: str, name: str) -> str | None:
    for line in message.split("\r\n")[1:]:
        key, _, value = line.partition(":")
        if key.strip().lower() == name.lower():
            return value.strip()
    return None


def _register(account: dict[str, Any], domain: str, cseq: int, call_id: str, tag: str, auth: str | None) -> str:
    user = account["username"]
    lines = [
        f"REGISTER sip:{domain} SIP/2.0",
        f"Via: SIP/2.0/WS {secrets.token_hex(4)}.invalid;branch=z9hG4bK{secrets.token_hex(8)}",
        "Max-Forwards: 70",
        f"To: <sip:{user}@{domain}>",
        f"From: <sip:{user}@{domain}>;tag={tag}",
        f"Call-ID: {call_id}",
        f"CSeq: {cseq} REGISTER",
        f"Contact: <sip:{secrets.token_hex(4)}@{secrets.token_hex(4)}.invalid;transport=ws>;expires=60",
        "Expires: 60",
        "User-Agent: nul-netns-desk",
    ]
    if auth is not None:
        lines.append(f"Authorization: {auth}")
    return "\r\n".join([*lines, "Content-Length: 0", "", ""])


def digest(challenge: str, account: dict[str, Any], uri: str) -> str:
    """The Authorization header answering a `WWW-Authenticate: Digest ...` (MD5, qop=auth)."""
    params = dict(re.findall(r'(\w+)="?([^",]*)"?', challenge.removeprefix("Digest ")))
    realm, nonce = params["realm"], params["nonce"]
    ha1 = hashlib.md5(f"{account['username']}:{realm}:{account['password']}".encode()).hexdigest()
    ha2 = hashlib.md5(f"REGISTER:{uri}".encode()).hexdigest()
    cnonce, nc = secrets.token_hex(8), "00000001"
    if "auth" in params.get("qop", "").split(","):
        response = hashlib.md5(f"{ha1}:{nonce}:{nc}:{cnonce}:auth:{ha2}".encode()).hexdigest()
        qop = f', qop=auth, nc={nc}, cnonce="{cnonce}"'
    else:
        response, qop = hashlib.md5(f"{ha1}:{nonce}:{ha2}".encode()).hexdigest(), ""
    opaque = f', opaque="{params["opaque"]}"' if "opaque" in params else ""
    return (
        f'Digest username="{account["username"]}", realm="{realm}", nonce="{nonce}", uri="{uri}", '
        f'response="{response}", algorithm=MD5{qop}{opaque}'
    )


async def answer_to(ws: aiohttp.ClientWebSocketResponse, cseq: int) -> str:
    """The response to our request `cseq` (requests Asterisk sends meanwhile, e.g. OPTIONS, are skipped)."""
    while True:
        msg = await ws.receive(timeout=10)
        if msg.type is not aiohttp.WSMsgType.TEXT:
            raise RuntimeError(f"the relay ended: {msg.type} {msg.data!r}")
        text: str = msg.data
        if text.startswith("SIP/2.0 ") and _header(text, "CSeq") == f"{cseq} REGISTER":
            return text


async def register(session: aiohttp.ClientSession, base: str, offers: list[str]) -> list[str]:
    async with session.get(f"{base}/console/desk/phone/account", headers={"Accept": "application/json"}) as r:
        assert r.status == 200, f"the desk's account answered {r.status}"
        account = await r.json()
    domain = account["uri"].split("@", 1)[1]
    ws_url = f"{base.replace('http', 'ws', 1)}{account['ws_path']}"
    seen: list[str] = []
    async with session.ws_connect(ws_url, protocols=("sip",), headers={"Origin": base}) as ws:
        call_id, tag = secrets.token_hex(8), secrets.token_hex(4)
        await ws.send_str(_register(account, domain, 1, call_id, tag, None))
        first = await answer_to(ws, 1)
        seen.append(first.split("\r\n", 1)[0])
        challenge = _header(first, "WWW-Authenticate")
        if challenge is None:
            return seen
        await ws.send_str(_register(account, domain, 2, call_id, tag, digest(challenge, account, f"sip:{domain}")))
        seen.append((await answer_to(ws, 2)).split("\r\n", 1)[0])
        if seen[-1] == "SIP/2.0 200 OK":
            print("REGISTERED", flush=True)  # the test rings the desk now
            offers.append(await refuse_invite(ws))
    return seen


async def refuse_invite(ws: aiohttp.ClientWebSocketResponse) -> str:
    """The SDP of the first INVITE to the desk, answered 486 (the desk is busy)."""
    while True:
        msg = await ws.receive(timeout=20)
        if msg.type is not aiohttp.WSMsgType.TEXT:
            raise RuntimeError(f"the relay ended: {msg.type} {msg.data!r}")
        text: str = msg.data
        if not text.startswith("INVITE "):
            continue
        head, _, sdp = text.partition("\r\n\r\n")
        copied = [
            line for line in head.split("\r\n")[1:] if line.split(":")[0].lower() in ("via", "from", "call-id", "cseq")
        ]
        to = _header(head, "To") or ""
        busy = ["SIP/2.0 486 Busy Here", *copied, f"To: {to};tag={secrets.token_hex(4)}", "Content-Length: 0", "", ""]
        await ws.send_str("\r\n".join(busy))
        return sdp


async def main(args: dict[str, Any]) -> dict[str, Any]:
    host, base = args["host"], f"http://{args['host']}:{args['console_port']}"
    result: dict[str, Any] = {"ari": {}}
    for port in args["ports"]:
        result["ari"][str(port)] = await post_channels(host, port, args["ari_user"], args["ari_password"])
    async with aiohttp.ClientSession() as anonymous:
        result["anonymous"] = await ws_status(base, anonymous, base)
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as session:
        await login(session, base, args["login"], args["password"])
        result["foreign_origin"] = await ws_status(base, session, "https://evil.example")
        try:
            offers: list[str] = []
            result["register"] = await register(session, base, offers)
            result["offer"] = offers[0] if offers else None
        except (AssertionError, KeyError, RuntimeError, aiohttp.ClientError, TimeoutError) as exc:
            result["register"] = [f"failed: {type(exc).__name__}: {exc}"]
    return result


if __name__ == "__main__":
    print(json.dumps(asyncio.run(main(json.loads(sys.argv[1])))))
