"""What each kind of personal data is, how to find what is past its period, and how to remove it.

Every kind removes personal data and nothing else: a ticket's topic, local day, queue result,
timings, commitment and survey status are what the statistics are made of, and they stay.
Selections are idempotent (what was purged no longer matches), so a second purge finds nothing,
and every one of them skips the tickets under a legal hold.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Select,
    String,
    Text,
    and_,
    cast,
    delete,
    exists,
    func,
    null,
    or_,
    select,
    update,
)
from sqlalchemy.orm import InstrumentedAttribute, Session

from ivr.privacy.holds import held_tickets
from ivr.schema.callbacks import MissedCall, QueuedCallback
from ivr.schema.console import AuditEntry, ConsoleSession
from ivr.schema.presence import OperatorStateChange
from ivr.schema.privacy import SurveyCount
from ivr.schema.referrals import Referral
from ivr.schema.reviews import QualityReview
from ivr.schema.tickets import CallbackAttempt, Recording, SurveyAnswer, Ticket, TicketEvent, Voicemail, WebRequest
from ivr.tickets.events import EventKind

# Timeline events whose detail is what the caller typed (a callback number tried digit by digit).
PERSONAL_EVENTS = (EventKind.CALLBACK_NUMBER_INVALID,)
AUDIO_GONE = "audio deleted by the retention policy before it was transcribed"


@dataclass
class Applied:
    """What one batch removed: items of the kind, the tickets they belong to, files to delete."""

    items: int = 0
    tickets: set[int] = field(default_factory=set)
    files: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Kind:
    name: str
    due: Callable[[datetime], Select[int]]  # ids past the cut-off, held tickets excluded
    apply: Callable[[Session, list[int]], Applied]
    files: Callable[[Session, list[int]], list[str]]  # what `apply` would queue (dry run)


def _not_held(column: InstrumentedAttribute[int]) -> ColumnElement[bool]:
    return column.not_in(held_tickets())


def _json_present(column: InstrumentedAttribute[Any]) -> ColumnElement[bool]:
    """A JSON column given None by the ORM holds the JSON text 'null', which is not SQL NULL."""
    return and_(column.is_not(None), cast(column, Text) != "null")


# --- call recordings: files and rows ---------------------------------------------------------


def _recordings_due(cut: datetime) -> Select[int]:
    return select(Recording.id).where(
        Recording.kind == "call", Recording.created_at < cut, _not_held(Recording.ticket_id)
    )


def _recording_files(session: Session, ids: list[int]) -> list[str]:
    rows = session.execute(select(Recording.path, Recording.web_path).where(Recording.id.in_(ids)))
    return [p for row in rows for p in row if p]


def _recordings_apply(session: Session, ids: list[int]) -> Applied:
    files = _recording_files(session, ids)
    tickets = set(session.scalars(select(Recording.ticket_id).where(Recording.id.in_(ids))))
    session.execute(update(Voicemail).where(Voicemail.recording_id.in_(ids)).values(recording_id=None))
    # A recording's quality reviews go with it (the database's cascade says so too; said here for
    # a SQLite opened without its foreign keys).
    session.execute(delete(QualityReview).where(QualityReview.recording_id.in_(ids)))
    session.execute(delete(Recording).where(Recording.id.in_(ids)))
    return Applied(len(ids), tickets, files)


# --- voicemail audio: the files go, the message row stays ------------------------------------


def _voicemail_audio_due(cut: datetime) -> Select[int]:
    # The row is kept with an empty path: a message whose recording row vanished would look
    # "not yet fetched from Asterisk" to the voicemail service, which would try again forever.
    return select(Recording.id).where(
        Recording.kind == "voicemail",
        Recording.created_at < cut,
        Recording.path != "",
        _not_held(Recording.ticket_id),
    )


def _voicemail_audio_apply(session: Session, ids: list[int]) -> Applied:
    files = _recording_files(session, ids)
    tickets = set(session.scalars(select(Recording.ticket_id).where(Recording.id.in_(ids))))
    session.execute(update(Recording).where(Recording.id.in_(ids)).values(path="", web_path=None, bytes=0, sha256=""))
    session.execute(
        update(Voicemail)
        .where(Voicemail.recording_id.in_(ids), Voicemail.transcript_status == "pending")
        .values(transcript_status="failed", transcript_error=AUDIO_GONE)
    )
    return Applied(len(ids), tickets, files)


# --- transcripts -----------------------------------------------------------------------------


def _transcripts_due(cut: datetime) -> Select[int]:
    return select(Voicemail.id).where(
        Voicemail.created_at < cut,
        or_(Voicemail.transcript.is_not(None), _json_present(Voicemail.transcript_words)),
        _not_held(Voicemail.ticket_id),
    )


def _transcripts_apply(session: Session, ids: list[int]) -> Applied:
    tickets = set(session.scalars(select(Voicemail.ticket_id).where(Voicemail.id.in_(ids))))
    session.execute(update(Voicemail).where(Voicemail.id.in_(ids)).values(transcript=None, transcript_words=null()))
    return Applied(len(ids), tickets)


# --- caller data: who called or wrote, and the free text around them ------------------------


def _web_identity_left() -> ColumnElement[bool]:
    w = WebRequest
    return or_(
        w.name != "", w.email != "", w.subject != "", w.message != "", w.phone.is_not(None), w.reply.is_not(None)
    )


def _caller_data_due(cut: datetime) -> Select[int]:
    tid = Ticket.id
    return select(Ticket.id).where(
        Ticket.started_at < cut,
        _not_held(Ticket.id),
        or_(
            Ticket.caller_number.is_not(None),
            Ticket.caller_name.is_not(None),
            Ticket.resolution_note.is_not(None),
            Ticket.contact_name.is_not(None),
            Ticket.contact_email.is_not(None),
            Ticket.contact_phone.is_not(None),
            exists().where(Voicemail.ticket_id == tid, Voicemail.callback_number.is_not(None)),
            exists().where(WebRequest.ticket_id == tid, _web_identity_left()),
            exists().where(TicketEvent.ticket_id == tid, TicketEvent.note.is_not(None)),
            exists().where(
                TicketEvent.ticket_id == tid, TicketEvent.kind.in_(PERSONAL_EVENTS), _json_present(TicketEvent.detail)
            ),
            exists().where(CallbackAttempt.ticket_id == tid, CallbackAttempt.note.is_not(None)),
            exists().where(QueuedCallback.ticket_id == tid, QueuedCallback.number.is_not(None)),
            exists().where(MissedCall.ticket_id == tid, MissedCall.number.is_not(None)),
            exists().where(
                Referral.ticket_id == tid, or_(Referral.emailed_to.is_not(None), Referral.note.is_not(None))
            ),
        ),
    )


def _caller_data_apply(session: Session, ids: list[int]) -> Applied:
    session.execute(
        update(Ticket)
        .where(Ticket.id.in_(ids))
        .values(
            caller_number=None,
            caller_name=None,
            resolution_note=None,
            contact_name=None,
            contact_email=None,
            contact_phone=None,
        )
    )
    session.execute(update(Voicemail).where(Voicemail.ticket_id.in_(ids)).values(callback_number=None))
    session.execute(
        update(WebRequest)
        .where(WebRequest.ticket_id.in_(ids))
        .values(name="", email="", subject="", message="", phone=None, reply=None)
    )
    session.execute(update(TicketEvent).where(TicketEvent.ticket_id.in_(ids)).values(note=None))
    session.execute(
        update(TicketEvent)
        .where(TicketEvent.ticket_id.in_(ids), TicketEvent.kind.in_(PERSONAL_EVENTS))
        .values(detail=null())
    )
    session.execute(update(CallbackAttempt).where(CallbackAttempt.ticket_id.in_(ids)).values(note=None))
    # The numbers of the queued callbacks and of the missed-calls work list: the rows stay for statistics.
    session.execute(update(QueuedCallback).where(QueuedCallback.ticket_id.in_(ids)).values(number=None))
    session.execute(update(MissedCall).where(MissedCall.ticket_id.in_(ids)).values(number=None))
    # The address typed for a referral's e-mail, and the call's note on it: the office stays.
    session.execute(update(Referral).where(Referral.ticket_id.in_(ids)).values(emailed_to=None, note=None))
    return Applied(len(ids), set(ids))


# --- survey answers: folded into anonymous counts --------------------------------------------


def _survey_due(cut: datetime) -> Select[int]:
    return select(SurveyAnswer.id).where(SurveyAnswer.at < cut, _not_held(SurveyAnswer.ticket_id))


CountKey = tuple[date | None, str | None, int | None, str, int]


def _survey_apply(session: Session, ids: list[int]) -> Applied:
    rows = session.execute(
        select(SurveyAnswer, Ticket.local_day, Ticket.topic)
        .join(Ticket, Ticket.id == SurveyAnswer.ticket_id)
        .where(SurveyAnswer.id.in_(ids))
    ).all()
    counts: Counter[CountKey] = Counter()
    tickets: set[int] = set()
    for answer, day, topic in rows:
        counts[(day, topic, answer.operator_id, answer.question, answer.answer)] += 1
        tickets.add(answer.ticket_id)
    for key, n in counts.items():
        _add_count(session, key, n)
    session.execute(delete(SurveyAnswer).where(SurveyAnswer.id.in_(ids)))
    # The timeline repeats each answer: keep that a question was answered, not what was said.
    for event in session.scalars(
        select(TicketEvent).where(TicketEvent.ticket_id.in_(tickets), TicketEvent.kind == EventKind.SURVEY_ANSWER)
    ):
        if isinstance(event.detail, dict) and "answer" in event.detail:
            event.detail = {k: v for k, v in event.detail.items() if k != "answer"}
    return Applied(len(rows), tickets)


def _add_count(session: Session, key: CountKey, n: int) -> None:
    day, topic, operator_id, question, answer = key
    c = SurveyCount
    where = [
        c.local_day.is_(None) if day is None else c.local_day == day,
        c.topic.is_(None) if topic is None else c.topic == topic,
        c.operator_id.is_(None) if operator_id is None else c.operator_id == operator_id,
        c.question == question,
        c.answer == answer,
    ]
    row = session.scalar(select(c).where(*where).limit(1))
    if row is None:
        session.add(
            SurveyCount(local_day=day, topic=topic, operator_id=operator_id, question=question, answer=answer, count=n)
        )
    else:
        row.count += n


def _no_files(session: Session, ids: list[int]) -> list[str]:
    return []


# --- console sessions and the access audit ---------------------------------------------------


def _sessions_due(cut: datetime) -> Select[int]:
    # Last use, not login: a session in use is never cut (the console ends it long before).
    return select(ConsoleSession.id).where(ConsoleSession.last_seen_at < cut)


def _sessions_apply(session: Session, ids: list[int]) -> Applied:
    session.execute(delete(ConsoleSession).where(ConsoleSession.id.in_(ids)))
    return Applied(len(ids))


def _operator_time_due(cut: datetime) -> Select[int]:
    return select(OperatorStateChange.id).where(OperatorStateChange.at < cut)


def _operator_time_apply(session: Session, ids: list[int]) -> Applied:
    session.execute(delete(OperatorStateChange).where(OperatorStateChange.id.in_(ids)))
    return Applied(len(ids))


def _audit_due(cut: datetime) -> Select[int]:
    # What was done to a ticket under a legal hold is part of what the hold keeps.
    held = select(cast(held_tickets().subquery().c.ticket_id, String))
    a = AuditEntry
    return select(a.id).where(
        a.at < cut, or_(a.object_kind.is_(None), a.object_kind != "ticket", a.object_id.not_in(held))
    )


def _audit_apply(session: Session, ids: list[int]) -> Applied:
    session.execute(delete(AuditEntry).where(AuditEntry.id.in_(ids)))
    return Applied(len(ids))


KINDS: tuple[Kind, ...] = (
    Kind("recordings", _recordings_due, _recordings_apply, _recording_files),
    Kind("voicemail_audio", _voicemail_audio_due, _voicemail_audio_apply, _recording_files),
    Kind("transcripts", _transcripts_due, _transcripts_apply, _no_files),
    Kind("caller_data", _caller_data_due, _caller_data_apply, _no_files),
    Kind("survey_answers", _survey_due, _survey_apply, _no_files),
    Kind("sessions", _sessions_due, _sessions_apply, _no_files),
    Kind("operator_time", _operator_time_due, _operator_time_apply, _no_files),
    Kind("audit", _audit_due, _audit_apply, _no_files),
)
KIND_NAMES = tuple(k.name for k in KINDS)


def count(session: Session, query: Select[int]) -> int:
    return int(session.scalar(select(func.count()).select_from(query.subquery())) or 0)
