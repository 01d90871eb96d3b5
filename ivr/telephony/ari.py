"""A thin ARI client on aiohttp: REST calls and a self-healing event WebSocket.

Existing ARI libraries freeze, lack reconnects or kill themselves on a short stall, so this one is
kept small: a REST helper with a timeout on every request, one WebSocket reader that reconnects
with backoff and a heartbeat, events routed to whoever registered for a channel or bridge, and a
resync after each reconnect (events are lost while the socket is down, channels are not).
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import logging
import random
from collections.abc import Callable
from typing import Any

import aiohttp

from ivr.ha.guard import UNLEASED, Fenced, LineGuard
from ivr.subscribers import Subscribers
from ivr.tasks import TaskSupervisor
from ivr.telephony.app_proof import AppProof
from ivr.telephony.errors import AriError, AriUnavailable, NotFound

log = logging.getLogger(__name__)

Event = dict[str, Any]
EventHandler = Callable[[Event], None]


class AriClient:
    def __init__(
        self,
        base_url: str,
        app: str,
        username: str,
        password: str,
        *,
        heartbeat_s: float = 5.0,
        request_timeout_s: float = 5.0,
        reconnect_max_s: float = 3.0,
        retry_window_s: float = 8.0,
        tasks: TaskSupervisor | None = None,
        guard: LineGuard = UNLEASED,
    ) -> None:
        """`guard`: asked before every request and every (re)connect of the event socket; a
        fenced engine's request raises ivr.ha.guard.Fenced (never an AriError, so no caller
        takes it for a PBX fault and carries on), and its events are dropped."""
        self.guard = guard
        self.base_url = base_url.rstrip("/")
        self.app = app
        token = base64.b64encode(f"{username}:{password}".encode()).decode()
        self._headers = {"Authorization": f"Basic {token}"}  # a header, never in the URL
        self._heartbeat = heartbeat_s
        self._timeout = aiohttp.ClientTimeout(total=request_timeout_s)
        self._reconnect_max = reconnect_max_s
        self._retry_window = retry_window_s
        self._session: aiohttp.ClientSession | None = None
        self._reader: asyncio.Task[None] | None = None
        self._ws: aiohttp.ClientWebSocketResponse | None = None
        self._routes: dict[str, EventHandler] = {}
        self.tasks = tasks or TaskSupervisor(type(self).__name__)  # background work of the client and its channels
        self.on_start: Subscribers[[Event]] = Subscribers()  # a channel entered the app
        self.on_orphan: Subscribers[[Event]] = Subscribers()  # an event no call's route took
        self.on_event: Subscribers[[Event]] = Subscribers()  # every event, before the routes
        self._proof: AppProof | None = None
        self.connected = asyncio.Event()
        self.connections = 0  # how many times the event socket (re)connected; for health and tests
        self._closing = False

    # --- lifecycle ----------------------------------------------------------------------------

    async def start(self) -> None:
        """Open the HTTP session and the event socket; returns once the first connect succeeds
        or keeps retrying in the background if Asterisk is not up yet."""
        if self._session is None:
            self._session = self._new_session()
        if self._reader is None:
            self._closing = False
            self._reader = asyncio.create_task(self._read_forever(), name=f"ari-events-{self.app}")

    def _new_session(self) -> aiohttp.ClientSession:
        # Asked again once the connection is there, right before the request goes out: opening
        # a connection can take long enough for the lease to go stale meanwhile.
        trace = aiohttp.TraceConfig()
        trace.on_connection_create_end.append(self._connected)
        trace.on_connection_reuseconn.append(self._connected)
        return aiohttp.ClientSession(headers=self._headers, timeout=self._timeout, trace_configs=[trace])

    async def _connected(self, _session: aiohttp.ClientSession, _context: Any, _params: Any) -> None:
        self.guard.check("ARI request")

    async def _renew_session(self) -> None:
        """After the event socket dropped, pooled REST connections are likely dead too; start
        afresh so the next request does not fail on a stale keep-alive connection."""
        old, self._session = self._session, self._new_session()
        if old is not None:
            self.tasks.spawn(_close_later(old), name="ari-old-session")

    async def wait_connected(self, timeout: float) -> None:
        try:
            await asyncio.wait_for(self.connected.wait(), timeout)
        except TimeoutError:
            raise AriUnavailable(f"ARI event socket not connected after {timeout:.0f} s") from None

    async def reconnect(self) -> None:
        """Close the event socket; the reader opens a new one at once (re-registering the app,
        then resyncing the channels in it)."""
        self.connected.clear()
        ws = self._ws
        if ws is not None:
            await ws.close()

    async def close(self) -> None:
        self._closing = True
        if self._ws is not None:
            await self._ws.close()
        if self._reader is not None:
            self._reader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._reader
            self._reader = None
        if self._session is not None:
            await self._session.close()
            self._session = None
        self.connected.clear()

    # --- REST ---------------------------------------------------------------------------------

    async def request(
        self,
        method: str,
        path: str,
        params: dict[str, Any] | None = None,
        body: Any = None,
    ) -> Any:
        """One REST request. A connection that fails or drops is retried (on a fresh session)
        for up to `retry_window_s`, so a short network blip delays a call instead of failing it."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self._retry_window
        attempt = 0
        while True:
            try:
                return await self._request_once(method, path, params, body)
            except (aiohttp.ClientConnectionError, TimeoutError) as exc:
                attempt += 1
                if self._closing or loop.time() + 0.2 > deadline:
                    raise AriUnavailable(f"{method} {path}: {type(exc).__name__} {exc}") from exc
                log.debug("ARI %s %s failed (%s); retry %d", method, path, exc, attempt)
                await asyncio.sleep(min(0.1 * attempt, 1.0))

    async def _request_once(self, method: str, path: str, params: dict[str, Any] | None, body: Any) -> Any:
        self.guard.check(f"ARI {method} {path}")  # every attempt: a retry may come after the lease
        if self._session is None:
            raise AriUnavailable("ARI client not started")
        url = f"{self.base_url}/ari/{path.lstrip('/')}"
        clean = {k: _param(v) for k, v in (params or {}).items() if v is not None}
        async with self._session.request(method, url, params=clean, json=body) as resp:
            text = await resp.text()
            if resp.status == 404:
                raise NotFound(method, path, resp.status, _message(text))
            if resp.status >= 400:
                raise AriError(method, path, resp.status, _message(text))
            if not text:
                return None
            return json.loads(text)

    async def download(self, path: str) -> bytes:
        """A binary resource (a stored recording's file)."""
        self.guard.check(f"ARI GET {path}")
        if self._session is None:
            raise AriUnavailable("ARI client not started")
        url = f"{self.base_url}/ari/{path.lstrip('/')}"
        try:
            async with self._session.get(url, timeout=aiohttp.ClientTimeout(total=120)) as resp:
                if resp.status == 404:
                    raise NotFound("GET", path, 404, "not found")
                if resp.status >= 400:
                    raise AriError("GET", path, resp.status, (await resp.text())[:200])
                return await resp.read()
        except (aiohttp.ClientConnectionError, TimeoutError) as exc:
            raise AriUnavailable(f"GET {path}: {type(exc).__name__} {exc}") from exc

    async def get(self, path: str, **params: Any) -> Any:
        return await self.request("GET", path, params)

    async def post(self, path: str, body: Any = None, **params: Any) -> Any:
        return await self.request("POST", path, params, body)

    async def delete(self, path: str, **params: Any) -> Any:
        return await self.request("DELETE", path, params)

    # --- event routing ------------------------------------------------------------------------

    def route(self, key: str, handler: EventHandler) -> None:
        """Send events about `key` ("channel:<id>" or "bridge:<id>") to `handler`."""
        self._routes[key] = handler

    def unroute(self, key: str) -> None:
        self._routes.pop(key, None)

    def routed(self) -> list[str]:
        return list(self._routes)

    def dispatch(self, event: Event) -> None:
        """Deliver one event; public so the resync and tests can inject synthetic events."""
        self.on_event(event)
        kind = event.get("type") if isinstance(event.get("type"), str) else None
        keys = _event_keys(event)
        delivered: list[EventHandler] = []
        for key in keys:
            handler = self._routes.get(key)
            if handler is not None and handler not in delivered:
                delivered.append(handler)
                try:
                    handler(event)
                except Exception:
                    log.exception("handler for %s failed on %s", key, kind)
        if delivered:
            return
        if kind == "StasisStart" and self.on_start:
            self.on_start(event)
        elif kind not in _QUIET:
            self.on_orphan(event)

    # --- the event socket ---------------------------------------------------------------------

    async def _read_forever(self) -> None:
        delay = 0.1
        ws_url = self.base_url.replace("http", "ws", 1) + "/ari/events"
        while not self._closing:
            session = self._session
            assert session is not None
            was_up = False
            refused = self.guard.connect_refusal()  # connecting takes the Stasis app from whoever has it
            if refused is not None:
                log.error("ARI event socket not reopened: %s", refused)
                if self.guard.lost is not None:
                    break
                await asyncio.sleep(self._reconnect_max)  # stale: a renewal may still come back
                continue
            pinger: asyncio.Task[None] | None = None
            try:
                held = self.connections == 0 and await self._held_by_another()
                async with session.ws_connect(
                    ws_url,
                    params={"app": self.app, "subscribeAll": "false"},
                    heartbeat=self._heartbeat,
                    autoping=False,  # our pongs to Asterisk, its pongs to our proofs (ivr.telephony.app_proof)
                    timeout=aiohttp.ClientWSTimeout(ws_close=2.0),
                    max_msg_size=0,
                ) as ws:
                    self._ws = ws
                    was_up = True
                    self.connections += 1
                    log.info("ARI event socket connected (%d)", self.connections)
                    delay = 0.1
                    self.guard.app_unproven()
                    self._proof = None
                    if self.guard.app_proof_s is not None:
                        self._proof = AppProof(self.guard, self.guard.app_proof_s / 4)
                        pinger = asyncio.create_task(self._proof.run(ws), name=f"ari-app-proof-{self.app}")
                        if held:  # an engine past its lease may act on its last proof: let it run out
                            quiet = self.guard.app_proof_s * 1.1 + 0.1
                            log.warning("the app was held by another event socket: acting in %.1f s", quiet)
                            await asyncio.sleep(quiet)
                    await self._filter_events()
                    await self._resync()
                    self.connected.set()
                    async for msg in ws:
                        if msg.type == aiohttp.WSMsgType.TEXT:
                            self._on_text(msg.data)
                        elif msg.type == aiohttp.WSMsgType.PING:
                            await ws.pong(msg.data)
                        elif msg.type == aiohttp.WSMsgType.PONG:
                            if self._proof is not None:
                                self._proof.pong(msg.data)
                        elif msg.type in (aiohttp.WSMsgType.ERROR, aiohttp.WSMsgType.CLOSED):
                            break
            except asyncio.CancelledError:
                raise
            except Fenced as exc:  # refused while connecting or resyncing: nothing more to read
                log.error("ARI event socket closed: %s", exc)
                if self.guard.lost is not None:
                    break
            except (aiohttp.ClientError, TimeoutError, OSError) as exc:
                log.debug("ARI event socket: %s", exc)
            except Exception:
                log.exception("ARI event socket failed")
            finally:
                if pinger is not None:
                    pinger.cancel()
                self._ws = None
                self._proof = None
                self.guard.app_unproven()
                self.connected.clear()
            if self._closing:
                break
            log.warning("ARI event socket down; reconnecting in %.1f s", delay)
            if was_up:
                await self._renew_session()
            await asyncio.sleep(delay)
            delay = min(self._reconnect_max, delay * 2 + random.uniform(0, 0.1))

    async def _filter_events(self) -> None:
        """Ask Asterisk not to send the events nobody here reads (most of a call's events are
        variable changes): less to parse per call. An Asterisk without the filter sends all."""
        body = {"disallowed": [{"type": kind} for kind in _UNREAD]}
        try:
            await self.request("PUT", f"applications/{self.app}/eventFilter", body=body)
        except (AriError, AriUnavailable) as exc:
            log.debug("ARI event filter not set: %s", exc)

    async def _held_by_another(self) -> bool:
        """Before this process's first connect: does another socket hold our app (an engine that
        may be riding a store outage on it)? A dead engine's socket is gone: no wait then."""
        if self.guard.app_proof_s is None:
            return False
        try:
            await self.get(f"applications/{self.app}")
        except NotFound:
            return False
        except (AriError, AriUnavailable) as exc:
            log.warning("could not ask whether the app is held (%s): assuming it is", exc)
        return True

    def _on_text(self, data: str) -> None:
        if '"ApplicationReplaced"' in data and self._proof is not None:
            self._proof.app_replaced()  # heard even when fenced: it is what tells a frozen engine
        if not self.guard.allowed():  # an event acted upon is an action: a fenced engine has none
            return
        try:
            event = json.loads(data)
        except (ValueError, RecursionError):  # not JSON, or nested beyond reason
            log.warning("ARI sent a frame that is not JSON (%d bytes); ignored", len(data))
            return
        if not isinstance(event, dict) or not isinstance(event.get("type"), str):
            log.warning("ARI sent a malformed event; ignored")
            return
        self.dispatch(event)

    async def _resync(self) -> None:
        """Events are lost while the socket is down. Tell each routed channel whether it is still
        alive (so nobody waits forever for a hangup or a PlaybackFinished that never comes), and
        adopt channels that entered our app unseen (during the outage, or before this process
        started) as if their StasisStart had just arrived."""
        try:
            channels = [c for c in await self.get("channels") if isinstance(c, dict) and "id" in c]
        except (AriError, AriUnavailable) as exc:
            log.warning("resync after reconnect failed: %s", exc)
            return
        live = {c["id"] for c in channels}
        for key in list(self._routes):
            if not key.startswith("channel:"):
                continue
            channel_id = key.split(":", 1)[1]
            if channel_id in live:
                self.dispatch({"type": "Resynced", "channel": {"id": channel_id}, "synthetic": True})
            else:
                gone = {"type": "ChannelDestroyed", "channel": {"id": channel_id}, "cause": 16, "synthetic": True}
                self.dispatch(gone)
        for channel in channels:
            if f"channel:{channel['id']}" in self._routes:
                continue
            args = self._stasis_args(channel)
            if args is not None:
                log.info("adopting channel %s found in the app after (re)connecting", channel["id"])
                self.dispatch({"type": "StasisStart", "channel": channel, "args": args, "synthetic": True})

    def _stasis_args(self, channel: dict[str, Any]) -> list[str] | None:
        """The app arguments if the channel sits in our Stasis app, else None."""
        dialplan = channel.get("dialplan") or {}
        if str(dialplan.get("app_name", "")).lower() != "stasis":
            return None
        parts = str(dialplan.get("app_data", "")).split(",")
        if parts[0] != self.app:
            return None
        return [p for p in parts[1:] if p]


