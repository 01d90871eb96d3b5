"""The desks' SIP WebSocket, relayed from the console's own origin to Asterisk on loopback.

Asterisk has one HTTP server, and ARI (which can place calls and read recordings) answers on
every listener it has: so it never listens beyond loopback. A desk opens `/ws` on the console
(same TLS, same session cookie as its page) and the engine opens the matching socket to
Asterisk's `/ws` and copies SIP messages between the two. Only signalling passes here; the
media (DTLS-SRTP over ICE) goes straight to Asterisk's RTP ports.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

import aiohttp
from aiohttp import WSCloseCode, WSMsgType, web

log = logging.getLogger(__name__)
# A SIP message with a WebRTC SDP (candidates, fingerprint) is a few KiB; anything much larger
# is not a phone talking.
MAX_MESSAGE = 64 * 1024
# The console session behind a relay is checked again at most this often (expired, or the
# account disabled): the relay ends with it. Logout ends it at once (`close_session`).
SESSION_CHECK_S = 60.0
HEARTBEAT_S = 30.0  # a browser that vanished without closing is noticed by its missing pongs
CONNECT_TIMEOUT_S = 5.0
# A desk needs one socket (two for a moment while a page reloads); more from one session is not
# a desk, and each would hold one of Asterisk's HTTP sessions.
MAX_PER_SESSION = 4

Check = Callable[[], Awaitable[bool]]


class SipRelay:
    """Relays desks' WebSockets to Asterisk's `upstream` (`ws://127.0.0.1:<http port>/ws`)."""

    def __init__(
        self,
        upstream: str,
        monotonic: Callable[[], float],
        *,
        max_message: int = MAX_MESSAGE,
        session_check_s: float = SESSION_CHECK_S,
    ) -> None:
        self.upstream = upstream
        self._monotonic = monotonic
        self._max = max_message
        self.session_check_s = session_check_s  # how often a session is checked again
        self._open: dict[str, set[web.WebSocketResponse]] = {}
        self._checks: dict[str, Check] = {}  # each session's validity, for `recheck`

    @staticmethod
    def to_asterisk(host: str, port: int, monotonic: Callable[[], float]) -> SipRelay:
        """The relay to the HTTP server of the Asterisk at `host` (asterisk.host, ARI's port)."""
        name = f"[{host}]" if ":" in host else host
        return SipRelay(f"ws://{name}:{port}/ws", monotonic)

    async def serve(self, request: web.Request, key: str, still_valid: Check) -> web.WebSocketResponse:
        """Open Asterisk's side first (a 502 while Asterisk is away, before the browser's upgrade),
        then relay until either side closes; `key` groups the relays of one console session."""
        if len(self._open.get(key, ())) >= MAX_PER_SESSION:
            raise web.HTTPTooManyRequests(text="troppe connessioni del telefono per questa sessione")
        client = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=None, sock_connect=CONNECT_TIMEOUT_S))
        try:
            upstream = await client.ws_connect(self.upstream, protocols=("sip",), max_msg_size=self._max)
        except (aiohttp.ClientError, TimeoutError) as exc:
            await client.close()
            log.warning("desk phone relay: Asterisk's WebSocket %s refused: %s", self.upstream, exc)
            raise web.HTTPBadGateway(text="il centralino non risponde: riprova tra poco") from None
        browser = web.WebSocketResponse(protocols=("sip",), max_msg_size=self._max, heartbeat=HEARTBEAT_S)
        sockets = self._open.setdefault(key, set())
        sockets.add(browser)
        self._checks[key] = still_valid
        try:
            await browser.prepare(request)
            await self._relay(browser, upstream, still_valid)
        finally:
            sockets.discard(browser)
            if not sockets and self._open.get(key) is sockets:
                del self._open[key]
                self._checks.pop(key, None)
            await upstream.close()
            await browser.close()
            await client.close()
        return browser

    async def _relay(
        self, browser: web.WebSocketResponse, upstream: aiohttp.ClientWebSocketResponse, still_valid: Check
    ) -> None:
        up = asyncio.create_task(self._copy(browser, upstream, self._checker(still_valid)), name="desk-relay-up")
        down = asyncio.create_task(self._copy(upstream, browser, None), name="desk-relay-down")
        try:
            done, _pending = await asyncio.wait((up, down), return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in (up, down):
                task.cancel()
            await asyncio.gather(up, down, return_exceptions=True)
        for task in done:
            failure = task.exception()
            if failure is not None:  # the other side went away while a message was being passed on
                log.info("desk phone relay ended (%s): %r", task.get_name(), failure)
                continue
            code = task.result()
            if code is not None:
                await browser.close(code=code)

    def _checker(self, still_valid: Check) -> Check:
        last = self._monotonic()

        async def check() -> bool:
            nonlocal last
            if self._monotonic() - last < self.session_check_s:
                return True
            last = self._monotonic()
            return await still_valid()

        return check

    @staticmethod
    async def _copy(
        source: web.WebSocketResponse | aiohttp.ClientWebSocketResponse,
        sink: web.WebSocketResponse | aiohttp.ClientWebSocketResponse,
        check: Check | None,
    ) -> int | None:
        """Copy text messages until `source` closes; the close code to give the browser when
        the relay itself ends it (binary data, session gone), else None."""
        async for msg in source:
            if msg.type is WSMsgType.TEXT:
                if check is not None and not await check():
                    log.info("desk phone relay: the console session ended")
                    return int(WSCloseCode.POLICY_VIOLATION)
                await sink.send_str(msg.data)
            elif msg.type is WSMsgType.BINARY:
                log.warning("desk phone relay: a binary frame (SIP here is text): closed")
                return int(WSCloseCode.UNSUPPORTED_DATA)
            elif msg.type is WSMsgType.ERROR:
                log.info("desk phone relay: %s", source.exception())
                return None
        return None

    async def close_session(self, key: str) -> None:
        """The console session ended (logout): its desks' relays end now."""
        for ws in list(self._open.get(key, ())):
            await ws.close(code=WSCloseCode.POLICY_VIOLATION, message=b"logged out")

    async def recheck(self) -> None:
        """Sessions may have ended without a logout (a user disabled, a password changed): each
        open relay's session is checked now, and those no longer valid are closed."""
        for key, still_valid in list(self._checks.items()):
            if not await still_valid():
                await self.close_session(key)

    async def close_all(self) -> None:
        for key in list(self._open):
            for ws in list(self._open.get(key, ())):
                await ws.close(code=WSCloseCode.GOING_AWAY, message=b"engine stopping")
