"""The console and the API while the database is away: a 503 that says so, never a 500 with a
traceback (the soak's outages: 187 requests answered 500, each logged as a crash)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.exc import OperationalError

from tests.console_support import ConsoleLab, console_lab


def away(*_: Any, **__: Any) -> Any:
    raise OperationalError("SELECT", {}, Exception("connection to server failed"))


async def test_pages_and_api_say_the_database_is_away(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    async with console_lab(tmp_path) as lab:
        await _check(lab, monkeypatch, caplog)


async def _check(lab: ConsoleLab, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    sara = await lab.login("sara")
    monkeypatch.setattr(lab.accounts, "resolve", away)  # every page reads the session first
    page = await sara.get("/console/", allow_redirects=False)
    assert page.status == 503 and "riprova tra qualche secondo" in await page.text()
    assert page.headers.get("Retry-After") == "10"

    monkeypatch.setattr(lab.deps.store, "file_outcome", away)
    api = await lab.client()
    answer = await api.post(
        "/api/tickets/1/outcome",
        json={"outcome": "resolved"},
        headers={"Authorization": "Bearer " + "t" * 24},
    )
    assert answer.status == 503 and "unavailable" in (await answer.json())["error"]
    assert not [r for r in caplog.records if r.levelname == "ERROR"], caplog.text
