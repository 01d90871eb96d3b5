"""Safe defaults of the engine's HTTP side: the production profile (secure cookies, HSTS), security
headers on the public pages, JSON only on the public API, and bounded public statistics."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from tests.console_support import ConsoleLab, console_lab

PUBLIC_PAGES = ["/richiesta", "/statistiche", "/statistiche.json", "/statistiche.csv", "/statistiche?periodo=anno"]
BODY = {
    "name": "Maria Rossi", "email": "maria@example.org", "topic": "citizens",
    "subject": "Domanda", "message": "Vorrei sapere come iscrivermi.", "privacy": True,
}  # fmt: skip


def _production(tmp: Path) -> dict[str, Any]:
    return {"profile": "production", "database": {"url": f"sqlite:///{tmp / 'nul.db'}"}}


def _cookies(response: Any) -> list[str]:
    return response.headers.getall("Set-Cookie", [])


@pytest.mark.parametrize("profile", ["production", "development"])
async def test_production_profile_sends_secure_cookies_and_hsts(tmp_path: Path, profile: str) -> None:
    extra = _production(tmp_path) if profile == "production" else {}
    async with console_lab(tmp_path, extra) as lab:
        client = await lab.client()
        login = await client.get("/console/login")
        production = profile == "production"
        assert login.status == 200 and _cookies(login)
        assert all(("Secure" in c) == production for c in _cookies(login)), _cookies(login)
        for path in ("/console/login", "/statistiche", "/richiesta"):
            response = await client.get(path)
            hsts = response.headers.get("Strict-Transport-Security", "")
            assert ("max-age=" in hsts) == production, (path, hsts)


async def test_an_explicit_cookie_setting_wins_over_the_profile(tmp_path: Path) -> None:
    extra = {**_production(tmp_path), "console": {"api_token": "t" * 24, "cookie_secure": False, "hsts": False}}
    async with console_lab(tmp_path, extra) as lab:
        login = await (await lab.client()).get("/console/login")
        assert not any("Secure" in c for c in _cookies(login))
        assert "Strict-Transport-Security" not in login.headers


async def test_public_pages_carry_security_headers(tmp_path: Path) -> None:
    async with console_lab(tmp_path) as lab:
        client = await lab.client()
        responses = [await client.get(path) for path in PUBLIC_PAGES]
        responses.append(await client.post("/richiesta", data={"name": "x"}))  # the form shown again, 400
        responses.append(await client.post("/api/public/requests", json=BODY))
        for response in responses:
            h = response.headers
            where = f"{response.method} {response.url.path} {response.status}"
            assert "frame-ancestors 'none'" in h.get("Content-Security-Policy", ""), where
            assert (
                "script-src 'none'" in h["Content-Security-Policy"]
                or "script-src 'self'" in h["Content-Security-Policy"]
            ), where
            assert h.get("X-Frame-Options") == "DENY", where
            assert h.get("X-Content-Type-Options") == "nosniff", where
            assert h.get("Referrer-Policy"), where


@pytest.mark.parametrize("content_type", ["text/plain", "application/x-www-form-urlencoded", None, "application/jsonp"])
async def test_public_api_accepts_only_json(tmp_path: Path, content_type: str | None) -> None:
    import json

    async with console_lab(tmp_path) as lab:
        client = await lab.client()
        headers = {} if content_type is None else {"Content-Type": content_type}
        refused = await client.post("/api/public/requests", data=json.dumps(BODY).encode(), headers=headers)
        assert refused.status == 415 and "application/json" in (await refused.json())["error"]
        accepted = await client.post(
            "/api/public/requests", data=json.dumps(BODY), headers={"Content-Type": "application/json; charset=utf-8"}
        )
        assert accepted.status == 201


async def _first_ticket(lab: ConsoleLab) -> str:
    await lab.call("3335550003")
    return lab.clock.now().date().isoformat()


async def test_statistics_ranges_are_clamped_to_the_service_life(tmp_path: Path) -> None:
    async with console_lab(tmp_path) as lab:
        first = await _first_ticket(lab)
        today = lab.clock.now().date().isoformat()
        client = await lab.client()
        wide = await client.get("/statistiche.json", params={"da": "2020-01-01", "a": "2029-12-31", "periodo": "mese"})
        document = await wide.json()
        assert wide.status == 200 and (document["from"], document["to"]) == (first, today)
        future = await client.get("/statistiche.json", params={"da": "2027-01-01", "a": "2027-02-01"})
        assert future.status == 400 and "futuro" in (await future.json())["errore"]
        past = await client.get("/statistiche", params={"da": "2001-01-01", "a": "2001-02-01"})
        assert past.status == 400 and "attivo dal" in await past.text()


async def test_statistics_are_rate_limited_per_client(tmp_path: Path) -> None:
    extra = {
        "console": {"api_token": "t" * 24, "trusted_proxies": ["127.0.0.1"]},
        "stats": {"public_requests_per_min": 3},
    }
    async with console_lab(tmp_path, extra) as lab:
        client = await lab.client()
        me, other = {"X-Forwarded-For": "203.0.113.9"}, {"X-Forwarded-For": "198.51.100.77"}
        paths = ["/statistiche", "/statistiche.json", "/statistiche.csv", "/statistiche"]
        statuses = [(await client.get(p, headers=me)).status for p in paths]
        assert statuses == [200, 200, 200, 429]
        limited = await client.get("/statistiche.json", headers=me)
        assert limited.status == 429 and limited.headers.get("Retry-After")
        assert (await client.get("/statistiche", headers=other)).status == 200
        lab.clock.set(lab.clock.now() + timedelta(minutes=2))
        assert (await client.get("/statistiche", headers=me)).status == 200
