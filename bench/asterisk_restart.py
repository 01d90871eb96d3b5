"""Asterisk restart: the engine's Asterisk stopped and started again, the way the soak's fault does
it (`PbxPair.restart_engine_asterisk`), to the first call the line answers again.

Starts the test Asterisk pair and one engine as its own process (`ivr run --no-asterisk`, SQLite),
then, each round: stops the engine's Asterisk and starts it on the same ports, timing each phase:
- stop: `core stop now` until the process is gone;
- boot: the new process started until `core waitfullybooted` answers;
- ari/ami: the engine's event socket connected and its AMI logged in again (its log says so);
- app: the engine's Stasis application registered with the new Asterisk (`ari show apps`);
- answered: a call placed from the lab carrier (one every 0.5 s from the restart on) answered by
  the engine.
All times are seconds from the start of the restart. Prints the figures; asserts nothing.

    PYTHONPATH=. .venv/bin/python bench/asterisk_restart.py [--rounds 10]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import statistics
import sys
import tempfile
import time
from pathlib import Path

from bench.common import REPO

sys.path.insert(0, str(REPO))

from ivr.asterisk.instance import free_port
from ivr.lab.carrier import CallNotAnswered, LabCall
from tests.harness.engine_process import EngineProcess
from tests.harness.pbx import PbxPair, start_pair

DID = "800000039"
PHASES = ("stop", "boot", "ari", "ami", "app", "answered")


def _count(log: str, pattern: str) -> int:
    return len(re.findall(pattern, log))


async def one_round(pbx: PbxPair, engine: EngineProcess, n: int) -> dict[str, float]:
    log = engine.log()
    ari_before = _count(log, r"ARI event socket connected")
    ami_before = _count(log, r"AMI logged in")
    app = engine.config["asterisk"]["ari"]["app"]
    began = time.monotonic()
    marks: dict[str, float] = {}

    def mark(phase: str) -> None:
        marks.setdefault(phase, round(time.monotonic() - began, 2))

    instance = pbx.engine_asterisk
    await asyncio.to_thread(instance.stop)
    mark("stop")
    await asyncio.to_thread(instance.start, pbx.engine_ports)
    mark("boot")
    calls: list[asyncio.Task[LabCall]] = []
    answered = asyncio.Event()

    async def place(k: int) -> LabCall:
        call = await pbx.carrier.call(DID, caller_number=f"34{n:03d}{k:05d}", answer_timeout=20)
        mark("answered")
        answered.set()
        return call

    deadline = began + 180
    while time.monotonic() < deadline and len(marks) < len(PHASES):
        log = engine.log()
        if _count(log, r"ARI event socket connected") > ari_before:
            mark("ari")
        if _count(log, r"AMI logged in") > ami_before:
            mark("ami")
        if "app" not in marks:
            apps = await asyncio.to_thread(instance.cli, "ari show apps")
            if app in apps.split():
                mark("app")
        if not answered.is_set() and len(calls) < 40:
            calls.append(asyncio.ensure_future(place(len(calls))))
        await asyncio.sleep(0.5)
    for task in calls:
        if not task.done():
            task.cancel()
        try:
            call = await task
        except (asyncio.CancelledError, CallNotAnswered):
            continue
        await call.hangup()
    return marks


async def main(rounds: int) -> None:
    work = Path(tempfile.mkdtemp(prefix="nul-astrestart-"))
    prompts = work / "prompts"
    prompts.mkdir()
    pbx = await asyncio.to_thread(start_pair, prompts)
    await pbx.carrier.connect()
    (work / "engine").mkdir()
    engine = EngineProcess(pbx, work / "engine", {"console": {"port": free_port()}})
    try:
        await engine.start()
        figures: list[dict[str, float]] = []
        print("round " + " ".join(f"{p:>8}" for p in PHASES))
        for n in range(rounds):
            marks = await one_round(pbx, engine, n)
            figures.append(marks)
            print(f"{n + 1:5d} " + " ".join(f"{marks.get(p, float('nan')):8.2f}" for p in PHASES))
            await asyncio.sleep(2)  # the line idle a moment, as between two faults
        for label, pick in (("median", statistics.median), ("max", max)):
            print(f"{label:6s} " + " ".join(f"{pick(f.get(p, float('inf')) for f in figures):8.2f}" for p in PHASES))
    finally:
        engine.stop()
        await pbx.carrier.close()
        pbx.stop()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--rounds", type=int, default=10)
    args = parser.parse_args()
    os.chdir(REPO)
    asyncio.run(main(args.rounds))
