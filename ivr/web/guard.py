"""What every answer of the engine's HTTP server carries, and a small per-client rate limit.

The public pages (/richiesta, /statistiche and its downloads, the public API) are read by anybody,
so they get the same protections as the console: no framing (click-jacking), no content-type
guessing, no referrer leaking the query, and a content policy that runs no script at all. Behind
TLS, HSTS tells browsers never to come back over plain HTTP.
"""

from __future__ import annotations

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
