"""Change notifications for the console's live views (server-sent events).

The distributor says "something changed" (a call queued, an operator rung, a presence set); each
open page then recomputes its own small view and sends it only if it differs. Nothing is pushed
to a page that did not change, and a slow browser never slows the distributor down.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

from aiohttp import web

from ivr.acd.distributor import Distributor

HEARTBEAT_S = 15.0


class LiveHub:
    def __init__(self, distributor: Distributor) -> None:
        self.distributor = distributor
        self.version = 0
        self.closing = asyncio.Event()
        self._changed = asyncio.Event()
        self.last_ticket: dict[str, int] = {}  # operator login -> the last call offered to them
        distributor.on_change.subscribe(self.notify)

    def notify(self) -> None:
        """Wake every live view; also remembers which call each operator was last given."""
        for login, agent in self.distributor.agents.items():
            if agent.ticket_id is not None:
                self.last_ticket[login] = agent.ticket_id
        self.version += 1
        event, self._changed = self._changed, asyncio.Event()
        event.set()

    async def wait(self, version: int, timeout: float) -> int:
        """Until something changed after `version` (or the timeout); returns the new version."""
        if self.version == version:
            waiter = self._changed
            closing = asyncio.ensure_future(self.closing.wait())
            changed = asyncio.ensure_future(waiter.wait())
            try:
                await asyncio.wait([closing, changed], timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
            finally:
                for task in (closing, changed):
                    task.cancel()
        return self.version


async def stream(
    request: web.Request,
    hub: LiveHub,
    compute: Callable[[], Awaitable[dict[str, Any]]],
    still_allowed: Callable[[], Awaitable[bool]],
    min_interval_s: float = 0.5,
) -> web.StreamResponse:
    """Serve one page's event stream: `compute()` gives the view, sent when it changes."""
    response = web.StreamResponse(
        headers={"Content-Type": "text/event-stream", "Cache-Control": "no-store", "X-Accel-Buffering": "no"}
    )
    await response.prepare(request)
    loop = asyncio.get_running_loop()
    last: str | None = None
    checked = loop.time()
    with contextlib.suppress(ConnectionResetError, asyncio.CancelledError):
        async for _ in _ticks(hub, min_interval_s):
            if loop.time() - checked > 60:  # the session may have ended meanwhile
                checked = loop.time()
                if not await still_allowed():
                    await response.write(b"event: logout\ndata: {}\n\n")
                    break
            view = json.dumps(await compute(), ensure_ascii=False, default=str)
            if view != last:
                last = view
                await response.write(f"event: view\ndata: {view}\n\n".encode())
            else:
                await response.write(b": ping\n\n")
    return response


async def _ticks(hub: LiveHub, min_interval_s: float) -> AsyncIterator[int]:
    version = hub.version
    while not hub.closing.is_set():
        yield version
        await asyncio.sleep(min_interval_s)  # a burst of changes becomes one update
        version = await hub.wait(version, HEARTBEAT_S)
