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

Service days: the engines share one clock offset file (`clock.offset_file`), and the runner moves
it to each day of the plan as that day begins, while the line runs.

The plan's non-call actions (web requests and their answers, listens, closures, presence, call
controls, outcomes) are carried out by the driver (`ivr.lab.soak.driver`) on the active engine.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
import signal
import sys
import tempfile
import time
from collections.abc import Coroutine, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench.common import REPO

sys.path.insert(0, str(REPO))

from bench.soak_end import drain, keep_heard, published_figures, write_run_folder
from bench.soak_line import SoakLine, data_size
from ivr.lab.soak.callers import CallerKit, SoakCaller
from ivr.lab.soak.checker import exit_status, run_checks
from ivr.lab.soak.checks_reasons import SOAK_REASONS
from ivr.lab.soak.citizen import leg_recordings
from ivr.lab.soak.desk_habits import desk_login
from ivr.lab.soak.desk_operator import start_browser_desks, stop_browser_desks
from ivr.lab.soak.driver_setup import driver_for
from ivr.lab.soak.evidence import ResourceWindows, SoakEvidence
from ivr.lab.soak.faults import PROFILES, tailored
from ivr.lab.soak.inject import Injector
from ivr.lab.soak.journal import CallRecord, Journal
from ivr.lab.soak.key_windows import engine_key_windows
from ivr.lab.soak.kit import operator_phrase, talking_voice
from ivr.lab.soak.latency import latency_from_store
from ivr.lab.soak.loop_watch import LoopWatch
from ivr.lab.soak.model import Goal, Journey
from ivr.lab.soak.operators import OutsideOperator, OutsideOperators, SoftphoneOperator
from ivr.lab.soak.plan import SoakPlan, make_plan
from ivr.lab.soak.plan_cli import add_profile_options, profile_changes
from ivr.lab.soak.report import write_report
from ivr.lab.soak.sampler import Sampler
from ivr.lab.soak.store_view import read_store
from ivr.lab.soak.verdict import CheckResult
from ivr.lab.softphone import LabSoftphone
from tests.harness.voices import make_voices, synthesise

log = logging.getLogger("soak")
# Each operator's name and surname, all that their voice says (`ivr.lab.soak.kit.operator_phrase`).
NAMES = (
    "Anna Ferri",
    "Bruno Galli",
    "Carla Conti",
    "Dario Marino",
    "Elena Greco",
    "Fabio Rizzi",
    "Giulia Lombardi",
    "Marco Testa",
    "Paola Costa",
    "Rocco Moretti",
)
SOAK_SUPERVISION_NOTICE = "Prova di carico: il capo squadra può ascoltare e suggerire; la scrivania lo mostra."
SOAK_ALERT_WAIT_S = 30.0  # the soak line's wait alert (amber): judged by check 31
TALKING_S = 60.0  # an outside number's talking voice (played again if a talk lasts longer)
SOFTPHONE_TALKING_S = 240.0  # the softphone's microphone file, played once per call from its start
RUNS_NOW = frozenset({Goal.OPERATOR, Goal.VOICEMAIL, Goal.CALLBACK, Goal.ABANDON, Goal.HANGUP, Goal.SILENT})


def runnable(plan: SoakPlan) -> list[Journey]:
    """The journeys this runner can place today (see the module's docstring)."""
    return [j for j in plan.journeys if j.goal in RUNS_NOW]


