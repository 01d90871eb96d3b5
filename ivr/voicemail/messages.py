"""Voicemail messages in the store: created with their ticket, transcribed later, worked on by
supervisors (boxes, assignment, callback attempts)."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from ivr.schema.callbacks import MissedCall
from ivr.schema.tickets import CallbackAttempt, Recording, Ticket, TicketEvent, Voicemail
from ivr.tickets import events, sla
from ivr.tickets.events import EventKind
from ivr.tickets.repository import Repository
from ivr.tickets.status import TicketStatus, escalate

log = logging.getLogger(__name__)

S = TicketStatus
STATUSES = tuple(s.value for s in (S.NEW, S.ASSIGNED, S.CALLED_BACK, S.CLOSED))  # plain strings for argparse


class MessageError(ValueError):
    pass


@dataclass(frozen=True)
class MessageView:
    id: int
    ticket_id: int
    box: str
    reason: str
    created_at: datetime
    caller_number: str | None
    callback_number: str | None
    callback_source: str
    duration_s: float
    speech_s: float
    empty: bool
    ended_by: str | None
    status: str | None
    assigned_to: str | None
    callback_due: datetime | None
    transcript_status: str
    transcript: str | None
    transcript_error: str | None
    transcript_attempts: int
    words: list[dict[str, Any]] | None
    audio: str | None
    web_audio: str | None
    asterisk_name: str
    attempts: list[tuple[datetime, str | None, str, str | None]]


def message_of_ticket(session: Session, *, ticket_id: int, **_: Any) -> int | None:
    return session.scalar(select(Voicemail.id).where(Voicemail.ticket_id == ticket_id))


def new_message(
    session: Session,
    *,
    ticket_id: int,
    box: str,
    reason: str,
    asterisk_name: str,
    recording_id: int | None,
    duration_s: float,
    speech_s: float,
    empty: bool,
    ended_by: str | None,
    at: datetime,
) -> int:
    """The message and its ticket's second-level handling, in one transaction. A ticket has one
    message: written again (an earlier run's outbox replayed after another engine took the call
    over and kept the recording it found on the channel) it is the same message, and its id is
    returned. Another recording for the same ticket is not lost: its file stays where it is, and
    the stray-audio sweep names it for a person (ivr.recordings.strays)."""
    existing = session.scalar(select(Voicemail).where(Voicemail.ticket_id == ticket_id))
    if existing is not None:
        if existing.asterisk_name != asterisk_name:
            log.error(
                "ticket %s: a second message %s written for it (it has %s): its audio is kept, not listed",
                ticket_id, asterisk_name, existing.asterisk_name,
            )  # fmt: skip
        return existing.id
    message = Voicemail(
        ticket_id=ticket_id,
        box=box,
        reason=reason,
        asterisk_name=asterisk_name,
        recording_id=recording_id,
        duration_s=duration_s,
        speech_s=speech_s,
        empty=empty,
        ended_by=ended_by,
        transcript_status="empty" if empty else "pending",
        created_at=at,
    )
    session.add(message)
    ticket = session.get(Ticket, ticket_id)
    if ticket is None:
        raise MessageError(f"no ticket #{ticket_id}")
    escalate(ticket)
    session.flush()
    left = events.voicemail_left(message.id, box, duration_s, empty)  # crash recovery reads it back
    session.add(TicketEvent(ticket_id=ticket_id, at=at, kind=left.kind, detail=left.detail))
    return message.id


EMPTY_NOTE = "Chiusa senza richiamata: messaggio vuoto e nessun numero a cui richiamare."


def set_callback(session: Session, message_id: int, number: str | None, source: str) -> None:
    message = _get(session, message_id)
    message.callback_number, message.callback_source = number, source
    if message.empty and number is None:
        _nothing_to_do(session, message)


def _nothing_to_do(session: Session, message: Voicemail) -> None:
    """Nothing said, nobody to call: the ticket is closed with its why."""
    ticket = session.get(Ticket, message.ticket_id)
    if ticket is not None:
        ticket.status = S.CLOSED
        ticket.sla_kind = ticket.sla_flag = None  # nothing to answer: no commitment to keep
        # Said on the ticket: a second-level ticket closed without a callback needs its why
        # (the soak's checker, like a supervisor, found three with none).
        ticket.resolution_note = ticket.resolution_note or EMPTY_NOTE


def set_recording(
    session: Session, message_id: int, recording_id: int, duration_s: float, speech_s: float, empty: bool
) -> None:
    message = _get(session, message_id)
    message.recording_id, message.duration_s, message.speech_s, message.empty = (
        recording_id,
        duration_s,
        speech_s,
        empty,
    )
    if empty:
        message.transcript_status = "empty"
        ticket = session.get(Ticket, message.ticket_id)
        # Found empty after the call (its audio kept late, e.g. past a full disk): the number
        # dialogue is over, so the rule set_callback applies at once applies now.
        if ticket is not None and not ticket.open and message.callback_number is None:
            _nothing_to_do(session, message)


def _get(session: Session, message_id: int) -> Voicemail:
    message = session.get(Voicemail, message_id)
    if message is None:
        raise MessageError(f"no voicemail message #{message_id}")
    return message


def view(session: Session, message_id: int) -> MessageView:
    message = _get(session, message_id)
    ticket = session.get(Ticket, message.ticket_id)
    assert ticket is not None
    recording = session.get(Recording, message.recording_id) if message.recording_id else None
    attempts = [
        (a.at, a.operator, a.result, a.note)
        for a in session.scalars(
            select(CallbackAttempt).where(CallbackAttempt.ticket_id == ticket.id).order_by(CallbackAttempt.id)
        )
    ]
    return MessageView(
        message.id,
        ticket.id,
        message.box,
        message.reason,
        message.created_at,
        ticket.caller_number,
        message.callback_number,
        message.callback_source,
        message.duration_s,
        message.speech_s,
        message.empty,
        message.ended_by,
        ticket.status,
        ticket.assigned_to,
        ticket.callback_due,
        message.transcript_status,
        message.transcript,
        message.transcript_error,
        message.transcript_attempts,
        message.transcript_words,
        recording.path if recording else None,
        recording.web_path if recording else None,
        message.asterisk_name,
        attempts,
    )


def listing(
    session: Session, *, box: str | None = None, status: str | None = None, text: str | None = None, limit: int = 50
) -> list[MessageView]:
    query = select(Voicemail.id).join(Ticket, Ticket.id == Voicemail.ticket_id).order_by(Voicemail.id.desc())
    if box:
        query = query.where(Voicemail.box == box)
    if status:
        query = query.where(Ticket.status == status)
    if text:
        words = [w for w in text.split() if w]
        query = query.where(*(Voicemail.transcript.ilike(f"%{_escape(w)}%", escape="\\") for w in words))
    return [view(session, mid) for mid in session.scalars(query.limit(limit))]


def _escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def boxes(session: Session) -> list[tuple[str, str | None, int]]:
    """(box, ticket status, messages): the supervisor's overview."""
    rows = session.execute(
        select(Voicemail.box, Ticket.status, func.count())
        .join(Ticket, Ticket.id == Voicemail.ticket_id)
        .group_by(Voicemail.box, Ticket.status)
        .order_by(Voicemail.box, Ticket.status)
    )
    return [(box, status, int(count)) for box, status, count in rows]


