"""The stray audio sweep: a second copy an engine killed before its row left is removed, the only
copy of anything is never (ivr.recordings.strays)."""

from __future__ import annotations

import os
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy.orm import Session

from ivr.ha.guard import Fenced, LineGuard
from ivr.recordings.strays import StraySweeper, recording_key, sweep_strays
from ivr.schema.tickets import Recording, Ticket
from ivr.tickets.db import make_engine, upgrade

AT = datetime(2026, 12, 7, 9, 0, tzinfo=UTC)
HOUR = 3600.0


def _file(path: Path, age_s: float, data: bytes = b"RIFF....WAVE") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    then = time.time() - age_s
    os.utime(path, (then, then))
    return path


@pytest.fixture
def line(tmp_path: Path):  # type: ignore[no-untyped-def]
    db = make_engine(f"sqlite:///{tmp_path / 'nul.db'}")
    upgrade(db)
    yield db, tmp_path / "recordings", tmp_path / "voicemail"
    db.dispose()


def _row(db, path: Path, web: Path | None = None, kind: str = "call") -> None:  # type: ignore[no-untyped-def]
    with Session(db) as session:
        ticket = Ticket(started_at=AT)
        session.add(ticket)
        session.flush()
        session.add(
            Recording(
                ticket_id=ticket.id,
                kind=kind,
                path=str(path),
                sha256="0" * 64,
                bytes=12,
                duration_s=1.0,
                created_at=AT,
                web_path=str(web) if web else None,
            )
        )
        session.commit()


def test_the_name_without_the_ticket_id_is_the_same_for_every_copy() -> None:
    assert recording_key("45-call-45-lab-1.wav") == "call-45-lab-1.wav"
    assert recording_key("-392-vm--392-lab-7.wav") == "vm--392-lab-7.wav"  # a provisional id
    assert recording_key("notes.txt") is None


def test_second_copies_and_half_written_files_go_the_only_copies_stay(line) -> None:  # type: ignore[no-untyped-def]
    db, recordings, voicemail = line
    kept = _file(recordings / "2026/12/07/45-call-45-lab-1.wav", HOUR)
    _row(db, kept)
    message = _file(voicemail / "2026/12/07/46-vm--12-lab-2.wav", HOUR)
    message_web = _file(voicemail / "2026/12/07/46-vm--12-lab-2.mp3", HOUR)
    _row(db, message, message_web, kind="voicemail")
    gone_row = recordings / "2026/12/07/47-call-47-lab-3.wav"  # a row whose file is not there
    _row(db, gone_row)

    # what the killed engines left
    second = _file(recordings / "2026/12/06/45-call-45-lab-1.wav", HOUR)  # kept a day folder apart
    provisional = _file(voicemail / "2026/12/07/-12-vm--12-lab-2.wav", HOUR)  # under its provisional id
    provisional_web = _file(voicemail / "2026/12/07/-12-vm--12-lab-2.mp3", HOUR)
    half = _file(voicemail / "2026/12/07/46-vm--12-lab-2.part.mp3", HOUR)
    half_call = _file(recordings / "2026/12/07/48-call-48-lab-4.part", HOUR)
    only = _file(recordings / "2026/12/07/49-call-49-lab-5.wav", HOUR)  # nobody kept it: the only copy
    only_of_missing = _file(recordings / "2026/12/05/47-call-47-lab-3.wav", HOUR)  # the row's file is gone
    young = _file(recordings / "2026/12/07/-50-call-45-lab-1.wav", 5.0)  # its row may still be coming

    found = sweep_strays(db, (recordings, voicemail), grace_s=600.0)

    assert sorted(found.removed) == sorted([second, provisional, provisional_web, half, half_call])
    assert sorted(found.unowned) == sorted([only, only_of_missing])
    for path in found.removed:
        assert not path.exists()
    for path in (kept, message, message_web, only, only_of_missing, young):
        assert path.exists()
    assert not found.failed


def test_a_dry_look_removes_nothing(line) -> None:  # type: ignore[no-untyped-def]
    db, recordings, voicemail = line
    kept = _file(recordings / "2026/12/07/45-call-45-lab-1.wav", HOUR)
    _row(db, kept)
    second = _file(recordings / "2026/12/06/45-call-45-lab-1.wav", HOUR)
    found = sweep_strays(db, (recordings, voicemail), grace_s=600.0, delete=False)
    assert found.removed == [second] and second.exists()


def test_a_folder_both_engines_reach_by_different_names_is_not_a_second_copy(line, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """The row names the file through a link (another engine's mount of the same folder): the file
    is the one the row names, never removed as a copy of itself."""
    db, recordings, voicemail = line
    kept = _file(recordings / "2026/12/07/45-call-45-lab-1.wav", HOUR)
    mount = tmp_path / "other-mount"
    mount.symlink_to(recordings)
    _row(db, mount / "2026/12/07/45-call-45-lab-1.wav")
    found = sweep_strays(db, (recordings, voicemail), grace_s=600.0)
    assert not found.removed and not found.unowned
    assert kept.exists()


def test_a_fenced_engine_removes_nothing(line) -> None:  # type: ignore[no-untyped-def]
    db, recordings, voicemail = line
    kept = _file(recordings / "2026/12/07/45-call-45-lab-1.wav", HOUR)
    _row(db, kept)
    second = _file(recordings / "2026/12/06/45-call-45-lab-1.wav", HOUR)
    guard = LineGuard()
    guard.lose("lease lost")
    with pytest.raises(Fenced):
        StraySweeper(db, (recordings, voicemail), 600.0, guard).run()
    assert second.exists()
    assert StraySweeper(db, (recordings, voicemail), 600.0).run().removed == [second]
