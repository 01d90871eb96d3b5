"""The retry job reaches every message whose audio is still only on Asterisk, however many
transcriptions keep failing.

The medium soak's second run: 8 messages left during the Asterisk restart were saved without
audio (Asterisk answered 503 while it booted; its copy stayed there, as it should) and never
fetched afterwards: the job takes 100 pending messages a minute in id order, the soak's engines
have no transcription model, so the first 100 messages, their transcripts failing every time,
were the only ones ever retried (ids up to 158; the 8 were 211-218)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy.orm import Session, sessionmaker

from ivr.schema.tickets import Recording, Ticket
from ivr.tickets.db import make_engine, upgrade
from ivr.voicemail import messages

AT = datetime(2026, 2, 10, 19, tzinfo=UTC)


def _message(session: Session, n: int, *, audio: bool) -> int:
    ticket = Ticket(channel="phone", started_at=AT, open=False, caller_number="3331234567")
    session.add(ticket)
    session.flush()
    recording_id = None
    if audio:
        row = Recording(ticket_id=ticket.id, kind="voicemail", path=f"/vm/{n}.wav", sha256="0" * 64, bytes=1,
                        duration_s=5.0, created_at=AT)  # fmt: skip
        session.add(row)
        session.flush()
        recording_id = row.id
    return messages.new_message(session, ticket_id=ticket.id, box="citizens", reason="closed",
                                asterisk_name=f"vm-{n}", recording_id=recording_id, duration_s=5.0, speech_s=4.0,
                                empty=False, ended_by="key", at=AT + timedelta(seconds=n))  # fmt: skip


def test_a_message_without_audio_is_retried_before_a_hundred_failing_transcripts() -> None:
    engine = make_engine("sqlite://")
    upgrade(engine)
    sessions = sessionmaker(engine, expire_on_commit=False)
    with sessions.begin() as s:
        failing = [_message(s, n, audio=True) for n in range(120)]  # transcripts pending, failing each time
        for mid in failing:
            for _ in range(3):
                messages.transcription_failed(s, mid, "no model configured")
        without_audio = _message(s, 500, audio=False)  # the audio still on Asterisk only
        newer = _message(s, 501, audio=True)  # a transcript not tried yet
    with sessions() as s:
        picked = messages.pending_ids(s)
    assert without_audio in picked, "a message whose audio is only on Asterisk was left out"
    assert picked[0] == without_audio, "the audio comes first: a failure keeps the audio"
    assert newer in picked, "a transcript not tried yet waits behind ones that fail every time"
    assert len(picked) == 100


def test_without_a_model_only_audio_is_fetched_and_no_transcript_is_tried() -> None:
    """The soak's line has no transcription model: every minute the job tried a hundred messages'
    transcripts, each a warning and a failed attempt written, for ever."""
    engine = make_engine("sqlite://")
    upgrade(engine)
    sessions = sessionmaker(engine, expire_on_commit=False)
    with sessions.begin() as s:
        kept = [_message(s, n, audio=True) for n in range(5)]
        waiting = [_message(s, n, audio=False) for n in range(5, 8)]
    with sessions() as s:
        assert messages.pending_ids(s, transcripts=False) == waiting
        assert set(messages.pending_ids(s)) == set(kept + waiting)
