"""A fenced engine starts again as a standby with its outbox full of the calls it served last (the
only record of them): it replays the outbox while it waits, not on a later turn as the active
engine that may never come (ivr.ha.runner with a fake lease held by another engine, a real store)."""

from __future__ import annotations

import argparse
import asyncio
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from ivr import cli
from ivr.command_table import install
from ivr.ha import runner
from ivr.ha.guard import LineGuard
from ivr.ha.lease import Holder
from ivr.ha.runner import LineRunner
from ivr.schema.tickets import Ticket
from ivr.tickets import commands
from ivr.tickets.commands import Command, UnknownCommand
from ivr.tickets.db import make_engine, upgrade
from ivr.tickets.outbox import Outbox
from ivr.tickets.salvage import replay_earlier_run
from tests.unit.test_ops import settings_for

T0 = datetime(2027, 3, 12, 16, 13, tzinfo=UTC)
HA = {"lease_ttl_s": 1.0, "renew_every_s": 0.2, "standby_poll_s": 0.1, "app_proof_s": 0.5}


class OtherEngineHolds:
    """The lease row while another engine is active: every attempt sees its holder."""

    name = "nul"
    expires = True
    token: int | None = None

    def try_acquire(self, *, take_expired: bool = True) -> Holder | None:
        return Holder("elsewhere", 4242, T0, 7)

    def close(self) -> None:
        return None


def _never_built(guard: LineGuard) -> object:
    raise AssertionError("a standby builds no engine")


async def test_a_standby_replays_its_earlier_runs_outbox_while_it_waits(db_url: str, tmp_path: Path) -> None:
    settings = settings_for(tmp_path, ha=HA, database={"url": db_url})
    db = make_engine(db_url)
    upgrade(db)
    outbox = Outbox(settings.outbox_path)
    opened = outbox.append(
        "fenced-1",
        Command(
            "ticket.open",
            {
                "call_uid": "served-on-the-outbox",
                "did": "800000039",
                "caller_number": "3331234567",
                "caller_name": None,
                "started_at": T0,
                "timezone": "Europe/Rome",
            },
        ),
    )
    close = {"ended_at": T0, "outcome": "voicemail", "end_reason": "voicemail:nobody", "last_state": "voicemail:vm"}
    outbox.append("fenced-1", Command("ticket.close", {"ticket_id": -opened, **close}))
    outbox.close()

    runner = LineRunner(settings, OtherEngineHolds(), _never_built, standby=True, kind="lease row")  # type: ignore[arg-type]
    running = asyncio.ensure_future(runner.run())
    try:
        for _ in range(100):
            with Session(db) as session:
                found = session.scalar(select(func.count()).select_from(Ticket).where(Ticket.open.is_(False)))
            if found:
                break
            await asyncio.sleep(0.1)
        assert found == 1, "the standby never replayed its outbox"
        assert not running.done()  # still standing by
    finally:
        runner._stop.set()
        assert await asyncio.wait_for(running, 5) == 0
    left = Outbox(settings.outbox_path)
    assert (left.count(), left.rejected_count()) == (0, 0)
    left.close()
    db.dispose()


def test_a_replay_without_its_command_table_keeps_the_writes_and_ivr_run_installs_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Full run 11: the standby replayed its earlier run's outbox in a process that had built no
    engine, so no command was registered; nine writes (two calls' messages and closings) were set
    aside as 'unknown command' and lost to the store. The suite's own process had the table
    installed by conftest, which hid it. An unknown command is the process's fault: the replay
    stops and the write waits; `ivr run` installs the table before anything replays."""
    settings = settings_for(tmp_path, ha=HA)
    db = make_engine(settings.database_url)
    upgrade(db)
    outbox = Outbox(settings.outbox_path)
    outbox.append("fenced-1", Command("ticket.event", {"ticket_id": 1, "kind": "menu_choice", "at": T0}))
    outbox.close()
    monkeypatch.setattr(commands, "COMMANDS", {})  # a fresh process: nothing installed
    with pytest.raises(UnknownCommand):
        replay_earlier_run(db, settings.outbox_path)
    outbox = Outbox(settings.outbox_path)
    assert (outbox.count(), outbox.rejected_count()) == (1, 0)  # waiting still, nothing set aside
    outbox.close()
    db.dispose()

    installed: list[int] = []

    class Stop(Exception):
        pass

    def record(*args: object, **kw: object) -> None:
        installed.append(len(commands.COMMANDS))
        raise Stop

    monkeypatch.setattr(runner, "LineRunner", record)
    with pytest.raises(Stop):
        runner.run_line(settings, lambda s, g: None, standby=True, install_commands=install)  # type: ignore[arg-type,return-value]
    assert installed and installed[0] > 10  # the table was there before the runner was made

    passed: dict[str, object] = {}
    monkeypatch.setattr(runner, "run_line", lambda *a, **kw: passed.update(kw) or 0)
    cli.cmd_run(argparse.Namespace(standby=True, no_asterisk=True), settings)
    assert passed["install_commands"] is install  # `ivr run` hands the runner the one table
