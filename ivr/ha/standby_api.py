"""What a standby answers on the console's port: its role and who is active, nothing else.

The full API and console start only with the engine, once the lease is taken: a standby has no
queue, no store writer and no Asterisk connection to show.
"""

from __future__ import annotations

import hmac
from collections.abc import Callable

from aiohttp import web

from ivr.ha.lease import Holder
from ivr.settings import Settings


def standby_api(settings: Settings, holder: Callable[[], Holder | None]) -> web.Application:
    token = settings.console.api_token
    secret = token.get_secret_value() if token is not None else ""

    def report() -> dict[str, object]:
        active = holder()
        return {
            "status": "standby",
            "ready": False,
            "role": "standby",
            "lease": {"holder": active.as_dict() if active else None},
            "ari": False,
            "ari_reason": "standby: this engine does not connect to Asterisk",
            "ami": False,
        }

    async def health(request: web.Request) -> web.Response:
        given = request.headers.get("Authorization", "")
        if not secret or not hmac.compare_digest(given.encode(), f"Bearer {secret}".encode()):
            return web.json_response({"error": "missing or wrong API token"}, status=401)
        return web.json_response(report())

    async def ready(request: web.Request) -> web.Response:
        return web.json_response({"ready": False, "role": "standby", "status": "standby"}, status=503)

    app = web.Application()
    app.router.add_get("/api/health", health)
    app.router.add_get("/api/ready", ready)
    return app