def pending_ids(session: Session, limit: int = 100, *, transcripts: bool = True) -> list[int]:
    """What the retry job works on next: first the messages whose audio is still only on
    Asterisk (fetching it is what keeps it ours: a failure keeps the audio), then the pending
    transcripts; in each the least tried first. In id order alone, messages failing every time
    (no transcription model, as on the soak's line) filled the job's 100 each minute, and the
    messages saved without audio during an Asterisk restart were never fetched."""
    least_tried = (Voicemail.transcript_attempts, Voicemail.id)
    no_audio = Voicemail.recording_id.is_(None) & ~Voicemail.empty & (Voicemail.transcript_status != "lost")
    first = list(session.scalars(select(Voicemail.id).where(no_audio).order_by(*least_tried).limit(limit)))
    if not transcripts:
        return first
    rest = select(Voicemail.id).where(Voicemail.transcript_status == "pending", ~no_audio)
    return first + list(session.scalars(rest.order_by(*least_tried).limit(limit - len(first))))


# --- the callback workflow (voicemail tickets and escalated ones alike) -----------------------


def assign(session: Session, ticket_id: int, operator: str, at: datetime, by: str | None = None) -> None:
    ticket = _ticket(session, ticket_id)
    if ticket.status in (S.CLOSED, None):
        raise MessageError(f"ticket #{ticket_id} is {ticket.status or 'not waiting for a callback'}")
    ticket.assigned_to, ticket.status = operator, S.ASSIGNED
    session.add(
        TicketEvent(
            ticket_id=ticket_id, at=at, kind=EventKind.CALLBACK_ASSIGNED, detail={"operator": operator, "by": by}
        )
    )


