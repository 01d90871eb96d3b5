"""The desk's browser phone under repeated real calls: time from the caller's menu key to the
desk ringing, and the page's JavaScript heap after N calls (issue 17). Nothing is asserted.

A real Asterisk pair (engine + lab carrier) as in the test suite, the engine in this process,
headless Chromium with a WAV as the operator's microphone; each call: the citizen presses 1 in
the menu, the desk rings, the operator answers in the page, talks for a moment and hangs up.

    .venv/bin/python -W ignore bench/desk_phone.py              # 50 calls
    .venv/bin/python -W ignore bench/desk_phone.py --calls 10 --talk 1
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from playwright.async_api import Page, async_playwright  # noqa: E402

from bench.common import percentile  # noqa: E402
from ivr.acd.agents import AgentState  # noqa: E402
from ivr.lab.carrier import LabCall  # noqa: E402
from tests.browser.conftest import CHROMIUM, FLAGS  # noqa: E402
from tests.browser.test_desk_phone import add_operator, media_flags, microphone_wav, open_desk  # noqa: E402
from tests.harness.callers import Watcher  # noqa: E402
from tests.harness.pbx import start_pair  # noqa: E402
from tests.harness.queueline import QueueLine, queue_line  # noqa: E402
from tests.harness.voices import make_voices  # noqa: E402

FLOW = """
name: desk-phone-bench
start: menu
nodes:
  menu:
    type: menu
    prompt: menu_main
    options: {"1": {next: queue, topic: citizens}}
    default: {next: queue, topic: citizens}
  queue: {type: queue, fallback: voicemail}
  voicemail: {type: voicemail, reason: busy}
"""


async def heap_mb(page: Page) -> float:
    """The page's used JavaScript heap after a full garbage collection (Chrome DevTools)."""
    cdp = await page.context.new_cdp_session(page)
    try:
        await cdp.send("HeapProfiler.collectGarbage")
        usage = await cdp.send("Runtime.getHeapUsage")
    finally:
        await cdp.detach()
    return float(usage["usedSize"]) / 1e6


async def one_call(line: QueueLine, desk: Page, number: str, talk_s: float) -> float:
    """Key to ring, in seconds (the page's clock and this one are the same machine's)."""
    pressed: list[float] = []
    engine, carrier = line.engine, line.pbx.carrier
    with engine.bus.watch() as queue:
        call: LabCall = await carrier.call(engine.settings.service.did, caller_number=number)
        w = Watcher(queue, number)
        await w.playing("menu_main")
        await asyncio.sleep(0.5)
        pressed.append(time.time())
        await call.press("1")
        answer = desk.get_by_role("button", name="Rispondi")
        await answer.wait_for(state="visible", timeout=40_000)
        ring_at = await desk.evaluate("() => window.nulPhone.ringAt")
        await answer.click()
        await w.until_event("operator_answered", timeout=30)
        await asyncio.sleep(talk_s)
        await desk.get_by_role("button", name="Riaggancia").click()
        await call.wait_ended(timeout=30)
    await line.until(lambda: line.state("anna") is AgentState.AVAILABLE, "anna available", timeout=30)
    return float(ring_at) / 1000 - pressed[0]


async def main(args: argparse.Namespace) -> dict[str, Any]:
    work = Path(tempfile.mkdtemp(prefix="bench-desk-"))
    voices = make_voices(work / "voices")
    pair = start_pair(work / "prompts")
    try:
        await pair.carrier.connect()
        webrtc = {"heartbeat_s": 2, "desk_timeout_s": 10, "audio_processing": False}
        async with (
            queue_line(pair, work, voices, flow=FLOW, queue={"wrap_up_s": 0}, asterisk={"webrtc": webrtc}) as line,
            async_playwright() as pw,
        ):
            flags = FLAGS + media_flags(microphone_wav(voices, work))
            browser = await pw.chromium.launch(executable_path=CHROMIUM, args=flags, headless=True)
            await add_operator(line, "anna")
            desk = await open_desk(line, browser)
            await line.engine.distributor.set_presence("anna", "available")
            heap = {"start": await heap_mb(desk)}
            rings: list[float] = []
            for i in range(args.calls):
                rings.append(await one_call(line, desk, f"35{i:08d}", args.talk))
                if i == 0:
                    heap["after_1"] = await heap_mb(desk)
                print(f"call {i + 1}: key to ring {rings[-1] * 1000:.0f} ms", flush=True)
            heap[f"after_{args.calls}"] = await heap_mb(desk)
            await browser.close()
    finally:
        await pair.carrier.close()
        pair.stop()
    return {
        "calls": args.calls,
        "key_to_ring_ms": {
            "p50": round(percentile(rings, 50) * 1000),
            "p95": round(percentile(rings, 95) * 1000),
            "max": round(max(rings) * 1000),
        },
        "js_heap_mb": {k: round(v, 2) for k, v in heap.items()},
    }


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--calls", type=int, default=50)
    parser.add_argument("--talk", type=float, default=2.0, help="seconds of conversation per call")
    result = asyncio.run(main(parser.parse_args()))
    print(json.dumps(result, indent=2))
    out = REPO / "var" / "bench"
    out.mkdir(parents=True, exist_ok=True)
    (out / "desk_phone.json").write_text(json.dumps(result, indent=2))
