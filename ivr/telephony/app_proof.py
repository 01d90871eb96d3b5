"""Pings on the ARI event socket that prove our Stasis app is still ours (see ivr.ha.guard).

Asterisk answers a WebSocket ping on the socket it arrived on, after every event it had already
queued there; an ApplicationReplaced (another socket took the app) is one of those events. A pong
read with no ApplicationReplaced before it on the same socket therefore proves the app was ours
when the ping was sent. Each ping carries its number, so a late pong proves only its own ping's
time, never a newer one.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Protocol

from ivr.ha.guard import LineGuard

log = logging.getLogger(__name__)


class PingSocket(Protocol):
    async def ping(self, message: bytes = b"") -> None: ...


class AppProof:
    """One event socket's proofs: created when it opens, dropped when it closes."""

    def __init__(self, guard: LineGuard, every_s: float) -> None:
        self.guard = guard
        self.every_s = every_s
        self.replaced = False  # this socket lost the app: its later pongs prove nothing
        self._sent: dict[int, float] = {}
        self._next = 0

    async def run(self, ws: PingSocket) -> None:
        """Ping until cancelled (the socket's reader cancels it when the socket closes)."""
        while not self.replaced:
            self._next += 1
            self._sent[self._next] = self.guard.now()
            if len(self._sent) > 64:  # pongs that never came (a stalled link): forget the oldest
                del self._sent[min(self._sent)]
            await ws.ping(str(self._next).encode())
            await asyncio.sleep(self.every_s)

    def pong(self, data: bytes) -> None:
        try:
            number = int(data.decode())
        except (UnicodeDecodeError, ValueError):
            return  # a pong to the heartbeat's own (empty) ping
        sent = self._sent.pop(number, None)
        for older in [n for n in self._sent if n < number]:
            del self._sent[older]
        if sent is not None and not self.replaced:
            self.guard.app_owned(sent)

    def app_replaced(self) -> None:
        self.replaced = True
        self.guard.app_replaced()
        log.error(
            "Asterisk gave the Stasis app to another event socket%s",
            ": this engine is fenced" if self.guard.lost else "",
        )
