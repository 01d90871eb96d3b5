"""Is our Stasis application registered in Asterisk? Asked, not assumed.

Asterisk gives an application's events to the newest WebSocket that asked for it. If another
process connects for the same name and then goes away, Asterisk drops the application although our
own socket is still open: no event reaches us, and every new call fails in the dialplan. Our socket
cannot tell; `GET /applications/{app}` can. So it is asked every few seconds (and by every health
request): when the application is missing, the event socket is reopened, which registers it again
and resyncs the channels waiting in it.
"""

from __future__ import annotations

import asyncio
import logging

from ivr.tasks import TaskSupervisor
from ivr.telephony.ari import AriClient
from ivr.telephony.errors import AriError, AriUnavailable, NotFound

log = logging.getLogger(__name__)


class AppWatch:
    def __init__(self, ari: AriClient, every_s: float, *, tasks: TaskSupervisor) -> None:
        self.ari = ari
        self.every_s = every_s
        self.tasks = tasks
        self.registered = False
        self.reason: str | None = "not checked yet"
        self.reregistered = 0  # times the app was found missing and the socket reopened (tests, logs)
        self._running = False
        self._lock = asyncio.Lock()

    def start(self) -> None:
        if not self._running:
            self._running = True
            self.tasks.spawn(self._loop(), name="ari-app-watch")

    def stop(self) -> None:
        self._running = False

    def healthy(self) -> tuple[bool, str | None]:
        """What health says of ARI: the socket up and the application registered."""
        if not self.ari.connected.is_set():
            return False, "ARI event socket not connected"
        if not self.registered:
            return False, self.reason
        return True, None

    async def check(self) -> bool:
        """Ask Asterisk now; reopen the event socket if the application is gone."""
        async with self._lock:
            try:
                await self.ari.get(f"applications/{self.ari.app}")
            except NotFound:
                self.registered = False
                self.reason = f"application {self.ari.app!r} not registered in Asterisk"
            except (AriError, AriUnavailable) as exc:
                self.registered = False
                self.reason = f"ARI not answering: {exc}"
                return False
            else:
                self.registered = True
                self.reason = None
                return True
            if self.ari.connected.is_set():
                self.reregistered += 1
                log.error("%s while our event socket is open: reopening it", self.reason)
                await self.ari.reconnect()
            return False

    async def _loop(self) -> None:
        while self._running:
            await self.check()
            await asyncio.sleep(self.every_s)
