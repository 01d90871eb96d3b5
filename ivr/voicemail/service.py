"""After the call: keep the message's audio, make the browser copy, transcribe. Anything that
fails is left for the retry job; nothing is lost (the audio stays on Asterisk until ours is safe).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy.orm import Session

from ivr.audio import duration_s, voiced_seconds, web_copy
from ivr.clock import Clock
from ivr.recordings.store import RecordingStore
from ivr.schema.tickets import Recording
from ivr.tasks import TaskSupervisor
from ivr.telephony.errors import AriError, AriUnavailable, NotFound
from ivr.tickets.store import TicketStore
from ivr.tickets.writer import database_away
from ivr.voicemail.config import VoicemailSettings
from ivr.voicemail.messages import VoicemailMessages
from ivr.voicemail.transcribe import TranscriptionError, VoskTranscriber

log = logging.getLogger(__name__)

# Asterisk answered "no such recording" this many times (the first at the call's end, then the
# retry job's minutes): it lost the audio (restarted while recording), and the message says so
# instead of being fetched for ever; its callback number and ticket stay.
AUDIO_GONE_AFTER = 3


@dataclass(frozen=True)
class Kept:
    recording_id: int
    path: Path
    duration_s: float
    speech_s: float
    empty: bool


class VoicemailService:
    def __init__(
        self,
        store: TicketStore,
        messages: VoicemailMessages,
        recordings: RecordingStore,
        transcriber: VoskTranscriber,
        settings: VoicemailSettings,
        clock: Clock,
        *,
        tasks: TaskSupervisor | None = None,
        on_nothing_said: Callable[[int], Awaitable[object]] | None = None,
    ) -> None:
        # Told the ticket of a message found empty once its audio was kept late: a call that left
        # nothing is a missed one (the missed-calls list's note), though it looked like a message.
        self.on_nothing_said = on_nothing_said
        self.tasks = tasks or TaskSupervisor(type(self).__name__)  # transcriptions started as messages are saved
        self.store = store  # the named write commands (they wait in the outbox while the database is away)
        self.messages = messages
        self.recordings = recordings
        self.transcriber = transcriber
        self.settings = settings
        self.clock = clock
        self._busy: set[int] = set()

    async def keep_audio(self, name: str, ticket_id: int) -> Kept:
        """Fetch the message from Asterisk into the voicemail folder, with a browser copy (made
        again over a half one an engine killed while making it left behind)."""
        info = await self.recordings.keep_or_find(
            name, "wav", ticket_id=ticket_id, kind="voicemail", at=self.clock.now()
        )
        speech = await asyncio.to_thread(voiced_seconds, info.path)
        length = await asyncio.to_thread(duration_s, info.path)
        empty = speech < self.settings.min_speech_s or (length < self.settings.min_message_s and speech < 1.0)
        try:
            copy = await asyncio.to_thread(web_copy, info.path, self.settings.web_format)
        except Exception as exc:  # the WAV stays playable; only the compressed copy is missing
            log.warning("voicemail %s: no %s copy (%s)", name, self.settings.web_format, exc)
        else:
            await self.store.execute("recordings.web_path", recording_id=info.id, web_path=str(copy))
        return Kept(info.id, info.path, length, speech, empty)

    def submit(self, message_id: int) -> None:
        if message_id < 0:  # saved in the outbox while the database is away: the retry job takes it
            log.info("voicemail %d waits for the database; transcription later", message_id)
            return
        self.tasks.spawn(self.process(message_id), name=f"voicemail-{message_id}")

    async def process(self, message_id: int) -> str:
        """Make sure the audio is ours, then transcribe; returns the transcript status."""
        if message_id in self._busy:
            return "busy"
        self._busy.add(message_id)
        try:
            return await self._process(message_id)
        except Exception as exc:
            if not database_away(exc):
                raise
            # The database is away (full run 4 logged nine such tasks as failures): the message and
            # its audio wait where they are, and the retry job takes them once it is back.
            log.warning("voicemail %d waits for the database (%s); the retry job takes it", message_id, exc)
            return "pending"
        finally:
            self._busy.discard(message_id)

    async def _process(self, message_id: int) -> str:
        message = await self.messages.view(message_id)
        if message.audio is None:
            try:
                kept = await self.keep_audio(message.asterisk_name, message.ticket_id)
            except NotFound as exc:
                if message.transcript_attempts + 1 >= AUDIO_GONE_AFTER:
                    log.error("voicemail %d: Asterisk no longer has its audio (%s): marked lost", message_id, exc)
                    await self.messages.audio_lost(message_id, f"Asterisk no longer has the audio: {exc}")
                    return "lost"
                await self._failed(message_id, f"audio not found on Asterisk: {exc}")
                return "pending"
            except (AriError, AriUnavailable, OSError) as exc:
                await self._failed(message_id, f"audio still on Asterisk: {exc}")
                return "pending"
            await self.messages.set_recording(message_id, kept.recording_id, kept.duration_s, kept.speech_s, kept.empty)
            message = await self.messages.view(message_id)
            if kept.empty and self.on_nothing_said is not None:
                await self.on_nothing_said(message.ticket_id)
        if message.transcript_status != "pending" or message.audio is None:
            return message.transcript_status
        if not self.transcriber.configured:
            return "pending"  # kept, heard in the console; transcribed once a model is configured
        loop = asyncio.get_running_loop()
        try:
            transcript = await loop.run_in_executor(
                self.transcriber.pool, self.transcriber.transcribe, Path(message.audio)
            )
        except TranscriptionError as exc:
            await self._failed(message_id, str(exc))
            return "pending"
        at = self.clock.now()
        await self.messages.transcribed(message_id, transcript.text, transcript.words, at)
        log.info("voicemail %d transcribed: %d words", message_id, len(transcript.words))
        return "done"

    async def _failed(self, message_id: int, error: str) -> None:
        log.warning("voicemail %d: %s (will retry)", message_id, error)
        await self.messages.transcription_failed(message_id, error)

    async def retry_pending(self) -> int:
        """Called by the scheduler: every message still waiting for audio or a transcript (only
        for audio while no model is configured: the soak's line, without one, logged and wrote a
        failed attempt for each of a hundred messages every minute)."""
        ids = await self.messages.pending_ids(transcripts=self.transcriber.configured)
        done = 0
        for message_id in ids:
            if await self.process(message_id) == "done":
                done += 1
        return done


def set_web_path(session: Session, *, recording_id: int, web_path: str) -> None:
    row = session.get(Recording, recording_id)
    if row is not None:
        row.web_path = web_path
