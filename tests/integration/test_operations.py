"""The administrator's path of docs/guida-amministratori.md with a real engine process, a real
Asterisk and real calls: the engine says where the console is and how to create the first
administrator; an operator added from the shell can log in at once; the console accepts the
administrator; the metrics follow a call (queue length up, then the call by outcome); the log
carries call and ticket ids but never the caller's number; a backup taken while a call is in
progress is restored into another data folder, where every ticket and audio file is found and the
line takes calls again."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import os
import re
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from sqlalchemy import create_engine, select
from sqlalchemy.orm import Session

from ivr.schema.tickets import Recording, Ticket, TicketEvent
from tests.harness.engine_process import EngineProcess
from tests.harness.pbx import REPO, PbxPair
from tests.harness.voices import Voices
from tests.harness.waits import until
from tests.integration.test_faults import FLOW

pytestmark = pytest.mark.asterisk

CALLER = "3470000123"
CALLER_2 = "3470000456"
CALLER_3 = "3470000789"


def ivr(engine: EngineProcess, *words: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    """The `ivr` command as the administrator types it, against this engine's configuration."""
    env = {**os.environ, "IVR_CONFIG": str(engine.path)}
    return subprocess.run(
        [sys.executable, "-m", "ivr.cli", *words],
        env=env,
        cwd=REPO,
        capture_output=True,
        text=True,
        input=stdin,
        timeout=120,
        check=False,
    )


def metric(text: str, name: str, **labels: str) -> float | None:
    wanted = ",".join(f'{k}="{v}"' for k, v in sorted(labels.items()))
    for line in text.splitlines():
        if line.startswith("#"):
            continue
        match = re.match(r"^([a-zA-Z_:]+)(?:\{([^}]*)\})? (\S+)$", line)
        if match and match.group(1) == name:
            got = ",".join(sorted((match.group(2) or "").split(","))) if match.group(2) else ""
            if got == wanted:
                return float(match.group(3))
    return None


async def read_metrics(engine: EngineProcess) -> str:
    port = engine.config["console"]["port"]
    async with aiohttp.ClientSession() as http, http.get(f"http://127.0.0.1:{port}/metrics") as response:
        assert response.status == 200, await response.text()
        return await response.text()


async def until_metric(engine: EngineProcess, check: Callable[[str], bool], what: str, timeout: float = 45) -> str:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        text = await read_metrics(engine)
        if check(text):
            return text
        if loop.time() > deadline:
            raise AssertionError(f"metrics never showed {what}:\n{text}")
        await asyncio.sleep(0.3)


def rows(url: str, fn: Callable[[Session], Any]) -> Any:
    db = create_engine(url)
    try:
        with Session(db) as session:
            return fn(session)
    finally:
        db.dispose()


def event_kinds(url: str) -> list[str]:
    return list(rows(url, lambda s: list(s.scalars(select(TicketEvent.kind)))))


async def console_login(engine: EngineProcess, login: str, password: str) -> int:
    port = engine.config["console"]["port"]
    base = f"http://127.0.0.1:{port}"
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as http:
        async with http.get(f"{base}/console/login") as page:
            token = re.search(r'name="_csrf" value="([^"]+)"', await page.text())
        assert token is not None
        data = {"_csrf": token.group(1), "login": login, "password": password, "next": "/console/"}
        async with http.post(f"{base}/console/login", data=data, allow_redirects=False) as response:
            assert response.status == 303, await response.text()
        async with http.get(f"{base}/console/") as home:
            return home.status


async def leave_message(pbx: PbxPair, engine: EngineProcess, voice: str, caller: str) -> None:
    before = event_kinds(engine.database_url).count("voicemail_left")
    call = await pbx.carrier.call("800000039", caller_number=caller)
    try:
        await until(
            lambda: event_kinds(engine.database_url).count("voicemail_recording") > before, "the message to start"
        )
        await asyncio.sleep(1.0)  # the beep
        await call.say(voice)
    finally:
        await call.hangup()
    await until(lambda: event_kinds(engine.database_url).count("voicemail_left") > before, "the message saved")


