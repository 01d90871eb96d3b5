"""What the purge used to miss, on real files and a real SQLite store: audio left in Asterisk's
spool, console sessions, the audit log, Asterisk's rotated logs, and deleted rows left readable in
the database file."""

from __future__ import annotations

import os
import sqlite3
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select, text

from ivr.privacy.config import RetentionSettings
from ivr.privacy.purge import AsteriskDirs, Purger
from ivr.schema.console import AuditEntry, ConsoleSession, ConsoleUser
from ivr.schema.presence import OperatorStateChange
from ivr.schema.tickets import Voicemail
from ivr.tickets.db import make_engine, upgrade
from ivr.tickets.outbox import Outbox
from tests.unit.privacy_data import NOW, World, add_contact, hold, make_world

SETTINGS = RetentionSettings(spool_audio_days=7, sessions_days=30, audit_days=730, asterisk_logs_days=30)


def aged(path: Path, days: float, data: bytes = b"RIFF....WAVE") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    when = (NOW - timedelta(days=days)).timestamp()
    os.utime(path, (when, when))
    return path


@pytest.fixture
def world(tmp_path: Path) -> World:
    engine = make_engine(f"sqlite:///{tmp_path / 'nul.db'}")
    upgrade(engine)
    return make_world(engine, tmp_path / "audio")


def test_sqlite_connections_overwrite_deleted_data(world: World, tmp_path: Path) -> None:
    with world.engine.connect() as conn:
        assert conn.execute(text("PRAGMA secure_delete")).scalar() == 1
    outbox = Outbox(tmp_path / "outbox.db")
    try:
        assert outbox._db.execute("PRAGMA secure_delete").fetchone()[0] == 1
    finally:
        outbox.close()
    # and a row deleted through the store is gone from the file, not just unlinked
    with world.session() as s, s.begin():
        s.add(AuditEntry(at=NOW, action="listen", object_kind="number", object_id="3479998887766"))
    with world.session() as s, s.begin():
        s.execute(AuditEntry.__table__.delete())
    world.engine.dispose()
    with sqlite3.connect(tmp_path / "nul.db") as raw:
        raw.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    assert b"3479998887766" not in (tmp_path / "nul.db").read_bytes()


def test_spool_sessions_audit_and_logs_go_after_their_period_and_not_before(world: World, tmp_path: Path) -> None:
    spool, logs = tmp_path / "spool" / "recording", tmp_path / "log"
    # a voicemail never fetched, still wanted (its message is fresh), and one long forgotten
    fresh = add_contact(world, "fresh", 10)
    with world.session() as s, s.begin():
        vm = s.scalar(select(Voicemail).where(Voicemail.ticket_id == fresh.ticket))
        assert vm is not None
        vm.recording_id, vm.asterisk_name = None, f"vm-{fresh.ticket}-aaaa"
    held = add_contact(world, "held", 800)
    hold(world, held.ticket)
    files = {
        "unfetched_fresh_message": aged(spool / f"vm-{fresh.ticket}-aaaa.wav", 9),
        "orphan_old": aged(spool / "vm-999-bbbb.wav", 8),
        "orphan_call_old": aged(spool / "call-998-cccc.wav", 40),
        "in_progress": aged(spool / "vm-997-dddd.wav", 0.01),
        "recent": aged(spool / "call-996-eeee.wav", 6),
        "held_ticket": aged(spool / f"call-{held.ticket}-ffff.wav", 100),
        "log_live": aged(logs / "messages.log", 90, b"NOTICE 3471234567"),
        "log_rotated_old": aged(logs / "messages.log.1780000000", 31, b"NOTICE 3471234567"),
        "log_rotated_new": aged(logs / "messages.log.1785000000", 29, b"NOTICE 3471234567"),
    }
    gone = {"orphan_old", "orphan_call_old", "log_rotated_old"}
    with world.session() as s, s.begin():
        user = ConsoleUser(login="sara", name="Sara", role="supervisor", password_hash="x", created_at=NOW)
        s.add(user)
        s.flush()
        for days, token in ((31, "old"), (29, "new")):
            at = NOW - timedelta(days=days)
            s.add(ConsoleSession(token_hash=token, user_id=user.id, csrf="c", created_at=at, last_seen_at=at))
        for days, what in ((731, "old"), (729, "new")):
            s.add(AuditEntry(at=NOW - timedelta(days=days), login="sara", action="listen", object_id=what))
        for days in (366, 364):  # an operator's state changes: a year kept
            s.add(OperatorStateChange(login="anna", state="available", reason=None, at=NOW - timedelta(days=days)))

    purger = Purger(world.engine, SETTINGS, AsteriskDirs(spool=spool, logs=logs), audio_dirs=(world.root,))
    due = purger.due(NOW)
    counts = {k: due.kinds[k].items for k in ("spool_audio", "sessions", "operator_time", "audit", "asterisk_logs")}
    assert counts == {"spool_audio": 2, "sessions": 1, "operator_time": 1, "audit": 1, "asterisk_logs": 1}
    assert sorted(Path(p).name for p in due.files_due) == sorted(files[k].name for k in gone)  # the dry run lists
    assert all(p.exists() for p in files.values())  # ... and changes nothing

    done = purger.run(NOW, by="dpo")
    assert {k for k, p in files.items() if not p.exists()} == gone
    assert done.failed_files == []
    with world.session() as s:
        assert [r.token_hash for r in s.scalars(select(ConsoleSession))] == ["new"]
        assert {r.object_id for r in s.scalars(select(AuditEntry).where(AuditEntry.action == "listen"))} == {"new"}
    assert purger.due(NOW).items == 0  # nothing left to do


def test_the_audit_outlives_the_data_it_proves_access_to() -> None:
    with pytest.raises(ValueError, match="audit_days"):
        RetentionSettings(audit_days=300)  # shorter than the caller data (365)
    assert RetentionSettings().audit_days >= RetentionSettings().caller_data_days


def test_the_managed_asterisk_rotates_its_logs_by_timestamp() -> None:
    template = Path(__file__).parents[2] / "config" / "asterisk" / "engine" / "logger.conf.j2"
    assert "rotatestrategy = timestamp" in template.read_text()
