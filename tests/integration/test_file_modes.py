"""After a real call that leaves a voicemail, the engine's files (data directory, recordings,
voicemail audio, databases, log, open data) are its own: no group or other access, also for
what an older install had left open. The engine runs as `ivr run`, as in production."""

from __future__ import annotations

import asyncio
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from ivr.schema.tickets import Recording, TicketEvent, Voicemail
from ivr.tickets.db import make_engine
from tests.harness.engine_process import EngineProcess
from tests.harness.pbx import REPO, PbxPair
from tests.harness.voices import Voices
from tests.harness.waits import until

pytestmark = pytest.mark.asterisk
EVENING = "2026-02-10T19:30:00+01:00"  # closed: the caller goes to voicemail


def _mode(path: Path) -> str:
    return oct(stat.S_IMODE(path.lstat().st_mode))


def _open_to_others(top: Path) -> list[str]:
    found = [] if not stat.S_IMODE(top.stat().st_mode) & 0o077 else [f"{top} {_mode(top)}"]
    for dirpath, dirnames, filenames in os.walk(top):
        for name in dirnames + filenames:
            path = Path(dirpath) / name
            if not path.is_symlink() and stat.S_IMODE(path.lstat().st_mode) & 0o077:
                found.append(f"{path.relative_to(top)} {_mode(path)}")
    return found


async def test_files_of_a_voicemail_call_are_private(pbx: PbxPair, tmp_path: Path, voices: Voices) -> None:
    data = tmp_path / "var"
    data.mkdir()
    # What an install made before this rule left behind: open directories and files.
    (data / "recordings").mkdir()
    old = data / "recordings" / "old.wav"
    old.write_bytes(b"RIFF")
    for path, mode in ((data, 0o755), (data / "recordings", 0o755), (old, 0o644)):
        path.chmod(mode)
    log_file = data / "logs" / "engine.log"
    engine = EngineProcess(
        pbx,
        data,
        {"clock": {"start": EVENING}, "voicemail": {"max_silence_s": 0}, "logging": {"file": str(log_file)}},
    )
    speech = pbx.carrier.add_voice("file-modes", voices.caller)
    db = make_engine(engine.database_url)

    def recording_started() -> bool:
        with Session(db) as session:
            return session.scalar(select(TicketEvent.id).where(TicketEvent.kind == "voicemail_recording")) is not None

    def saved() -> Recording | None:
        with Session(db) as session:
            query = select(Recording).join(Voicemail, Voicemail.recording_id == Recording.id)
            return session.execute(query.where(Recording.web_path.is_not(None))).scalar_one_or_none()

    await engine.start()
    try:
        call = await pbx.carrier.call("800000039", caller_number="3331000077")
        await until(recording_started, "the message to start recording")
        await asyncio.sleep(1.0)  # the beep
        await call.say(speech)
        await call.hangup()  # hanging up still saves the message
        recording = await until(saved, "the voicemail audio kept with its browser copy")
        env = {**os.environ, "IVR_CONFIG": str(engine.path)}
        subprocess.run(  # noqa: ASYNC221 (a short command, the test waits for it anyway)
            [sys.executable, "-m", "ivr.cli", "stats", "export", "--day", "2026-02-10"],
            env=env,
            cwd=REPO,
            check=True,
            capture_output=True,
        )
    finally:
        engine.stop()
        db.dispose()

    audio, web = Path(recording.path), Path(recording.web_path)
    assert audio.is_relative_to(data / "voicemail") and audio.stat().st_size > 1000
    opendata = sorted(p for p in (data / "opendata").rglob("*") if p.is_file())
    assert opendata, "no open-data file written"
    expected = {
        data: 0o700,
        data / "recordings": 0o700,
        old: 0o600,
        data / "voicemail": 0o700,
        audio.parent: 0o700,
        audio: 0o600,
        web: 0o600,
        data / "nul.db": 0o600,
        data / "outbox.db": 0o600,
        log_file: 0o600,
        log_file.parent: 0o700,
        data / "opendata": 0o700,
        **{p: 0o600 for p in opendata},
    }
    modes = {str(p.relative_to(tmp_path)): _mode(p) for p in expected}
    assert modes == {str(p.relative_to(tmp_path)): oct(m) for p, m in expected.items()}
    assert _open_to_others(data) == []
    # Asterisk's side: what it records and logs is its own too.
    for kind in ("spool", "log"):
        assert _open_to_others(pbx.engine_asterisk.host(kind)) == [], kind