async def test_first_run_metrics_logs_backup_and_restore(pbx: PbxPair, tmp_path: Path, voices: Voices) -> None:
    flow = tmp_path / "flow.yaml"
    flow.write_text(FLOW)  # queue -> voicemail when nobody can answer
    extra = {"callflow": str(flow), "queue": {"ring_timeout_s": 60}}
    first = tmp_path / "first"
    first.mkdir()
    engine = EngineProcess(pbx, first, extra)
    voice = pbx.carrier.add_voice("caller", voices.caller)
    await engine.start()
    call = None
    try:
        hint = "no console administrator yet: create the first one with `ivr user add admin --role administrator`"
        # Said once the store has answered how many administrators there are, just after the
        # engine says it is ready: waited for, not read at the ready line (the CI's one failure).
        await until(lambda: hint in engine.log(), "the first-administrator hint")
        console = f"console: http://127.0.0.1:{engine.config['console']['port']}/console/"
        assert console in engine.log()

        created = ivr(engine, "user", "add", "admin", "--role", "administrator")
        assert created.returncode == 0, created.stderr
        password = re.search(r"password \(shown once\): (\S+)", created.stdout)
        assert password is not None
        assert await console_login(engine, "admin", password.group(1)) == 200

        added = ivr(engine, "operator", "add", "ada", "--no-softphone", "--phone", "3479900001")
        assert added.returncode == 0, added.stderr
        login = ivr(engine, "operator", "login", "ada")  # at once: no wait for the engine's sync
        assert login.returncode == 0, login.stdout + login.stderr

        text = await read_metrics(engine)
        assert metric(text, "nul_operators", state="available") == 1
        assert metric(text, "nul_queue_waiting_calls") == 0
        assert 'nul_build_info{python="' in text

        # A caller waits for ada, whose phone rings unanswered: the queue grows, then the caller
        # gives up and the call is counted by its outcome.
        call = await pbx.carrier.call("800000039", caller_number=CALLER)
        await until_metric(engine, lambda t: metric(t, "nul_queue_waiting_calls") == 1, "one caller waiting")
        await until_metric(engine, lambda t: (metric(t, "nul_calls_in_progress", state="queue") or 0) == 1, "queue")
        await call.hangup()
        call = None
        # the ticket is closed and the queue entry removed by two steps of the call's ending: wait for both
        text = await until_metric(
            engine,
            lambda t: (
                metric(t, "nul_calls_ended_total", outcome="caller_hangup") == 1
                and metric(t, "nul_queue_waiting_calls") == 0
            ),
            "the call ended and left the queue",
        )
        assert metric(text, "nul_calls_today", outcome="caller_hangup") == 1
        assert (metric(text, "nul_ari_request_seconds_count", method="POST") or 0) > 0
        assert metric(text, "nul_daily_cap_used") == 1

        assert ivr(engine, "operator", "logout", "ada").returncode == 0
        await leave_message(pbx, engine, voice, CALLER_2)  # nobody to answer: a voicemail with audio

        # The backup runs while a third caller is in the line.
        call = await pbx.carrier.call("800000039", caller_number=CALLER_3)
        await until(
            lambda: (
                len(event_kinds(engine.database_url)) > 0
                and rows(
                    engine.database_url, lambda s: s.scalar(select(Ticket.id).where(Ticket.caller_number == CALLER_3))
                )
            ),
            "the third call's ticket",
        )
        archive = tmp_path / "backup"
        (tmp_path / "pass").write_text("una frase lunga e segreta\n")
        done = ivr(engine, "backup", str(archive), "--passphrase-file", str(tmp_path / "pass"))
        assert done.returncode == 0, done.stderr
        await call.hangup()
        call = None
    finally:
        if call is not None:
            with contextlib.suppress(Exception):
                await call.hangup()
        engine.stop()

    log = engine.log()
    for number in (CALLER, CALLER_2, CALLER_3):
        assert number not in log, f"the caller's number {number} is in the engine's log"
    assert re.search(r"\[call \S+ ticket \d+\] state queue:queue", log), "a line without its call and ticket"

    # Another machine: a fresh data folder, the backup restored, the line taking calls again.
    second = tmp_path / "second"
    second.mkdir()
    restored = EngineProcess(pbx, second, extra)
    back = ivr(restored, "restore", str(archive), "--passphrase-file", str(tmp_path / "pass"))
    assert back.returncode == 0, back.stdout + back.stderr
    again = ivr(restored, "restore", str(archive), "--passphrase-file", str(tmp_path / "pass"))
    assert again.returncode != 0 and "not empty" in again.stderr

    def tickets(url: str) -> dict[int, tuple[str | None, str | None]]:
        return rows(url, lambda s: {t.id: (t.caller_number, t.outcome) for t in s.scalars(select(Ticket))})

    old, new = tickets(engine.database_url), tickets(restored.database_url)
    assert set(new) <= set(old) and len(new) >= 3  # every ticket the copy holds, as it was
    for ticket_id, (number, _outcome) in new.items():
        assert old[ticket_id][0] == number
    recordings = rows(restored.database_url, lambda s: list(s.scalars(select(Recording))))
    assert recordings, "the voicemail's audio is in the backup"
    for rec in recordings:
        path = Path(rec.path)
        assert path.is_relative_to(second), f"{path} still points at the old data folder"
        assert hashlib.sha256(path.read_bytes()).hexdigest() == rec.sha256

    await restored.start()
    try:
        call = await pbx.carrier.call("800000039", caller_number=CALLER)
        await until(lambda: len(tickets(restored.database_url)) > len(new), "a new ticket after the restore")
        await call.hangup()
        text = await until_metric(
            restored, lambda t: metric(t, "nul_calls_ended_total", outcome="caller_hangup") == 1, "the new call"
        )
        assert metric(text, "nul_console_administrators") == 1  # the administrator came back too
    finally:
        restored.stop()
