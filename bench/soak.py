"""The soak: the whole line for minutes or hours, every feature mixed, faults on a schedule, then
every call accounted for by the independent checker (`ivr.lab.soak.checker`).

    PYTHONPATH=. .venv/bin/python -W ignore bench/soak.py --profile short --seed 1 [--out DIR]

Runs the seeded plan of `ivr lab soak plan` on the line of `bench/soak_line.py` (two engines as
processes on PostgreSQL, the managed Asterisk, the lab carrier, an SMTP sink): callers by ear
(`ivr.lab.soak.callers`), operators on outside numbers (`ivr.lab.soak.operators`), faults
(`ivr.lab.soak.inject`), the engine's resources every minute (`ivr.lab.soak.sampler`). After the
last call it drains (no open ticket, empty outbox), writes the run folder (journal, mails,
Asterisk's state, resources, faults) and the report (`report.md`, `report.json`,
`resources.svg`), and exits 1 on any violation.

What this runner does not do yet (issue 24): service days beyond the first (the engines boot on
the plan's first day), the plan's non-call actions (web requests, closures, presence, transfers,
the desk's outcomes), callbacks, the browser desk and softphone operators.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import subprocess
import sys
import tempfile
import time
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import aiohttp

from bench.common import REPO

sys.path.insert(0, str(REPO))

from bench.soak_line import SoakLine
from ivr.lab.soak.callers import CallerKit, SoakCaller
from ivr.lab.soak.checker import exit_status, run_checks
from ivr.lab.soak.evidence import ResourceWindows, SoakEvidence
from ivr.lab.soak.faults import PROFILES
from ivr.lab.soak.inject import Injector
from ivr.lab.soak.journal import CallRecord, Journal
from ivr.lab.soak.model import Goal, Journey
from ivr.lab.soak.operators import OutsideOperator, OutsideOperators
from ivr.lab.soak.plan import SoakPlan, make_plan
from ivr.lab.soak.report import write_report
from ivr.lab.soak.sampler import Sampler
from tests.harness.engine_process import EngineProcess
from tests.harness.voices import make_voices, synthesise

log = logging.getLogger("soak")
NAMES = ("Anna", "Bruno", "Carla", "Dario", "Elena", "Fabio", "Giulia", "Marco", "Paola", "Rocco")
RUNS_NOW = frozenset({Goal.OPERATOR, Goal.VOICEMAIL, Goal.CALLBACK, Goal.ABANDON, Goal.HANGUP, Goal.SILENT})


def runnable(plan: SoakPlan) -> list[Journey]:
    """The journeys this runner can place today (see the module's docstring)."""
    return [j for j in plan.journeys if j.goal in RUNS_NOW]


async def soak(plan: SoakPlan, out: Path, *, sample_every_s: float) -> int:
    journal = Journal(out / "journal.jsonl")
    day0 = plan.days[0]
    numbers = {login: f"3479{i:06d}" for i, login in enumerate(plan.operators)}
    # The callback is offered to every waiting caller (the default, from an estimated wait of
    # 120 s, is seldom reached in a short run): the callback journeys are then exercised.
    extra: dict[str, object] = {"queue": {"confirm_timeout_s": 8, "callback_offer_after_s": 0}}
    campaign_days = [d.date.isoformat() for d in plan.days if d.campaign]
    if campaign_days:  # callers are asked for consent on these days, and recorded after a yes
        extra["campaigns"] = [{"id": "soak", "name": "Soak", "from": min(campaign_days), "to": max(campaign_days)}]
    line = SoakLine(Path(tempfile.mkdtemp(prefix="nul-soak-")), extra)
    try:
        await line.start(numbers, day0.clock_at(0))
        voices = await asyncio.to_thread(make_voices, line.work / "voices")
        operator_voices = {  # each opens with a different name: the caller's ear tells them apart
            login: await asyncio.to_thread(
                synthesise, f"{NAMES[i % len(NAMES)]}, buongiorno, numero per il lavoro.", line.work / f"{login}.wav"
            )
            for i, login in enumerate(plan.operators)
        }
        operators = OutsideOperators(
            line.pbx.carrier,
            [OutsideOperator(login, number, operator_voices[login]) for login, number in numbers.items()],
            seed=plan.seed,
        )
        operators.start()
        kit = CallerKit(line.pbx.carrier, "800000039", line.prompts, operator_voices, voices.caller)
        injector = Injector(line, lambda: datetime.now(UTC))
        sampler = Sampler(line.metrics_urls(), lambda: datetime.now(UTC), every_s=sample_every_s)
        sampling = asyncio.ensure_future(sampler.run())
        started = time.monotonic()

        async def call(journey: Journey) -> CallRecord:
            await asyncio.sleep(max(0.0, journey.at_s - (time.monotonic() - started)))
            record = await SoakCaller(kit, journey).run()
            journal.append(record)
            return record

        async def faults() -> None:
            for fault in plan.faults:
                await asyncio.sleep(max(0.0, fault.at_s - (time.monotonic() - started)))
                await injector.apply(fault)

        journeys = runnable(plan)
        log.info("soak %s: %d calls (of %d planned), %d faults", plan.profile.name, len(journeys),
                 len(plan.journeys), len(plan.faults))  # fmt: skip
        done, _ = await asyncio.gather(asyncio.gather(*(call(j) for j in journeys)), faults())
        # Each call with the faults that were on while it was up (the journal, written as calls
        # ended, is written again with them).
        records = [
            r.model_copy(update={"faults": injector.touching(r.placed_at, r.ended_at or r.placed_at)}) for r in done
        ]
        journal.path.write_text("".join(r.model_dump_json() + "\n" for r in records))
        await drain(line)
        await operators.stop()
        sampling.cancel()
        state = await line.asterisk_state()
        active = line.active()
        published = await published_figures(active, [d.date for d in plan.days])
        evidence = SoakEvidence(
            journal=list(records),
            db_url=line.db_url,
            voicemail_dir=line.data_dir / "voicemail",
            recordings_dir=active.data_dir / "recordings",
            daily_cap=400,
            ended_at=line.now(),  # the engines' simulated time: what was due by then
            mails=line.sink.mails,
            asterisk=state,
            outbox=active.data_dir / "outbox.db",
            resources=sampler.samples,
            windows=ResourceWindows(warmup_s=min(600.0, plan.profile.warmup_s), window_s=3600.0),
            faults=injector.records,
            published=published,
        )
        results = run_checks(evidence)
        write_run_folder(out, evidence)
        files = write_report(out, evidence, results)
        for r in results:
            print(f"{'ok    ' if r.passed else 'FAILED'} {r.name}: {len(r.violations)} violations")
        print(f"{len(records)} calls, {len(injector.records)} fault steps; report: {files.markdown}")
        return exit_status(results)
    finally:
        await line.stop()


async def drain(line: SoakLine, timeout_s: float = 180.0) -> None:
    """Until no ticket is open and the outbox is empty: what was in flight is written down."""
    from sqlalchemy import func, select

    from ivr.tickets.db import make_engine
    from ivr.tickets.models import Ticket

    db = make_engine(line.db_url)
    try:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            with db.connect() as conn:
                open_tickets = conn.scalar(select(func.count(Ticket.id)).where(Ticket.open.is_(True)))
            if not open_tickets:
                return
            await asyncio.sleep(1.0)
        log.warning("drain: %s tickets still open after %.0f s (the checker will say which)", open_tickets, timeout_s)
    finally:
        db.dispose()


async def published_figures(engine: EngineProcess, days: list[date]) -> dict[str, dict[str, Any]]:
    """What the line publishes for the soak's days: `ivr stats --format json` and the public page's
    `/statistiche.json`, each as the checker compares them with its own counts."""
    first, last = min(days).isoformat(), max(days).isoformat()
    env = {**os.environ, "IVR_CONFIG": str(engine.path)}
    argv = [sys.executable, "-m", "ivr.cli", "stats", "--period", "day", "--from", first, "--to", last]
    done = await asyncio.to_thread(
        subprocess.run, [*argv, "--format", "json"], env=env, cwd=REPO, capture_output=True, text=True, check=True
    )
    port = engine.config["console"]["port"]
    url = f"http://127.0.0.1:{port}/statistiche.json?periodo=giorno&da={first}&a={last}"
    async with aiohttp.ClientSession() as http, http.get(url) as response:
        response.raise_for_status()
        page = await response.json()
    return {"ivr-stats.json": json.loads(done.stdout), "statistiche.json": page}


def write_run_folder(out: Path, evidence: SoakEvidence) -> None:
    """What `ivr lab soak check --run` reads again."""
    (out / "run.json").write_text(json.dumps({"ended_at": evidence.ended_at.isoformat()}))
    (out / "mails.json").write_text(json.dumps([m.model_dump() for m in evidence.mails or []], indent=1))
    if evidence.asterisk is not None:
        (out / "asterisk.json").write_text(evidence.asterisk.model_dump_json())
    (out / "resources.jsonl").write_text("".join(s.model_dump_json() + "\n" for s in evidence.resources))
    (out / "faults.json").write_text(json.dumps([f.model_dump(mode="json") for f in evidence.faults], indent=1))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--profile", choices=sorted(PROFILES), default="short")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--out", type=Path, help="run folder (default var/soak/<profile>-<seed>-<time>)")
    parser.add_argument("--sample-every", type=float, default=60.0, help="seconds between resource samples")
    args = parser.parse_args()
    os.chdir(REPO)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    plan = make_plan(PROFILES[args.profile], args.seed)
    out = args.out or REPO / "var" / "soak" / f"{args.profile}-{args.seed}-{datetime.now(UTC):%Y%m%dT%H%M%S}"
    out.mkdir(parents=True, exist_ok=True)
    (out / "plan.json").write_text(plan.model_dump_json(indent=1))
    return asyncio.run(soak(plan, out, sample_every_s=args.sample_every))


if __name__ == "__main__":
    sys.exit(main())