def callback_result(
    session: Session, ticket_id: int, result: str, at: datetime, operator: str | None, note: str | None
) -> int:
    """Record one attempt; answered moves the ticket to called_back. Returns the attempts so far."""
    if result not in ("answered", "no_answer"):
        raise MessageError("result must be answered or no_answer")
    ticket = _ticket(session, ticket_id)
    if ticket.status not in (S.NEW, S.ASSIGNED, S.CALLED_BACK):
        raise MessageError(f"ticket #{ticket_id} is {ticket.status or 'not waiting for a callback'}")
    session.add(CallbackAttempt(ticket_id=ticket_id, at=at, operator=operator, result=result, note=note))
    if result == "answered":
        ticket.status = S.CALLED_BACK
        sla.meet(session, ticket, at)
        missed = session.scalar(
            select(MissedCall).where(MissedCall.ticket_id == ticket_id, MissedCall.done_at.is_(None))
        )
        if missed is not None:  # a missed call given to an operator: reached, so done on the supervisors' list
            missed.done_at, missed.done_by = at, operator or "callback"
    session.add(
        TicketEvent(
            ticket_id=ticket_id,
            at=at,
            kind=EventKind.CALLBACK_ATTEMPT,
            detail={"result": result, "operator": operator},
            note=note,
        )
    )
    session.flush()
    return int(session.scalar(select(func.count()).where(CallbackAttempt.ticket_id == ticket_id)) or 0)


def close(session: Session, ticket_id: int, at: datetime, note: str | None) -> None:
    ticket = _ticket(session, ticket_id)
    ticket.status = S.CLOSED
    if note:
        ticket.resolution_note = note
    session.add(TicketEvent(ticket_id=ticket_id, at=at, kind=EventKind.TICKET_CLOSED, note=note))


def _ticket(session: Session, ticket_id: int) -> Ticket:
    ticket = session.get(Ticket, ticket_id)
    if ticket is None:
        raise MessageError(f"no ticket #{ticket_id}")
    return ticket


def transcribed(session: Session, message_id: int, text: str, words: list[dict[str, object]], at: datetime) -> None:
    row = session.get(Voicemail, message_id)
    if row is not None:
        row.transcript, row.transcript_words = text, words
        row.transcript_status, row.transcribed_at, row.transcript_error = "done", at, None
        row.transcript_attempts += 1


def transcription_failed(session: Session, message_id: int, error: str) -> None:
    row = session.get(Voicemail, message_id)
    if row is not None:
        row.transcript_error = error[:2000]
        row.transcript_attempts += 1


def audio_lost(session: Session, message_id: int, error: str) -> None:
    """No audio will ever come: the message is listed as lost (no longer fetched), not empty."""
    row = session.get(Voicemail, message_id)
    if row is not None and row.recording_id is None:
        row.transcript_status, row.transcript_error = "lost", error[:2000]
        row.transcript_attempts += 1


def ticket_of(session: Session, message_id: int) -> int:
    return _get(session, message_id).ticket_id


class VoicemailMessages(Repository):
    """Voicemail messages on the ticket store's readers and writer: the console's work, the
    `ivr voicemail` commands and the voicemail service's own steps (audio kept, transcripts)."""

    refusals = (MessageError,)

    async def view(self, message_id: int) -> MessageView:
        return await self._read(lambda session: view(session, message_id))

    async def pending_ids(self, *, transcripts: bool = True) -> list[int]:
        return await self._read(lambda session: pending_ids(session, transcripts=transcripts))

    async def set_recording(
        self, message_id: int, recording_id: int, duration: float, speech: float, empty: bool
    ) -> None:
        await self._write(lambda session: set_recording(session, message_id, recording_id, duration, speech, empty))

    async def transcribed(self, message_id: int, text: str, words: list[dict[str, object]], at: datetime) -> None:
        await self._write(lambda session: transcribed(session, message_id, text, words, at))

    async def transcription_failed(self, message_id: int, error: str) -> None:
        await self._write(lambda session: transcription_failed(session, message_id, error))

    async def audio_lost(self, message_id: int, error: str) -> None:
        await self._write(lambda session: audio_lost(session, message_id, error))

    async def ticket_of(self, message_id: int) -> int:
        return await self._read(lambda session: ticket_of(session, message_id))

    async def boxes(self) -> list[tuple[str, str | None, int]]:
        return await self._read(boxes)

    async def listing(
        self, *, box: str | None = None, status: str | None = None, text: str | None = None, limit: int = 50
    ) -> list[MessageView]:
        return await self._read(lambda session: listing(session, box=box, status=status, text=text, limit=limit))

    async def view_with_operator(self, message_id: int) -> tuple[MessageView, int | None]:
        """The message and the operator who took its call (who may see it)."""

        def fn(session: Session) -> tuple[MessageView, int | None]:
            found = view(session, message_id)
            ticket = session.get(Ticket, found.ticket_id)
            return found, ticket.operator_id if ticket else None

        return await self._read(fn)

    async def assign(self, ticket_id: int, operator: str, at: datetime, by: str | None = None) -> None:
        await self._write(lambda session: assign(session, ticket_id, operator, at, by=by))

    async def callback_result(
        self, ticket_id: int, result: str, at: datetime, operator: str | None, note: str | None
    ) -> int:
        return await self._write(lambda session: callback_result(session, ticket_id, result, at, operator, note))

    async def close(self, ticket_id: int, at: datetime, note: str | None) -> None:
        await self._write(lambda session: close(session, ticket_id, at, note))
