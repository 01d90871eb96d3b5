"""The wallboard's alerts, from the watch the console starts with itself: an operator paused past
the threshold turns up on the open wallboard's stream, amber, without a reload; back available,
the alert goes; with the watch off the board has no alerts section at all."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

from tests.console_support import console_lab

FAST = {"alerts": {"check_every_s": 0.1, "paused_s": {"amber": 0, "red": 3600}}}


async def views(response: Any) -> Any:
    buffer = b""
    while True:
        while b"\n\n" not in buffer:
            buffer += await response.content.readany()
        block, buffer = buffer.split(b"\n\n", 1)
        event, data = block.decode().split("\n", 1)
        if event == "event: view":
            yield json.loads(data.removeprefix("data: "))


async def until(stream: Any, wanted: str, present: bool = True) -> str:
    async def look() -> str:
        async for view in stream:
            html: str = view["board_html"]
            if (wanted in html) == present:
                return html
        raise AssertionError("the stream ended")

    return await asyncio.wait_for(look(), 10)


async def test_a_pause_past_its_threshold_reaches_the_open_wallboard(tmp_path: Path) -> None:
    async with console_lab(tmp_path, FAST) as lab:
        watch = lab.deps.console.alerts
        assert watch is not None
        sara = await lab.login("sara")
        response = await sara.get("/console/wallboard/events")
        stream = views(response)
        html = await until(stream, 'id="wb-no-alerts"')
        assert 'class="alert ' not in html
        await lab.deps.distributor.set_presence("anna", "paused", "Pausa")
        html = await until(stream, 'data-key="paused:anna"')
        assert 'class="alert alert-amber"' in html and "<strong>Ambra</strong> Anna (anna) in pausa da" in html
        assert watch.raised == {("paused", "amber"): 1}
        await lab.deps.distributor.set_presence("anna", "available")
        html = await until(stream, 'data-key="paused:anna"', present=False)
        assert 'id="wb-no-alerts"' in html
        response.close()


async def test_with_the_watch_off_the_board_has_no_alerts(tmp_path: Path) -> None:
    async with console_lab(tmp_path, {"alerts": {"enabled": False}}) as lab:
        assert lab.deps.console.alerts is None
        sara = await lab.login("sara")
        page = await (await sara.get("/console/wallboard")).text()
        assert 'id="wb-admitted"' in page and "Allarmi" not in page
