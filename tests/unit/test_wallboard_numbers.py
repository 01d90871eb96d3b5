"""The wallboard, often on a shared screen, shows callers' and callback numbers masked; in full
only with `console.wallboard_show_numbers`, and every supervisor who sees them so is audited."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from ivr.schema.console import AuditEntry
from tests.console_support import ConsoleLab, console_lab

CALLER, CALLBACK = "+393471234567", "0612345678"


async def _board_view(lab: ConsoleLab) -> tuple[str, str]:
    """The page and the first view its live stream sends, as a supervisor sees them."""
    lab.deps.distributor.enqueue(1, None, "citizens", CALLER)  # a caller on the line
    lab.deps.distributor.enqueue(2, None, "citizens", CALLBACK, virtual=True)  # a callback kept in the queue
    sara = await lab.login("sara")
    page = await (await sara.get("/console/wallboard")).text()
    events = await sara.get("/console/wallboard/events")
    buffer = b""
    while b"\n\n" not in buffer:
        buffer += await events.content.readany()
    events.close()
    event, data = buffer.split(b"\n\n")[0].decode().split("\n")
    assert event == "event: view"
    view: dict[str, Any] = json.loads(data.removeprefix("data: "))
    return page, view["board_html"]


async def _audited(lab: ConsoleLab) -> list[AuditEntry]:
    entries = await lab.accounts.audit_entries(login="sara")
    return [e for e in entries if e.action == "wallboard_numbers"]


async def test_the_wallboard_masks_numbers_by_default(tmp_path: Path) -> None:
    async with console_lab(tmp_path) as lab:
        page, live = await _board_view(lab)
        for shown in (page, live):
            assert "3471234567" not in shown and "1234567" not in shown and "12345678" not in shown
            assert "***567" in shown and "***678" in shown
        assert await _audited(lab) == []


async def test_numbers_in_full_with_the_setting_and_audited(tmp_path: Path) -> None:
    extra = {"console": {"api_token": "t" * 24, "wallboard_show_numbers": True}}
    async with console_lab(tmp_path, extra) as lab:
        page, live = await _board_view(lab)
        for shown in (page, live):
            assert CALLER in shown and CALLBACK in shown
        entries = await _audited(lab)
        assert len(entries) == 1  # the page and its stream in one window: one entry
        assert (entries[0].object_kind, entries[0].object_id, entries[0].address) == (
            "wallboard",
            "numbers",
            "127.0.0.1",
        )


async def test_the_apis_queue_list_masks_numbers_unless_personal_data_is_logged(tmp_path: Path) -> None:
    """`ivr queue status` prints what /api/queue answers: a list like the wallboard."""
    for personal_data in (False, True):
        extra = {"console": {"api_token": "t" * 24}, "logging": {"personal_data": personal_data}}
        async with console_lab(tmp_path / str(personal_data), extra) as lab:
            lab.deps.distributor.enqueue(1, None, "citizens", CALLER)
            lab.deps.distributor.enqueue(2, None, "citizens", None)  # withheld: nothing to mask
            client = await lab.client()
            response = await client.get("/api/queue", headers={"Authorization": "Bearer " + "t" * 24})
            assert response.status == 200
            callers = [call["caller"] for call in (await response.json())["waiting"]]
            assert callers == ([CALLER, None] if personal_data else ["***567", None])
