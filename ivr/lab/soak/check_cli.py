"""`ivr lab soak check --run DIR`: judge a finished soak run and write its report beside it.

The run folder holds what the soak recorded; only the journal is required:

- `journal.jsonl`: the carrier's record of every call (ivr.lab.soak.journal)
- `run.json`: `{"ended_at": ISO time}` (default: the last call's end)
- `mails.json`: the SMTP sink's mails, a list of SinkMail
- `asterisk.json`: `{"channels": n, "bridges": n}` after draining
- `resources.jsonl`: one ResourceSample a line
- `faults.json`: a list of Fault
- `latency.json`: `{step: [seconds, ...]}` (default: the same figures from the store's timeline)
- `actions.jsonl`: the driver's journal of non-call actions (ivr.lab.soak.action_journal)
- `published/*.json`: `ivr stats --format json` and `/statistiche.json` documents for the period

The store, the audio folders, the cap, the time zone, the dial-out rules and the outbox come from
the service's settings, as the engine under test had them.
"""

from __future__ import annotations

import argparse
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pydantic import TypeAdapter

from ivr.errors import SetupError
from ivr.lab.soak.action_journal import ActionJournal
from ivr.lab.soak.checker import exit_status, run_checks
from ivr.lab.soak.evidence import AsteriskState, Fault, ResourceSample, SinkMail, SoakEvidence
from ivr.lab.soak.journal import Journal
from ivr.lab.soak.latency import latency_from_store
from ivr.lab.soak.report import write_report
from ivr.lab.soak.store_view import read_store
from ivr.recordings.paths import recordings_dir
from ivr.settings import Settings


def _json(path: Path) -> Any:
    return json.loads(path.read_text(encoding="utf-8")) if path.exists() else None


def load_evidence(run: Path, settings: Settings) -> SoakEvidence:
    journal_path = run / "journal.jsonl"
    if not journal_path.is_file():
        raise SetupError(f"{run}: no journal.jsonl: not a soak run folder")
    journal = list(Journal(journal_path).read())
    meta = _json(run / "run.json") or {}
    if "ended_at" in meta:
        ended = datetime.fromisoformat(meta["ended_at"])
    else:
        ends = [c.ended_at or c.placed_at for c in journal]
        ended = max(ends) if ends else datetime.now(UTC)
    mails = _json(run / "mails.json")
    asterisk = _json(run / "asterisk.json")
    samples = run / "resources.jsonl"
    lines = samples.read_text(encoding="utf-8").splitlines() if samples.exists() else []
    resources = [ResourceSample.model_validate_json(line) for line in lines if line.strip()]
    # A run folder from before the engines showed alerts (or with them off) has none to judge.
    watched = settings.alerts.enabled and any(s.alerts_known for s in resources)
    published = {p.name: json.loads(p.read_text(encoding="utf-8")) for p in sorted(run.glob("published/*.json"))}
    return SoakEvidence(
        journal=journal,
        db_url=settings.database_url,
        voicemail_dir=settings.voicemail_dir,
        recordings_dir=recordings_dir(settings),
        daily_cap=settings.queue.daily_cap,
        ended_at=ended,
        dialout=settings.dialout,
        tz=settings.service.tz,
        mails=TypeAdapter(list[SinkMail]).validate_python(mails) if mails is not None else None,
        asterisk=AsteriskState.model_validate(asterisk) if asterisk is not None else None,
        outboxes=[settings.outbox_path],
        resources=resources,
        published=published,
        faults=TypeAdapter(list[Fault]).validate_python(_json(run / "faults.json") or []),
        latency=_latency(run, settings.database_url),
        actions=list(ActionJournal(run / "actions.jsonl").read()) if (run / "actions.jsonl").exists() else None,
        alert_wait_s=settings.alerts.longest_wait_s.amber if watched else None,
    )


def _latency(run: Path, db_url: str) -> dict[str, list[float]]:
    """The runner's figures if it wrote them, else the same figures from the store's timeline."""
    written = _json(run / "latency.json")
    if written is None:
        return latency_from_store(read_store(db_url))
    return {k: [float(x) for x in v] for k, v in written.items()}


def cmd_soak_check(args: argparse.Namespace, settings: Settings) -> int:
    run = Path(args.run)
    evidence = load_evidence(run, settings)
    results = run_checks(evidence)
    files = write_report(run, evidence, results)
    for r in results:
        print(f"{'ok    ' if r.passed else 'FAILED'} {r.name}: {len(r.violations)} violations")
    print(f"report: {files.markdown}")
    return exit_status(results)


def add_check_command(soak: Any, add: Any) -> None:
    """Register under `ivr lab soak` (the group's subparsers, and the CLI's `add` helper)."""
    check = add("check", cmd_soak_check, "check a finished soak run's invariants and write its report", soak)
    check.add_argument("--run", required=True, help="the run folder (holds journal.jsonl)")
