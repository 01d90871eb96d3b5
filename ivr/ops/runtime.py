"""What the running engine does for the people who run it: says where the console is and, on a
fresh install, how to create the first administrator; tells systemd it is ready and alive; keeps
the metrics' counters."""

from __future__ import annotations

import asyncio
import logging
import socket
from collections.abc import Awaitable, Callable

from ivr.callflows.bus import CallBus
from ivr.ops import sdnotify
from ivr.ops.metrics import Metrics, stop_task
from ivr.settings import Settings

log = logging.getLogger(__name__)

FIRST_ADMIN = "ivr user add admin --role administrator"


def console_url(settings: Settings) -> str:
    bind = settings.console.bind
    host = socket.getfqdn() if bind in ("0.0.0.0", "::", "") else bind
    host = f"[{host}]" if ":" in host else host
    return f"http://{host}:{settings.console.port}/console/"


class Operations:
    def __init__(
        self,
        settings: Settings,
        metrics: Metrics,
        administrators: Callable[[], Awaitable[int]],
        status: Callable[[], str],
    ) -> None:
        self.settings = settings
        self.metrics = metrics
        self.administrators = administrators
        self.status = status
        self._tasks: list[asyncio.Task[None]] = []

    async def started(self, bus: CallBus, api_up: bool) -> None:
        self._tasks.append(asyncio.create_task(self.metrics.watch(bus), name="metrics-bus"))
        if api_up:
            log.info("console: %s", console_url(self.settings))
            if self.settings.metrics.enabled:
                log.info("metrics: %smetrics", console_url(self.settings).removesuffix("console/"))
            await self._first_admin_hint()
        sdnotify.notify(f"READY=1\nSTATUS={self.status()}")
        interval = sdnotify.watchdog_interval()
        if interval is not None:
            self._tasks.append(asyncio.create_task(sdnotify.keep_alive(interval, self.status), name="sd-watchdog"))

    async def _first_admin_hint(self) -> None:
        try:
            admins = await self.administrators()
        except Exception as exc:  # the database away at start: the outbox carries on, the hint waits
            log.warning("could not count console administrators: %s", exc)
            return
        if admins == 0:
            log.warning(
                "no console administrator yet: create the first one with `%s` (it prints the password once)",
                FIRST_ADMIN,
            )

    async def stopping(self) -> None:
        sdnotify.notify("STOPPING=1")
        for task in self._tasks:
            await stop_task(task)
        self._tasks.clear()
