"""AMI adapter on panoramisk: health and device watching, with the timeouts panoramisk lacks.

panoramisk reconnects and logs in again by itself, but `connect()` does not wait for the login,
actions wait forever, and its ping cannot see a half-open socket. This wrapper adds a login
event, a timeout on every action, and a liveness loop that drops the socket when Asterisk stops
answering, so panoramisk's own reconnect takes over.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from typing import Any

from panoramisk import Manager
from panoramisk.ami_protocol import AMIProtocol

from ivr.telephony.errors import AmiError

log = logging.getLogger(__name__)

AmiEvent = dict[str, Any]

# Headers panoramisk routes a message by, expecting one value each.
_ROUTING_HEADERS = frozenset({"event", "response", "actionid", "commandid"})


class GuardedProtocol(AMIProtocol):  # type: ignore[misc]
    """panoramisk reads a header sent twice as a list of values; a list where it routes by one
    value (the event name, the action id) raises out of `data_received`, and asyncio then drops
    the whole AMI connection. Such a message is malformed anyway: it is dropped on its own,
    with a warning, and the connection goes on."""

    def handle_message(self, message: Any) -> None:
        repeated = sorted(k for k, v in message.items() if isinstance(v, list) and k.lower() in _ROUTING_HEADERS)
        if repeated:
            log.warning("AMI message dropped: header %s given more than once", ", ".join(repeated))
            return
        super().handle_message(message)


class AmiMonitor:
    def __init__(
        self,
        host: str,
        port: int,
        username: str,
        secret: str,
        *,
        action_timeout_s: float = 5.0,
        ping_interval_s: float = 10.0,
    ) -> None:
        self._timeout = action_timeout_s
        self._ping_interval = ping_interval_s
        self.logged_in = asyncio.Event()
        self.logins = 0
        self._manager = Manager(
            host=host,
            port=port,
            username=username,
            secret=secret,
            ping_delay=3600,  # its pinger cannot detect a dead peer; ours below can
            ping_interval=3600,
            reconnect_timeout=1,
            protocol_factory=GuardedProtocol,
            on_login=self._on_login,
            on_disconnect=self._on_disconnect,
            log=logging.getLogger("ivr.ami.panoramisk"),
        )
        self._watchdog: asyncio.Task[None] | None = None

    def _on_login(self, _manager: Manager) -> None:
        self.logins += 1
        log.info("AMI logged in (%d)", self.logins)
        self.logged_in.set()

    def _on_disconnect(self, _manager: Manager, _exc: Exception | None) -> None:
        log.warning("AMI connection lost; panoramisk reconnects")
        self.logged_in.clear()

    async def start(self) -> None:
        self._manager.loop = asyncio.get_running_loop()
        self._manager.connect()
        if self._watchdog is None:
            self._watchdog = asyncio.create_task(self._watch(), name="ami-watchdog")

    async def wait_logged_in(self, timeout: float) -> None:
        try:
            await asyncio.wait_for(self.logged_in.wait(), timeout)
        except TimeoutError:
            raise AmiError(f"AMI not logged in after {timeout:.0f} s") from None

    async def stop(self) -> None:
        if self._watchdog is not None:
            self._watchdog.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._watchdog
            self._watchdog = None
        # panoramisk schedules reconnects (on connection_lost, and after failed connects); a
        # stopped monitor must not come back to life from one already scheduled.
        self._manager.connection_lost = lambda _exc: None
        self._manager.connect = lambda *_a, **_k: None
        self._manager.close()
        self.logged_in.clear()

    def on_event(self, pattern: str, callback: Callable[[AmiEvent], None]) -> None:
        self._manager.register_event(pattern, lambda _m, event: callback(dict(event)))

    async def action(self, action: dict[str, Any], *, timeout: float | None = None) -> Any:
        """Send an action and wait for its response, at most `timeout` seconds."""
        if not self.logged_in.is_set() or self._manager.protocol is None:
            raise AmiError(f"AMI not connected; cannot send {action.get('Action')}")
        try:
            future = self._manager.send_action(dict(action))
            response = await asyncio.wait_for(future, timeout or self._timeout)
        except TimeoutError:
            raise AmiError(f"AMI action {action.get('Action')} timed out") from None
        if isinstance(response, list):
            return response
        if response is not None and response.get("Response") == "Error":
            raise AmiError(f"AMI {action.get('Action')}: {response.get('Message')}")
        return response

    async def alive(self) -> bool:
        try:
            response = await self.action({"Action": "Ping"}, timeout=min(self._timeout, 3.0))
        except AmiError:
            return False
        return response is not None and response.get("Response") == "Success"

    async def _watch(self) -> None:
        while True:
            await asyncio.sleep(self._ping_interval)
            if self.logged_in.is_set() and not await self.alive():
                log.warning("AMI did not answer a ping; dropping the connection to reconnect")
                protocol = self._manager.protocol
                if protocol is not None and protocol.transport is not None:
                    protocol.transport.abort()
