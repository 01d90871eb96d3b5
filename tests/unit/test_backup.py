"""`ivr backup` / `ivr restore` on a real SQLite file and a real PostgreSQL: tickets and audio come
back identical in another data folder, encrypted or not; a damaged backup restores nothing; a
target with tickets is refused without --force; a wrong passphrase is named."""

from __future__ import annotations

import hashlib
import os
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from ivr.cli import main
from ivr.ops.backup import backup
from ivr.ops.restore import restore
from ivr.schema.tickets import Recording, Ticket
from ivr.settings import Settings, load_settings
from ivr.tickets.db import make_engine, upgrade
from tests.harness.postgres import PostgresServer

REPO = Path(__file__).resolve().parents[2]
AT = datetime(2026, 4, 7, 10, 0, tzinfo=UTC)


def settings_for(data: Path, url: str) -> Settings:
    return load_settings(
        REPO / "config" / "nul.yaml",
        environ={"IVR_SECRETS_FILE": str(data / "secrets.yaml")},
        overrides={"paths": {"data_dir": str(data)}, "database": {"url": url}},
    )


def fill(settings: Settings, calls: int = 5) -> dict[int, str]:
    """Tickets with voicemail audio files (a large one, to cross the encryption's chunks)."""
    engine = make_engine(settings.database_url)
    upgrade(engine)
    folder = settings.voicemail_dir
    folder.mkdir(parents=True, exist_ok=True)
    sums: dict[int, str] = {}
    with Session(engine) as session:
        for i in range(calls):
            ticket = Ticket(caller_number=f"33310000{i:02}", started_at=AT, outcome="voicemail", open=False)
            session.add(ticket)
            session.flush()
            audio = folder / f"{ticket.id}-message.wav"
            audio.write_bytes(os.urandom(3 * 1024 * 1024 + i if i == 0 else 20_000 + i))
            digest = hashlib.sha256(audio.read_bytes()).hexdigest()
            session.add(
                Recording(
                    ticket_id=ticket.id,
                    kind="voicemail",
                    path=str(audio.resolve()),
                    sha256=digest,
                    bytes=audio.stat().st_size,
                    duration_s=3.0,
                    created_at=AT,
                )
            )
            sums[ticket.id] = digest
        session.commit()
    engine.dispose()
    return sums


def restored(settings: Settings) -> dict[int, tuple[str, str]]:
    engine = make_engine(settings.database_url)
    with Session(engine) as session:
        found = {r.ticket_id: (r.path, r.sha256) for r in session.scalars(select(Recording))}
        assert session.scalar(select(Ticket.caller_number).where(Ticket.id == min(found))) == "3331000000"
    engine.dispose()
    return found


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def two_urls(request: pytest.FixtureRequest, tmp_path: Path) -> tuple[str, str]:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'a' / 'nul.db'}", f"sqlite:///{tmp_path / 'b' / 'nul.db'}"
    server: PostgresServer = request.getfixturevalue("postgres")
    name = f"bk{os.getpid()}_{abs(hash(tmp_path)) % 10**8}"
    return server.create_database(name + "a"), server.create_database(name + "b")


@pytest.mark.parametrize("encrypted", [False, True])
def test_backup_restored_elsewhere_has_every_ticket_and_file(
    tmp_path: Path, two_urls: tuple[str, str], encrypted: bool
) -> None:
    source = settings_for(tmp_path / "a", two_urls[0])
    sums = fill(source)
    passphrase = b"una frase lunga e segreta" if encrypted else None
    manifest = backup(source, tmp_path / "backup", passphrase)
    assert manifest["encrypted"] is encrypted
    if encrypted:  # the audio is not readable in the backup
        stored = next(f for f in manifest["files"] if f["name"].startswith("files/voicemail/"))
        assert stored["stored"].endswith(".enc")

    target = settings_for(tmp_path / "b", two_urls[1])
    counts = restore(target, tmp_path / "backup", passphrase)
    assert counts["audio_paths_moved"] == len(sums)
    found = restored(target)
    assert set(found) == set(sums)
    for ticket_id, (path, digest) in found.items():
        assert Path(path).is_relative_to(tmp_path / "b")
        assert digest == sums[ticket_id] == hashlib.sha256(Path(path).read_bytes()).hexdigest()

    with pytest.raises(Exception, match="not empty"):
        restore(target, tmp_path / "backup", passphrase)
    restore(target, tmp_path / "backup", passphrase, force=True)  # --force: an old copy back over it


def test_damaged_backup_restores_nothing(tmp_path: Path) -> None:
    source = settings_for(tmp_path / "a", f"sqlite:///{tmp_path / 'a' / 'nul.db'}")
    fill(source, calls=2)
    manifest = backup(source, tmp_path / "backup")
    audio = next(f for f in manifest["files"] if f["name"].startswith("files/voicemail/"))
    damaged = tmp_path / "backup" / audio["stored"]
    damaged.write_bytes(damaged.read_bytes()[:-1] + b"\0")
    target = settings_for(tmp_path / "b", f"sqlite:///{tmp_path / 'b' / 'nul.db'}")
    with pytest.raises(Exception, match="checksum differs") as caught:
        restore(target, tmp_path / "backup")
    assert audio["stored"] in str(caught.value)
    assert not (tmp_path / "b" / "nul.db").exists()
    assert not target.voicemail_dir.exists()


def test_wrong_passphrase_and_the_commands(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = tmp_path / "a"
    source = settings_for(data, f"sqlite:///{data / 'nul.db'}")
    fill(source, calls=1)
    config = tmp_path / "nul.yaml"
    config.write_text(
        f"paths: {{data_dir: {data}}}\nsecrets_file: {data / 'secrets.yaml'}\n"
        f"callflow: {REPO / 'config/callflows/main.yaml'}\nprompts: {{texts: {REPO / 'config/prompts/it.yaml'}}}\n"
    )
    (tmp_path / "pass").write_text("una frase lunga e segreta\n")
    (tmp_path / "wrong").write_text("un'altra frase, sbagliata\n")
    args: list[Any] = ["-c", str(config)]
    assert main([*args, "backup", str(tmp_path / "bk"), "--passphrase-file", str(tmp_path / "pass")]) == 0
    assert "encrypted" in capsys.readouterr().out
    config.write_text(config.read_text().replace(str(data), str(tmp_path / "b")))
    assert main([*args, "restore", str(tmp_path / "bk")]) == 1
    assert "encrypted: give --passphrase-file" in capsys.readouterr().err
    assert main([*args, "restore", str(tmp_path / "bk"), "--passphrase-file", str(tmp_path / "wrong")]) == 1
    assert "wrong passphrase" in capsys.readouterr().err
    assert main([*args, "restore", str(tmp_path / "bk"), "--passphrase-file", str(tmp_path / "pass")]) == 0
