"""ARI requests and AMI actions timed for the metrics: the clients as they are, plus an observer
told each round trip's method (or action) and duration, failures included."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from ivr.telephony.ami import AmiMonitor
from ivr.telephony.ari import AriClient

Observe = Callable[[str, float], None]


class TimedAriClient(AriClient):
    observe: Observe | None = None

    async def request(
        self,
        method: str,
        path: str,
        params: dict[str, Any] | None = None,
        body: Any = None,
    ) -> Any:
        start = time.perf_counter()
        try:
            return await super().request(method, path, params, body)
        finally:
            if self.observe is not None:
                self.observe(method, time.perf_counter() - start)


class TimedAmiMonitor(AmiMonitor):
    observe: Observe | None = None

    async def action(self, action: dict[str, Any], *, timeout: float | None = None) -> Any:
        start = time.perf_counter()
        try:
            return await super().action(action, timeout=timeout)
        finally:
            if self.observe is not None:
                self.observe(str(action.get("Action", "?")), time.perf_counter() - start)
