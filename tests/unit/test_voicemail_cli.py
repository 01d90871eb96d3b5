"""`ivr voicemail ...` on a real store: the commands go through the same repository as the console."""

from __future__ import annotations

import os
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.orm import sessionmaker

from ivr.cli import main
from ivr.schema.tickets import CallbackAttempt, Ticket
from ivr.tickets.db import make_engine, upgrade
from ivr.voicemail.messages import new_message, transcribed
from tests.unit.cli_logging import keep_logging

__all__ = ["keep_logging"]

NOW = datetime(2026, 11, 30, 10, 0, tzinfo=UTC)


@pytest.fixture
def config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    engine = make_engine(f"sqlite:///{tmp_path / 'nul.db'}")
    upgrade(engine)
    with sessionmaker(engine).begin() as session:
        ticket = Ticket(channel="phone", call_uid="vm-1", caller_number="3331234567", started_at=NOW)
        session.add(ticket)
        session.flush()
        message_id = new_message(
            session,
            ticket_id=ticket.id,
            box="lavoratori",
            reason="busy",
            asterisk_name="vm-1",
            recording_id=None,
            duration_s=7.5,
            speech_s=5.0,
            empty=False,
            ended_by="key",
            at=NOW,
        )
        transcribed(session, message_id, "vorrei sapere della naspi", [], NOW)
    engine.dispose()
    path = tmp_path / "nul.yaml"
    path.write_text(
        f"database:\n  url: sqlite:///{tmp_path / 'nul.db'}\nsecrets_file: {tmp_path / 'none.yaml'}\n"
        f"clock:\n  start: {NOW.isoformat()}\n"
    )
    for name in [n for n in os.environ if n.startswith("IVR_")]:
        monkeypatch.delenv(name)
    return path


def run(config: Path, *argv: str) -> int:
    return main(["-c", str(config), "voicemail", *argv])


def test_the_workflow_from_the_command_line(config: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run(config, "boxes") == 0
    assert "lavoratori" in capsys.readouterr().out
    assert run(config, "list", "--text", "naspi") == 0
    listed = capsys.readouterr().out
    assert "#1" in listed and "transcript done" in listed
    assert run(config, "show", "1") == 0
    assert "vorrei sapere della naspi" in capsys.readouterr().out
    assert run(config, "assign", "1", "mario", "--by", "sara") == 0
    assert run(config, "called-back", "1", "no_answer", "--operator", "mario") == 0
    assert "attempt 1" in capsys.readouterr().out
    assert run(config, "close", "1", "--note", "risolto") == 0

    engine = make_engine(f"sqlite:///{config.parent / 'nul.db'}")
    with sessionmaker(engine)() as session:
        ticket = session.scalars(select(Ticket)).one()
        assert (ticket.assigned_to, ticket.status) == ("mario", "closed")
        assert session.scalars(select(CallbackAttempt.result)).all() == ["no_answer"]
    engine.dispose()


def test_an_unknown_message_is_a_clear_error(config: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run(config, "assign", "42", "mario") != 0
    assert "42" in capsys.readouterr().err
