"""What every answer of the engine's HTTP server carries, and a small per-client rate limit.

The public pages (/richiesta, /statistiche and its downloads, the public API) are read by anybody,
so they get the same protections as the console: no framing (click-jacking), no content-type
guessing, no referrer leaking the query, and a content policy that runs no script at all. Behind
TLS, HSTS tells browsers never to come back over plain HTTP.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Awaitable, Callable

from aiohttp import web
from aiohttp.typedefs import Middleware

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
HSTS = "max-age=31536000"
PUBLIC_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    # The public pages have no script; their small style sheets are inline.
    "Content-Security-Policy": (
        "default-src 'none'; script-src 'none'; style-src 'unsafe-inline'; img-src 'self' data:; "
        "form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
    ),
}


def security_headers(*, hsts: bool) -> Middleware:
    """A middleware adding the headers to every answer, errors included; the console's own,
    stricter for its pages, were set first and are kept."""

    def add(response: web.StreamResponse) -> None:
        if response.prepared:  # a stream already started sent its headers
            return
        for name, value in PUBLIC_HEADERS.items():
            response.headers.setdefault(name, value)
        if hsts:
            response.headers.setdefault("Strict-Transport-Security", HSTS)

    @web.middleware
    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        try:
            response = await handler(request)
        except web.HTTPException as exc:
            add(exc)
            raise
        add(response)
        return response

    return middleware


class RateLimiter:
    """At most `limit` requests per key in any `window_s` seconds (a sliding window).

    Kept in memory and bounded: when more keys are tracked than `max_keys`, the idle ones go
    first, then the oldest, so a flood of fresh addresses cannot grow it without end.
    """

    def __init__(self, limit: int, window_s: float, *, max_keys: int = 10_000) -> None:
        if limit < 1 or window_s <= 0:
            raise ValueError("a rate limit needs limit >= 1 and a positive window")
        self.limit, self.window_s, self.max_keys = limit, window_s, max_keys
        self._seen: dict[str, deque[float]] = {}

    def check(self, key: str, now: float) -> int | None:
        """None when allowed (and counted); else how many whole seconds to wait."""
        times = self._seen.get(key)
        if times is None:
            self._make_room(now)
            times = self._seen[key] = deque()
        while times and now - times[0] >= self.window_s:
            times.popleft()
        if len(times) >= self.limit:
            return max(1, math.ceil(self.window_s - (now - times[0])))
        times.append(now)
        return None

    def _make_room(self, now: float) -> None:
        if len(self._seen) < self.max_keys:
            return
        self._seen = {k: t for k, t in self._seen.items() if t and now - t[-1] < self.window_s}
        while len(self._seen) >= self.max_keys:
            del self._seen[next(iter(self._seen))]
