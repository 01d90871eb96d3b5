"""The engine's operations routes: `/metrics` for Prometheus and the administrators' nudge that
makes a change to operators take effect at once (`POST /api/operators/sync`, under the API token
like every /api/ route)."""

from __future__ import annotations

import hmac
from collections.abc import Awaitable, Callable
from ipaddress import ip_address

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST

from ivr.ops.config import MetricsSettings
from ivr.ops.metrics import Metrics

FORWARDED = ("Forwarded", "X-Forwarded-For", "X-Real-IP")


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
    if any(h in request.headers for h in FORWARDED):
        return False  # came through a proxy: the proxy's loopback address says nothing of the client
    try:
        return request.remote is not None and ip_address(request.remote).is_loopback
    except ValueError:
        return False
