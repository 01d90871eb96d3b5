"""`ivr privacy ...`, the retention settings and the daily job, on a real store (SQLite)."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select
from sqlalchemy.orm import sessionmaker

from ivr import jobs
from ivr.cli import main
from ivr.clock import ShiftedClock
from ivr.configfile import ConfigError
from ivr.privacy.config import RetentionSettings
from ivr.privacy.jobs import JOB_ID, PrivacyService, purge_job, schedule_purge
from ivr.schema.console import AuditEntry
from ivr.schema.privacy import LegalHold, PurgeRun
from ivr.schema.tickets import Ticket, TicketEvent
from ivr.settings import load_settings
from ivr.tickets.db import make_engine, upgrade
from tests.unit.cli_config import write_cli_config
from tests.unit.cli_logging import keep_logging
from tests.unit.privacy_data import NOW, NUMBER, World, add_contact, make_world, snapshot

NO_SECRETS = {"IVR_SECRETS_FILE": "/nonexistent/secrets.yaml"}

__all__ = ["keep_logging"]  # restores the root logger after each test (the CLI replaces it)


@pytest.fixture
def world(tmp_path: Path) -> World:
    engine = make_engine(f"sqlite:///{tmp_path / 'nul.db'}")
    upgrade(engine)
    w = make_world(engine, tmp_path / "voicemail")  # the line's voicemail folder (data_dir is tmp_path)
    add_contact(w, "old", 800)
    add_contact(w, "new", 10)
    return w


@pytest.fixture
def config(tmp_path: Path, world: World, monkeypatch: pytest.MonkeyPatch) -> Path:
    return write_cli_config(tmp_path, monkeypatch, NOW, f"paths:\n  data_dir: {tmp_path}\n")


def run(config: Path, *argv: str) -> int:
    return main(["-c", str(config), "privacy", *argv])


def test_hold_release_and_the_trail_they_leave(world: World, config: Path, capsys: pytest.CaptureFixture[str]) -> None:
    ticket = world.contacts["old"].ticket
    assert run(config, "hold", str(ticket), "--reason", "ricorso al Garante n. 12", "--by", "dpo") == 0
    assert f"ticket #{ticket}: held" in capsys.readouterr().out
    assert run(config, "hold", str(ticket), "--reason", "again", "--by", "dpo") == 1
    assert "already under a legal hold" in capsys.readouterr().err
    assert run(config, "hold", "99999", "--reason", "x", "--by", "dpo") == 1
    assert "no ticket #99999" in capsys.readouterr().err
    assert run(config, "hold", str(ticket), "--reason", "   ", "--by", "dpo") == 1
    assert run(config, "holds") == 0
    assert "ricorso al Garante" in capsys.readouterr().out

    before = snapshot(world.engine, world.root)
    assert run(config, "purge", "--dry-run") == 0
    out = capsys.readouterr().out
    assert "dry run: nothing changed" in out and "legal holds: 1 ticket(s) exempt" in out
    assert snapshot(world.engine, world.root) == before
    assert run(config, "purge", "--by", "dpo") == 0
    assert all(p.exists() for p in world.contacts["old"].files.values())

    assert run(config, "release", str(ticket), "--by", "dpo") == 0
    assert "released" in capsys.readouterr().out
    assert run(config, "release", str(ticket), "--by", "dpo") == 1
    assert "not under a legal hold" in capsys.readouterr().err
    assert run(config, "report") == 0
    report = capsys.readouterr().out
    assert "call recordings" in report and "daily at 03:00" in report
    assert run(config, "purge", "--by", "dpo") == 0
    out = capsys.readouterr().out
    assert "removed" in out and "files deleted: 4" in out
    assert not any(p.exists() for p in world.contacts["old"].files.values())

    with sessionmaker(world.engine)() as s:
        (h,) = s.scalars(select(LegalHold)).all()
        assert (h.held_by, h.released_by, h.reason) == ("dpo", "dpo", "ricorso al Garante n. 12")
        kinds = [e.kind for e in s.scalars(select(TicketEvent).where(TicketEvent.ticket_id == ticket))]
        assert "legal_hold" in kinds and "legal_hold_released" in kinds and "privacy_purged" in kinds
        audit = [(a.action, a.object_id) for a in s.scalars(select(AuditEntry).order_by(AuditEntry.id))]
        assert audit[:2] == [("legal_hold", str(ticket)), ("privacy_purge", audit[1][1])]
        assert ("legal_hold_released", str(ticket)) in audit
        # the reason stays with the hold: neither the timeline nor the audit repeat it
        trail = repr(
            [e.detail for e in s.scalars(select(TicketEvent))] + [a.detail for a in s.scalars(select(AuditEntry))]
        )
        assert "Garante" not in trail
        runs = s.scalars(select(PurgeRun)).all()
        assert [r.trigger for r in runs] == ["command", "command"] and runs[-1].by == "dpo"
        new = s.get(Ticket, world.contacts["new"].ticket)
        assert new is not None and new.caller_number == NUMBER


def test_retention_settings_are_checked(tmp_path: Path) -> None:
    path = tmp_path / "nul.yaml"
    path.write_text("retention:\n  recordings_days: 400\n  caller_data_days: 365\n")
    with pytest.raises(ConfigError) as err:
        load_settings(path, environ=NO_SECRETS)
    assert "recordings_days must not exceed caller_data_days" in str(err.value)
    path.write_text("retention:\n  hour: 24\n")
    with pytest.raises(ConfigError, match=r"retention\.hour"):
        load_settings(path, environ=NO_SECRETS)
    path.write_text("retention:\n  survey_answers_days: 1000\n  hour: 4\n")
    settings = load_settings(path, environ=NO_SECRETS)
    assert settings.retention.survey_answers_days == 1000 and settings.retention.hour == 4
    defaults = RetentionSettings()
    assert (defaults.recordings_days, defaults.voicemail_audio_days, defaults.transcripts_days) == (90, 180, 180)
    assert (defaults.caller_data_days, defaults.survey_answers_days) == (365, 730)


async def test_the_daily_job_runs_at_the_hour_and_purges(world: World) -> None:
    scheduler = jobs.make_scheduler(world.engine, "Europe/Rome")
    schedule_purge(scheduler, 3)
    scheduler.start(paused=True)
    try:
        job = scheduler.get_job(JOB_ID)
        assert job is not None and job.func_ref == "ivr.privacy.jobs:purge_job"
        rome = ZoneInfo("Europe/Rome")
        fire = job.trigger.get_next_fire_time(None, datetime(2028, 6, 1, 12, 0, tzinfo=rome))
        assert fire == datetime(2028, 6, 2, 3, 0, tzinfo=rome)
    finally:
        scheduler.shutdown(wait=False)

    before = snapshot(world.engine, world.root)
    await purge_job()  # nothing registered (not the running engine): does nothing
    assert snapshot(world.engine, world.root) == before
    jobs.register(
        "privacy", PrivacyService(world.engine, RetentionSettings(), ShiftedClock(NOW), audio_dirs=(world.root,))
    )
    try:
        await purge_job()
    finally:
        jobs.unregister("privacy")
    assert not any(p.exists() for p in world.contacts["old"].files.values())
    with sessionmaker(world.engine)() as s:
        (run_row,) = s.scalars(select(PurgeRun)).all()
        assert run_row.trigger == "job" and run_row.counts["survey_answers"]["items"] == 2