async def soak(plan: SoakPlan, out: Path, *, sample_every_s: float) -> int:
    journal = Journal(out / "journal.jsonl")
    day0 = plan.days[0]
    # The three kinds of phone a line's operators have: outside numbers confirming with 1, one of
    # them an answering machine (the line must re-offer and pause it), and a softphone answering
    # by itself (the last operator).
    softphone = plan.operators[-1] if len(plan.operators) >= 3 else None
    machine = plan.operators[-2] if len(plan.operators) >= 4 else None
    desk = desk_login(plan.operators)  # at the browser desk (ivr.lab.soak.desk_operator): no number, no softphone
    numbers: dict[str, str | None] = {
        login: None if login in (softphone, desk) else f"3479{i:06d}" for i, login in enumerate(plan.operators)
    }
    # Operators finish a ticket in seconds here (wrap-up 5 s), and a caller nobody could take within
    # 75 s is sent to leave a message: the line's own answer to a long wait, and a soak of minutes.
    # The callback is offered to every waiting caller (the default, from an estimated wait of 120 s,
    # is seldom reached in a short run), so the callback journeys are exercised.
    extra: dict[str, object] = {
        "queue": {
            "confirm_timeout_s": 8,
            "wrap_up_s": 5,
            "max_wait_s": 75,
            "callback_offer_after_s": 0,
            "callback_retry_s": 20,  # a callback not answered is tried again within the run
        }
    }
    extra["reasons"] = {"options": list(SOAK_REASONS), "required": False}  # check 30 (checks_reasons)
    # Waits are capped at 75 s above: the wait alert is set well under it so it rises and falls (check 31).
    extra["alerts"] = {"longest_wait_s": {"amber": SOAK_ALERT_WAIT_S, "red": 60}}
    # The team leader follows conversations (check 34, checks_supervision): on, with its notice.
    extra["supervision"] = {"enabled": True, "operator_notice": SOAK_SUPERVISION_NOTICE}
    campaign_days = [d.date.isoformat() for d in plan.days if d.campaign]
    if campaign_days:  # callers are asked for consent on these days only, and recorded after a yes
        extra["campaigns"] = [
            {"id": f"soak{n}", "name": "Soak", "from": d, "to": d} for n, d in enumerate(campaign_days)
        ]
    line = SoakLine(Path(tempfile.mkdtemp(prefix="nul-soak-")), extra, data_bytes=data_size(len(plan.journeys)))
    # Each part is stopped by this stack as soon as it has started, so a run ended by an exception
    # stops it too (full run 4 left two softphones and its PostgreSQL running): the normal end
    # closes the stack after the drain, an exception in the `finally`.
    parts = contextlib.AsyncExitStack()
    try:
        await line.start(numbers, day0.clock_at(0))
        voices = await asyncio.to_thread(make_voices, line.work / "voices")
        operator_voices = {  # each opens with a different name: the caller's ear tells them apart
            login: await asyncio.to_thread(
                synthesise, operator_phrase(NAMES[i % len(NAMES)]), line.work / f"{login}.wav"
            )
            for i, login in enumerate(plan.operators)
        }
        # What an operator on an outside number says while talking: the phrase again and again
        # (a queued callback's citizen joins the talk late and must still hear who it is).
        talking = {
            login: await asyncio.to_thread(
                talking_voice, operator_voices[login], line.work / f"{login}-talking.wav", TALKING_S
            )
            for login, number in numbers.items()
            if number is not None and login != machine
        }
        talks = iter([step.talk_s for step in plan.desk])  # each conversation's talk, in turn
        operators = OutsideOperators(
            line.pbx.carrier,
            [
                OutsideOperator(
                    login, number, talking.get(login, operator_voices[login]), answering_machine=login == machine
                )
                for login, number in numbers.items()
                if number is not None
            ],
            seed=plan.seed,
            talks=talks,
        )
        operators.start()
        parts.push_async_callback(operators.stop)
        for sp in await start_softphones(line, plan, operator_voices, softphone, talks):
            parts.push_async_callback(sp.phone.stop)
            parts.push_async_callback(sp.operator.stop)  # the operator first, then its phone
        windows = engine_key_windows(line.engines[0].config, line.prompts)  # how long the line takes each key
        kit = CallerKit(line.pbx.carrier, "800000039", line.prompts, operator_voices, voices.caller, windows=windows)
        injector = Injector(line, lambda: datetime.now(UTC))
        sampler = Sampler(
            line.metrics_urls(),
            lambda: datetime.now(UTC),
            every_s=sample_every_s,
            engine_now=line.now,
        )
        sampling = asyncio.ensure_future(sampler.run())
        parts.callback(sampling.cancel)
        watch = LoopWatch(lambda: datetime.now(UTC), out / "loop-stacks.txt")  # the soak's own loop kept time
        watching = asyncio.ensure_future(watch.run())
        parts.callback(watching.cancel)
        driver = await driver_for(line, plan, out)  # the plan's non-call actions (ivr.lab.soak.driver)
        parts.push_async_callback(driver.stop)  # the last outcomes filed, no closure left on
        desks = await start_browser_desks(line, desk, operator_voices, plan, driver.console.passwords, driver.journal)
        parts.push_async_callback(stop_browser_desks, desks, out)
        started = time.monotonic()

        heard: dict[str, Path] = {}  # caller -> what they heard (the carrier's recording)

        async def call(journey: Journey) -> CallRecord:
            await asyncio.sleep(max(0.0, journey.at_s - (time.monotonic() - started)))
            caller = SoakCaller(kit, journey)
            placed = datetime.now(UTC)
            try:
                record = await caller.run()
            except Exception as exc:  # one caller's failure is reported, never the end of the soak
                log.exception("soak: journey %s failed", journey.name)
                record = caller.failed(placed, exc)
            if caller.call is not None:
                heard[journey.caller] = caller.call.heard_path
            journal.append(record)
            return record

        async def days() -> None:
            """Each service day after the first: every engine's clock jumps to it at once, while
            the line runs (the plan keeps the end of each day quiet: no call is up at the jump)."""
            for day in plan.days[1:]:
                await asyncio.sleep(max(0.0, day.start_s - (time.monotonic() - started)))
                line.set_clock(day.clock_at(time.monotonic() - started))
                log.info("soak: service day %d, %s from %s", day.index, day.date, day.local_start)

        recovery = CheckResult("recovered", "the line came back from every fault (two engines, one active)")

        async def faults() -> None:
            """A fault the line does not come back from is a violation, and the soak goes on:
            what the callers meet afterwards is part of the finding."""
            for fault in plan.faults:
                await asyncio.sleep(max(0.0, fault.at_s - (time.monotonic() - started)))
                try:
                    await injector.apply(fault)
                except Exception as exc:
                    log.exception("soak: %s at %.0f s: the line did not come back", fault.kind, fault.at_s)
                    said = (str(exc).splitlines() or [""])[0][:300]  # an exception may say nothing
                    recovery.fail(f"{fault.kind} at {fault.at_s:.0f} s: {type(exc).__name__}: {said}")

        journeys = runnable(plan)
        log.info("soak %s: %d calls (of %d planned), %d faults", plan.profile.name, len(journeys),
                 len(plan.journeys), len(plan.faults))  # fmt: skip
        done, *_ = await asyncio.gather(
            asyncio.gather(*(call(j) for j in journeys)), faults(), days(), driver.run(started)
        )
        # Each call with the faults that were on while it was up (the journal, written as calls
        # ended, is written again with them).
        records = [
            r.model_copy(update={"faults": injector.touching(r.placed_at, r.ended_at or r.placed_at)}) for r in done
        ]
        journal.path.write_text("".join(r.model_dump_json() + "\n" for r in records))
        await drain(line)
        await parts.aclose()  # the desks, the driver, the samplers, the operators: last started first
        state = await line.asterisk_state()
        active = line.active()
        published = await published_figures(active, [d.date for d in plan.days])
        evidence = SoakEvidence(
            journal=list(records),
            db_url=line.db_url,
            voicemail_dir=line.data_dir / "voicemail",
            recordings_dir=line.data_dir / "recordings",
            daily_cap=400,
            ended_at=line.now(),  # the engines' simulated time: what was due by then
            mails=line.sink.mails,
            asterisk=state,
            outboxes=[engine.data_dir / "outbox.db" for engine in line.engines],
            resources=sampler.samples,
            windows=ResourceWindows(warmup_s=min(600.0, plan.profile.warmup_s), window_s=3600.0),
            faults=injector.records,
            published=published,
            latency=await asyncio.to_thread(lambda: latency_from_store(read_store(line.db_url))),
            actions=driver.records,
            alert_wait_s=SOAK_ALERT_WAIT_S,
        )
        results = [*run_checks(evidence), recovery, watch.result()]
        recovery.notes += line.restarts
        write_run_folder(out, evidence)
        files = write_report(out, evidence, results)
        legs = {
            r.caller: leg_recordings(kit.recordings_dir(), r.callback_legs[0].number)
            for r in records
            if r.callback_legs
        }
        keep_heard(out, results, heard, legs)
        for r in results:
            print(f"{'ok    ' if r.passed else 'FAILED'} {r.name}: {len(r.violations)} violations")
        print(f"{len(records)} calls, {len(injector.records)} fault steps; report: {files.markdown}")
        return exit_status(results)
    finally:
        try:
            await parts.aclose()  # nothing left to do after the normal end
        finally:
            line.keep_logs(out)
            await line.stop()


