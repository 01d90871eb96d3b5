"""What the line needs before the driver's people can act, set up with the product's own commands
(as the line's administrator would): a console user per simulated operator (one of them a team
leader with the supervisor role, so a conference can be added from a call), a supervisor, the
directory of offices for referrals, one knowledge-base article per topic for outcomes filed with
an article. Then the driver, following the active engine."""

from __future__ import annotations

import asyncio
import os
import secrets
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Protocol

from ivr.lab.soak.action_journal import ActionJournal
from ivr.lab.soak.actions import ActionKind
from ivr.lab.soak.desk_habits import desk_login
from ivr.lab.soak.driver import SUPERVISOR, ActionDriver, Cast, DriverJobs
from ivr.lab.soak.driver_desk import DESK_HANDLERS, file_outcomes
from ivr.lab.soak.driver_http import LineConsole, Target
from ivr.lab.soak.driver_notices import NOTICE_HANDLERS, lift_all
from ivr.lab.soak.driver_second import second_level_round
from ivr.lab.soak.driver_supervision import SUPERVISION_HANDLERS
from ivr.lab.soak.driver_web import WEB_HANDLERS
from ivr.lab.soak.plan import SoakPlan

REPO = Path(__file__).resolve().parents[3]
ARTICLE = """---
slug: soak-{topic}
title: Iscrizione al centro per l'impiego ({topic})
topic: {topic}
author: Prova di carico
keywords: [iscrizione, centro, impiego]
---

Per iscriversi al centro per l'impiego si può andare online con SPID. Servono un documento e il
codice fiscale. Il centro risponde entro pochi giorni.
"""


class Engine(Protocol):
    path: Path
    config: dict[str, Any]


class Line(Protocol):
    clock_offset_s: float
    engines: list[Any]

    def active(self) -> Any: ...


def _cli(config: Path, *args: str, stdin: str | None = None) -> str:
    env = {**os.environ, "IVR_CONFIG": str(config)}
    done = subprocess.run(
        [sys.executable, "-m", "ivr.cli", *args],
        env=env, cwd=REPO, input=stdin, capture_output=True, text=True, check=False,
    )  # fmt: skip
    if done.returncode != 0:
        raise RuntimeError(f"ivr {' '.join(args)}: exit {done.returncode}: {done.stderr.strip()[-500:]}")
    return done.stdout


def prepare(config: Path, operators: Sequence[str], topics: Sequence[str], work: Path) -> tuple[Cast, dict[str, str]]:
    """Users, offices and articles in the line's store; the cast and its passwords."""
    passwords: dict[str, str] = {}
    leader = operators[-1] if operators else None
    for login in (SUPERVISOR, *operators):
        passwords[login] = secrets.token_urlsafe(18)
        role = "supervisor" if login in (SUPERVISOR, leader) else "operator"
        linked = ["--operator", login] if login != SUPERVISOR else []
        _cli(config, "user", "add", login, "--role", role, *linked, "--password-stdin", stdin=passwords[login] + "\n")
    _cli(config, "referrals", "import", str(REPO / "config" / "referrals" / "sample-offices.csv"))
    folder = work / "soak-articles"
    folder.mkdir(parents=True, exist_ok=True)
    for topic in topics:
        (folder / f"soak-{topic}.md").write_text(ARTICLE.format(topic=topic), encoding="utf-8")
    _cli(config, "kb", "import", str(folder), "--by", SUPERVISOR)
    cast = Cast(tuple(operators), SUPERVISOR, frozenset({leader} if leader else set()), desk_login(operators))
    return cast, passwords


async def driver_for(line: Line, plan: SoakPlan, out: Path) -> ActionDriver:
    """The driver of `plan` on `line` (a bench SoakLine, started), its journal `out/actions.jsonl`,
    its users logged in."""
    first: Engine = line.engines[0]
    topics = sorted(set(plan.traffic.menu.values()))
    cast, passwords = await asyncio.to_thread(prepare, first.path, plan.operators, topics, out)

    async def locate() -> Target:
        engine: Engine = await asyncio.to_thread(line.active)
        console = engine.config["console"]
        return Target(f"http://127.0.0.1:{console['port']}", str(console["api_token"]))

    driver = ActionDriver(
        plan.actions, plan.desk, LineConsole(locate, passwords), ActionJournal(out / "actions.jsonl"), cast, jobs(),
        offset_s=lambda: line.clock_offset_s,
    )  # fmt: skip
    await driver.log_in()
    return driver


def jobs() -> DriverJobs:
    """The handlers of every kind of action and the desk's rounds, for the driver."""
    return DriverJobs(
        handlers={
            **WEB_HANDLERS,
            **DESK_HANDLERS,
            **NOTICE_HANDLERS,
            **SUPERVISION_HANDLERS,
            ActionKind.SECOND_LEVEL_ROUND: second_level_round,
        },
        file_outcomes=file_outcomes,
        lift_closures=lift_all,
    )
