"""The engine's operations routes: `/metrics` for Prometheus and the administrators' nudge that
makes a change to operators take effect at once (`POST /api/operators/sync`, under the API token
like every /api/ route)."""

from __future__ import annotations

import hmac
from collections.abc import Awaitable, Callable

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST

from ivr.ops.config import MetricsSettings
from ivr.ops.metrics import Metrics
from ivr.web.clientaddr import direct_loopback


def ops_routes(
    metrics: Metrics,
    settings: MetricsSettings,
    resync: Callable[[], Awaitable[int]],
) -> list[web.RouteDef]:
    token = settings.token.get_secret_value() if settings.token is not None else None

    async def serve_metrics(request: web.Request) -> web.Response:
        if not _allowed(request, token):
            return web.json_response({"error": "metrics: loopback only, or the metrics token"}, status=403)
        body = await metrics.render()
        return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})

    async def sync_operators(request: web.Request) -> web.Response:
        return web.json_response({"operators": await resync()})

    routes = [web.post("/api/operators/sync", sync_operators)]
    if settings.enabled:
        routes.append(web.get("/metrics", serve_metrics))
    return routes


def _allowed(request: web.Request, token: str | None) -> bool:
    if token is not None:
        given = request.headers.get("Authorization", "")
        return hmac.compare_digest(given.encode(), f"Bearer {token}".encode())
    # Without a token only the local Prometheus: never the TLS proxy on the same host relaying
    # the internet, which connects from loopback too (and with a plain `proxy_pass`, no header).
    return direct_loopback(request)
