"""The JSON API served with the console answers 404 only for what a request names and is not
there, never for a programming error that happens to be a KeyError."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from ivr.api.deps import NotFound
from tests.console_support import ConsoleLab, console_lab

AUTH = {"Authorization": "Bearer " + "t" * 24}


@pytest.fixture
async def lab(tmp_path: Path) -> Any:
    async with console_lab(tmp_path) as lab:
        yield lab


async def test_an_unknown_operator_is_a_404_that_names_it(lab: ConsoleLab) -> None:
    client = await lab.client()
    response = await client.post("/api/operators/nessuno/presence", json={"presence": "available"}, headers=AUTH)
    assert response.status == 404
    assert await response.json() == {"error": "no operator 'nessuno'"}
    with pytest.raises(NotFound, match="nessuno"):  # also when the operator goes between check and change
        await lab.deps.console.queue.set_presence("nessuno", "paused")


async def test_a_key_error_in_a_handler_is_not_a_404(lab: ConsoleLab, monkeypatch: pytest.MonkeyPatch) -> None:
    def broken() -> dict[str, Any]:
        raise KeyError("waiting")

    monkeypatch.setattr(lab.deps.distributor, "snapshot", broken)
    client = await lab.client()
    response = await client.get("/api/queue", headers=AUTH)
    assert response.status == 500
    presence = await client.post("/api/operators/anna/presence", json={"presence": "paused"}, headers=AUTH)
    assert presence.status == 200 and (await presence.json())["state"] == "paused"