# Events no part of the engine reads: Asterisk is asked not to send them at all.
_UNREAD = ("ChannelVarset", "ChannelDialplan", "ChannelCallerId", "ChannelConnectedLine")

# Events that nobody needs to hear about when unrouted (they follow a hangup or a resync).
_QUIET = frozenset(
    {
        "StasisEnd",
        "ChannelDestroyed",
        "ChannelHangupRequest",
        "ChannelVarset",
        "PlaybackFinished",
        "PlaybackStarted",
        "ChannelDtmfReceived",
        "ChannelStateChange",
        "ChannelTalkingStarted",
        "ChannelTalkingFinished",
        "RecordingFinished",
        "RecordingStarted",
        "ChannelLeftBridge",
        "ChannelEnteredBridge",
        "BridgeDestroyed",
        "BridgeCreated",
        "ChannelDialplan",
        "ChannelCallerId",
        "ChannelConnectedLine",
        "Dial",
        "PlaybackContinuing",
    }
)


async def _close_later(session: aiohttp.ClientSession) -> None:
    await asyncio.sleep(5.0)  # let requests already under way on it finish or fail
    await session.close()


def _event_keys(event: Event) -> list[str]:
    keys: list[str] = []
    channel = event.get("channel")
    if isinstance(channel, dict) and isinstance(channel.get("id"), str):
        keys.append(f"channel:{channel['id']}")
    for holder in ("playback", "recording"):
        obj = event.get(holder)
        if isinstance(obj, dict):
            target = obj.get("target_uri")
            if isinstance(target, str) and ":" in target:
                keys.append(target)
    bridge = event.get("bridge")
    if isinstance(bridge, dict) and isinstance(bridge.get("id"), str):
        keys.append(f"bridge:{bridge['id']}")
    peer = event.get("peer")
    if isinstance(peer, dict) and isinstance(peer.get("id"), str):
        keys.append(f"channel:{peer['id']}")
    return keys


def _param(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (list, tuple)):
        return ",".join(str(v) for v in value)
    return str(value)


def _message(text: str) -> str:
    try:
        data = json.loads(text)
    except ValueError:
        return text[:200]
    if isinstance(data, dict) and "message" in data:
        return str(data["message"])
    return text[:200]
