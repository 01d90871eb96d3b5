"""What the TLS proxy in front of the console must not make public: `/metrics` and `/api/ready`
are answered without a token only to a direct loopback peer, never to the proxy itself, whether or
not it writes a forwarding header (nginx's plain `proxy_pass` writes none)."""

from __future__ import annotations

from ipaddress import ip_network
from pathlib import Path

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from ivr.ops.config import MetricsSettings
from ivr.ops.http import ops_routes
from ivr.web.clientaddr import PROXIES, resolve
from tests.console_support import console_lab
from tests.unit.test_ops import _metrics, _resync

TOKEN = "s3greto-per-prometheus"
API_TOKEN = "t" * 24


def _metrics_app(trusted: list[str], token: str | None = None) -> web.Application:
    """`/metrics` mounted as the engine mounts it: on the API's application, which carries the
    trusted proxies (`ivr.api.server.make_api`)."""
    app = web.Application()
    app[PROXIES] = (tuple(ip_network(n) for n in trusted), "x-forwarded-for")
    app.add_routes(ops_routes(_metrics(), MetricsSettings(token=token), _resync))
    return app


async def _status(app: web.Application, headers: dict[str, str] | None = None) -> int:
    async with TestClient(TestServer(app, host="127.0.0.1")) as client:
        return (await client.get("/metrics", headers=headers or {})).status


@pytest.mark.parametrize("trusted", [["127.0.0.1"], ["127.0.0.0/8"], ["::1", "127.0.0.1/32"]])
async def test_metrics_relayed_by_a_trusted_proxy_without_header_are_refused(trusted: list[str]) -> None:
    # The proxy on this host relays the internet's request with no forwarding header at all.
    assert await _status(_metrics_app(trusted)) == 403
    assert await _status(_metrics_app(trusted), {"X-Forwarded-For": "127.0.0.1"}) == 403


async def test_metrics_from_a_direct_loopback_peer_still_answer() -> None:
    assert await _status(_metrics_app([])) == 200
    assert await _status(_metrics_app(["10.0.0.0/8"])) == 200  # the proxy is elsewhere; this is Prometheus
    assert await _status(_metrics_app([]), {"X-Forwarded-For": "203.0.113.9"}) == 403  # some proxy relayed it


async def test_metrics_with_the_token_answer_through_the_proxy() -> None:
    app = _metrics_app(["127.0.0.1"], token=TOKEN)
    assert await _status(app, {"Authorization": f"Bearer {TOKEN}"}) == 200
    assert await _status(_metrics_app(["127.0.0.1"], token=TOKEN), {"Authorization": "Bearer wrong"}) == 403
    assert await _status(_metrics_app([], token=TOKEN)) == 403  # with a token, loopback needs it too


async def test_ready_through_the_proxy_needs_the_api_token(tmp_path: Path) -> None:
    extra = {"console": {"api_token": API_TOKEN, "trusted_proxies": ["127.0.0.1"]}}
    async with console_lab(tmp_path, extra) as lab:
        client = await lab.client()
        relayed = await client.get("/api/ready")
        assert relayed.status == 401, await relayed.text()
        forwarded = await client.get("/api/ready", headers={"X-Forwarded-For": "203.0.113.9"})
        assert forwarded.status == 401
        with_token = await client.get("/api/ready", headers={"Authorization": f"Bearer {API_TOKEN}"})
        assert with_token.status == 503 and (await with_token.json())["ready"] is False  # ARI is not there


async def test_ready_from_a_direct_peer_needs_no_token(tmp_path: Path) -> None:
    async with console_lab(tmp_path) as lab:
        client = await lab.client()
        response = await client.get("/api/ready")
        assert response.status == 503
        assert await response.json() == {"ready": False, "role": "active", "status": "down"}


@pytest.mark.parametrize(
    "path",
    [
        "/api/queue",
        "/API/queue",
        "/api//queue",
        "/api/public/../queue",
        "/api/public/%2e%2e/queue",
        "/api/ready/../queue",
        "/api/%71ueue",
        "/console/../api/queue",
    ],
)
async def test_the_bearer_api_cannot_be_reached_around_its_token(tmp_path: Path, path: str) -> None:
    async with console_lab(tmp_path) as lab:
        client = await lab.client()
        response = await client.get(path, headers={"Authorization": "Bearer " + "u" * 24})
        assert response.status in (401, 404), (path, response.status)
        assert "waiting" not in await response.text()


def test_a_proxy_reaching_a_dual_stack_socket_is_still_the_proxy() -> None:
    """With `console.bind: "::"` an IPv4 proxy connects as `::ffff:127.0.0.1`: still the proxy
    named `127.0.0.1` (its header believed, its own requests relayed)."""
    trusted = [ip_network("127.0.0.1/32")]
    headers = [("X-Forwarded-For", "203.0.113.9")]
    assert resolve("::ffff:127.0.0.1", headers, trusted, "x-forwarded-for") == "203.0.113.9"
    assert resolve("::ffff:198.51.100.7", headers, trusted, "x-forwarded-for") == "::ffff:198.51.100.7"
