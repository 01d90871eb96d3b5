"""An upgrade from the previous release (schema 0008, the release before the knowledge base) on
SQLite and PostgreSQL: realistic rows written at 0008 are all there, unchanged, after the
migrations to the latest; an old configuration with a renamed key stops with a message that
names the file, the line and the replacement."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import MetaData, func, insert, select

from ivr.cli import main
from ivr.configfile import ConfigError
from ivr.settings import load_settings
from ivr.tickets.db import current_revision, head_revision, make_engine, upgrade
from ivr.version import version

AT = datetime(2026, 3, 2, 9, 30, tzinfo=UTC)
PREVIOUS = "0008"


def rows_at_0008() -> dict[str, list[dict[str, Any]]]:
    return {
        "operators": [
            {"id": 1, "login": "ada", "name": "Ada Rossi", "sip_md5": "0" * 32, "presence": "logged_out",
             "skills": ["cittadini"], "active": True, "created_at": AT},
        ],
        "console_users": [
            {"id": 1, "login": "admin", "name": "Amministratore", "role": "administrator",
             "password_hash": "$argon2id$v=19$m=65536,t=3,p=4$c2FsdA$aGFzaA", "active": True, "created_at": AT},
        ],
        "tickets": [
            {"id": 1, "channel": "phone", "call_uid": "1740000000.1", "did": "800000039",
             "caller_number": "3331234567", "started_at": AT, "answered_at": AT, "ended_at": AT, "open": False,
             "outcome": "completed", "end_reason": "flow_end", "topic": "cittadini", "line_state": "open",
             "queue_result": "answered", "operator_id": 1, "wait_s": 12.5, "handle_s": 180.0,
             "status": "resolved", "level": 1, "local_day": AT.date()},
            {"id": 2, "channel": "phone", "call_uid": "1740000000.2", "caller_number": "0612345678",
             "started_at": AT, "ended_at": AT, "open": False, "outcome": "voicemail", "topic": "aziende",
             "status": "new", "level": 2, "sla_kind": "phone_callback", "callback_due": AT, "local_day": AT.date()},
            {"id": 3, "channel": "web", "started_at": AT, "open": True, "status": "new", "level": 1,
             "sla_kind": "web_reply", "callback_due": AT, "local_day": AT.date()},
        ],
        "ticket_events": [
            {"id": 1, "ticket_id": 1, "at": AT, "kind": "menu_choice", "detail": {"key": "1"}},
            {"id": 2, "ticket_id": 2, "at": AT, "kind": "voicemail_left", "detail": {"seconds": 14}},
        ],
        "recordings": [
            {"id": 1, "ticket_id": 2, "kind": "voicemail", "path": "/srv/nul/var/voicemail/2-msg.wav",
             "sha256": "a" * 64, "bytes": 224000, "duration_s": 14.0, "created_at": AT},
        ],
        "voicemails": [
            {"id": 1, "ticket_id": 2, "box": "aziende", "reason": "closed", "asterisk_name": "vm-2",
             "recording_id": 1, "duration_s": 14.0, "speech_s": 11.0, "empty": False, "callback_number": "0612345678",
             "callback_source": "confirmed", "transcript_status": "done", "transcript": "vorrei informazioni",
             "transcript_attempts": 1, "created_at": AT},
        ],
        "web_requests": [
            {"id": 1, "ticket_id": 3, "name": "Maria Bianchi", "email": "maria@example.org",
             "subject": "Iscrizione", "message": "Come mi iscrivo al programma GOL?", "received_at": AT},
        ],
    }  # fmt: skip


def test_upgrade_from_the_previous_release_keeps_every_row(db_url: str) -> None:
    engine = make_engine(db_url)
    upgrade(engine, PREVIOUS)
    assert current_revision(engine) == PREVIOUS
    meta = MetaData()
    meta.reflect(engine)
    data = rows_at_0008()
    with engine.begin() as conn:
        for table, rows in data.items():
            columns = set(meta.tables[table].c.keys())
            for row in rows:
                assert set(row) <= columns, f"{table}: {set(row) - columns} did not exist at {PREVIOUS}"
            for row in rows:
                conn.execute(insert(meta.tables[table]).values(**row))
    upgrade(engine)
    assert current_revision(engine) == head_revision()
    after = MetaData()
    after.reflect(engine)
    with engine.connect() as conn:
        for table, rows in data.items():
            t = after.tables[table]
            assert conn.scalar(select(func.count()).select_from(t)) == len(rows)
            for row in rows:
                stored = conn.execute(select(*(t.c[k] for k in row)).where(t.c.id == row["id"])).one()
                for key, value in row.items():
                    got = stored._mapping[key]
                    if isinstance(value, datetime):
                        got = got.replace(tzinfo=UTC) if got.tzinfo is None else got
                    assert got == value, f"{table}.{key} of row {row['id']} changed in the upgrade"
    engine.dispose()


OLD_CONFIG = """\
service:
  name: Numero per il lavoro
mail:
  host: smtp.example.org
  starttls: true
"""


def test_an_old_configuration_names_the_renamed_key(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = tmp_path / "nul.yaml"
    config.write_text(OLD_CONFIG)
    with pytest.raises(ConfigError) as caught:
        load_settings(config, environ={})
    (problem,) = caught.value.problems
    assert problem.startswith(f"{config}:5: mail.starttls: this key was replaced: use mail.tls")
    assert main(["-c", str(config), "config", "check"]) == 2
    assert "this key was replaced: use mail.tls" in capsys.readouterr().err


def test_version_is_the_package_release(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as done:
        main(["--version"])
    assert done.value.code == 0
    assert capsys.readouterr().out.strip() == f"ivr {version()}"
    assert version()[0].isdigit()