@dataclass
class Softphone:
    phone: LabSoftphone
    operator: SoftphoneOperator


async def start_softphones(
    line: SoakLine, plan: SoakPlan, voices: dict[str, Path], login: str | None, talks: Iterator[float]
) -> list[Softphone]:
    """The softphone operator: baresip registered to the line's Asterisk with the operator's own
    SIP account, answering by itself and speaking its voice after a short pause."""
    if login is None:
        return []
    password = line.sip_passwords[login]
    sip = line.engines[0].config["asterisk"]["sip"]
    # The voice again and again for the whole call, as a person keeps talking: a citizen joining
    # a queued callback after its notice still hears who answered (run 8: a softphone's one
    # greeting was over before the citizen was connected).
    voice = await asyncio.to_thread(
        talking_voice, voices[login], line.work / f"{login}-talking.wav", SOFTPHONE_TALKING_S, lead_s=1.5
    )
    phone = LabSoftphone(login, password, (sip["bind"], sip["port"]), voice)
    await phone.start()
    operator = SoftphoneOperator(phone, seed=plan.seed, talks=talks)
    operator.start()
    return [Softphone(phone, operator)]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--profile", choices=sorted(PROFILES), default="short")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--out", type=Path, help="run folder (default var/soak/<profile>-<seed>-<time>)")
    parser.add_argument("--sample-every", type=float, default=60.0, help="seconds between resource samples")
    parser.add_argument("--plan", type=Path, help="replay this plan.json (e.g. a run folder's) instead of making one")
    add_profile_options(parser)
    args = parser.parse_args()
    os.chdir(REPO)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    plan = (
        SoakPlan.model_validate_json(args.plan.read_text())
        if args.plan
        else make_plan(tailored(PROFILES[args.profile], **profile_changes(args)), args.seed)
    )
    out = args.out or REPO / "var" / "soak" / f"{args.profile}-{args.seed}-{datetime.now(UTC):%Y%m%dT%H%M%S}"
    out.mkdir(parents=True, exist_ok=True)
    (out / "plan.json").write_text(plan.model_dump_json(indent=1))
    return asyncio.run(_stoppable(soak(plan, out, sample_every_s=args.sample_every)))


async def _stoppable(run: Coroutine[Any, Any, int]) -> int:
    """SIGTERM (or INT) stops the soak the way its end does: every engine, Asterisk, PostgreSQL
    and browser it started is stopped by its own `finally`, none left running (a soak killed by
    a plain SIGTERM left two Asterisks, two engines and a PostgreSQL behind)."""
    task = asyncio.ensure_future(run)
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, task.cancel)
    try:
        return await task
    except asyncio.CancelledError:
        logging.getLogger("soak").warning("soak stopped by a signal: what it started is stopped, no report")
        return 130


if __name__ == "__main__":
    sys.exit(main())
