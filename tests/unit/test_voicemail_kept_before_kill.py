"""An engine killed between keeping a message's audio and saving the message: the engine that
takes the call over finds the audio it kept, and no half browser copy is left behind.

Full run 6, ticket 579: engine a fetched the message, wrote its WAV and its row, removed it from
Asterisk, and was killed (SIGKILL) while ffmpeg made the browser copy. Engine b resumed the call,
found nothing on Asterisk (404), and marked the message "lost"; the audio sat in the recordings
with no message pointing at it, and the half copy (579-vm-579-42afc17d.part.mp3) stayed on disk.
"""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import func, select, update

from ivr.callflows.session import CallContext
from ivr.clock import SystemClock
from ivr.recordings.store import RecordingStore
from ivr.schema.tickets import Recording
from ivr.telephony.errors import NotFound
from ivr.telephony.ports import RecordingResult
from ivr.tickets.status import VoicemailReason
from ivr.tickets.store import NewCall, SqlTicketStore
from ivr.voicemail.config import VoicemailSettings
from ivr.voicemail.messages import VoicemailMessages
from ivr.voicemail.service import VoicemailService
from ivr.voicemail.step import VoicemailStep
from ivr.voicemail.transcribe import VoskTranscriber
from tests.fakes import FakeChannel
from tests.unit.test_voicemail_disk_full import Stored, speech_wav
from tests.unit.test_voicemail_logic import PROMPTS

NAME = "vm-579-42afc17d"


class Asterisk(Stored):
    """Its stored recordings, answering 404 for one it no longer has."""

    async def fetch(self, name: str) -> bytes:
        if name not in self.files:
            raise NotFound("GET", f"recordings/stored/{name}/file", 404, "Recording not found")
        return self.files[name]


@pytest.mark.parametrize("begun_in_an_outage", [False, True])
async def test_audio_kept_by_an_engine_killed_before_its_message_is_the_message_s(
    sqlite_store: SqlTicketStore, tmp_path: Path, begun_in_an_outage: bool
) -> None:
    pbx = Asterisk()
    audio = speech_wav()
    pbx.files[NAME] = audio
    folder = tmp_path / "voicemail"
    settings = VoicemailSettings()
    ctx = CallContext(
        channel=FakeChannel(number="3454682231"), store=sqlite_store, clock=SystemClock(), prompts=PROMPTS
    )
    ctx.ticket_id = await sqlite_store.open_call(NewCall("c", datetime.now(UTC), "3454682231", None, "800000039"))

    # The engine that was killed: the audio kept (file, row, Asterisk's copy removed), then the
    # browser copy half written when the process died.
    killed = RecordingStore(pbx, folder, sqlite_store)
    kept = await killed.keep(NAME, "wav", ticket_id=ctx.ticket_id, kind="voicemail", at=datetime.now(UTC))
    assert NAME not in pbx.files
    if begun_in_an_outage:
        # The medium soak after run 6 (ticket 64): the call began while the database was away, so
        # the killed engine named the file for the ticket's provisional id (-392-vm--392-...wav)
        # while its row, written after the replay, is the real ticket's.
        named = kept.path.with_name(f"-392-{NAME}.wav")
        kept.path.rename(named)
        await sqlite_store.run_write(
            lambda s: s.execute(update(Recording).where(Recording.id == kept.id).values(path=str(named)))
        )
        kept = dataclasses.replace(kept, path=named)
    half = kept.path.with_suffix(f".part.{settings.web_format}")
    half.write_bytes(b"ID3 half a copy")

    # The engine that took the call over saves the message.
    service = VoicemailService(sqlite_store, VoicemailMessages(sqlite_store), RecordingStore(pbx, folder, sqlite_store),
                               VoskTranscriber(None), settings, SystemClock())  # fmt: skip
    result = RecordingResult(NAME, 3.0, 3.0, "interrupted")
    message_id = await VoicemailStep(service, settings)._save(ctx, NAME, result, "citizens", VoicemailReason.CAP)
    await service.process(message_id)

    message = await service.messages.view(message_id)
    assert message.audio == str(kept.path) and Path(message.audio).read_bytes() == audio
    assert message.transcript_status != "lost" and not message.empty
    assert message.web_audio is not None and Path(message.web_audio).is_file()
    rows = await sqlite_store.run_read(lambda s: s.scalar(select(func.count()).select_from(Recording)))
    assert rows == 1, "the recording kept once, not a second row"
    assert sorted(p.name for p in folder.rglob("*") if p.is_file()) == sorted(
        [kept.path.name, Path(message.web_audio).name]
    ), "no half copy left"
