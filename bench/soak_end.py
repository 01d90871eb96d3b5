"""The soak after its last call: the line drained, what it published read, the run folder
written (`bench/soak.py`)."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import shutil
import subprocess
import sys
import time
from datetime import date
from pathlib import Path
from typing import Any

import aiohttp

from bench.common import REPO
from bench.soak_line import STRAY_EVERY_S, STRAY_GRACE_S, SoakLine
from ivr.lab.soak.checks_reasons import PUBLISHED as REASONS
from ivr.lab.soak.evidence import SoakEvidence
from ivr.lab.soak.verdict import CheckResult
from tests.harness.engine_process import EngineProcess

log = logging.getLogger("soak")


async def drain(line: SoakLine, timeout_s: float = 180.0) -> None:
    """Until no ticket is open, no queued callback is waiting or being dialled, and the outbox is
    empty: what was in flight is written down."""
    from sqlalchemy import func, select

    from ivr.schema.callbacks import QueuedCallback
    from ivr.schema.tickets import Ticket
    from ivr.tickets.db import make_engine

    db = make_engine(line.db_url)
    try:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            with db.connect() as conn:
                open_tickets = conn.scalar(select(func.count(Ticket.id)).where(Ticket.open.is_(True)))
                pending = conn.scalar(
                    select(func.count(QueuedCallback.id)).where(QueuedCallback.state.in_(("waiting", "calling")))
                )
            if not open_tickets and not pending:
                break
            await asyncio.sleep(1.0)
        else:
            log.warning("drain: %s tickets open and %s callbacks pending after %.0f s (the checker will say which)",
                        open_tickets, pending, timeout_s)  # fmt: skip
        # The second copy of a recording an engine killed before its row left is the line's to
        # remove (ivr.recordings.strays): the checker looks once the sweep has had its turn.
        settle = line.last_exit + STRAY_GRACE_S + 2 * STRAY_EVERY_S - time.monotonic()
        if settle > 0:
            log.info("drain: %.0f s more for the stray audio sweep after the last engine ended", settle)
            await asyncio.sleep(settle)
    finally:
        db.dispose()


async def published_figures(engine: EngineProcess, days: list[date]) -> dict[str, dict[str, Any]]:
    """What the line publishes for the soak's days: `ivr stats --format json`, the public page's
    `/statistiche.json` and `ivr stats reasons`, each as the checker compares them with its own counts."""
    first, last = min(days).isoformat(), max(days).isoformat()
    env = {**os.environ, "IVR_CONFIG": str(engine.path)}
    argv = [sys.executable, "-m", "ivr.cli", "stats", "--period", "day", "--from", first, "--to", last]
    done = await asyncio.to_thread(
        subprocess.run, [*argv, "--format", "json"], env=env, cwd=REPO, capture_output=True, text=True, check=True
    )
    reasons = await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "-m", "ivr.cli", "stats", "reasons", "--period", "day", "--from", first, "--to", last,
         "--format", "json"],
        env=env, cwd=REPO, capture_output=True, text=True, check=True,
    )  # fmt: skip
    port = engine.config["console"]["port"]
    url = f"http://127.0.0.1:{port}/statistiche.json?periodo=giorno&da={first}&a={last}"
    async with aiohttp.ClientSession() as http, http.get(url) as response:
        response.raise_for_status()
        page = await response.json()
    return {"ivr-stats.json": json.loads(done.stdout), "statistiche.json": page, REASONS: json.loads(reasons.stdout)}


def keep_heard(out: Path, results: list[CheckResult], heard: dict[str, Path], legs: dict[str, list[Path]]) -> None:
    """What each caller named in a violation heard, beside the report (`heard/<caller>.wav`, and
    each leg of their queued callback as `heard/<caller>-citizen-<number>-<id>.wav`): the
    carrier's recordings go with the lab's Asterisk, and a violation is told apart from the
    ear's mistake only by listening."""
    named = {c for r in results for v in r.violations for c in v.callers if c in heard or c in legs}
    if not named:
        return
    folder = out / "heard"
    folder.mkdir(exist_ok=True)
    for caller in sorted(named):
        if caller in heard and heard[caller].exists():
            shutil.copyfile(heard[caller], folder / f"{caller or 'withheld'}.wav")
        for leg in legs.get(caller, []):
            shutil.copyfile(leg, folder / f"{caller or 'withheld'}-{leg.name}")


def write_run_folder(out: Path, evidence: SoakEvidence) -> None:
    """What `ivr lab soak check --run` reads again."""
    (out / "run.json").write_text(json.dumps({"ended_at": evidence.ended_at.isoformat()}))
    (out / "mails.json").write_text(json.dumps([m.model_dump() for m in evidence.mails or []], indent=1))
    if evidence.asterisk is not None:
        (out / "asterisk.json").write_text(evidence.asterisk.model_dump_json())
    (out / "resources.jsonl").write_text("".join(s.model_dump_json() + "\n" for s in evidence.resources))
    (out / "faults.json").write_text(json.dumps([f.model_dump(mode="json") for f in evidence.faults], indent=1))
    (out / "latency.json").write_text(json.dumps(evidence.latency))
