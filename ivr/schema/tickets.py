"""SQLAlchemy models of the ticket store.

One row per contact (a phone call or a web request) in `tickets`, its timeline in
`ticket_events`. Statistics read these with SQL aggregates, so the columns they group and filter
on are real columns, not JSON.
"""

from __future__ import annotations

import enum
from datetime import date, datetime
from typing import Any

from sqlalchemy import JSON, Date, Float, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ivr.schema.base import Base, UtcDateTime


class Channel(enum.StrEnum):
    PHONE = "phone"
    WEB = "web"


class CallOutcome(enum.StrEnum):
    """How a call ended, from the citizen's point of view."""

    COMPLETED = "completed"  # the flow reached its end and hung up itself
    CALLER_HANGUP = "caller_hangup"  # the caller left before the flow ended
    FAILED = "failed"  # the engine or Asterisk failed; the call was lost
    STUB = "stub"  # reached a destination that is not built yet (visible, never silent)
    VOICEMAIL = "voicemail"  # the caller left a message (however the call then ended)


class Ticket(Base):
    __tablename__ = "tickets"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    channel: Mapped[str] = mapped_column(String(8), default=Channel.PHONE)
    call_uid: Mapped[str | None] = mapped_column(String(64), unique=True)
    did: Mapped[str | None] = mapped_column(String(32))
    caller_number: Mapped[str | None] = mapped_column(String(64))
    caller_name: Mapped[str | None] = mapped_column(String(128))
    started_at: Mapped[datetime] = mapped_column(UtcDateTime)
    answered_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    ended_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    open: Mapped[bool] = mapped_column(default=True)
    last_state: Mapped[str | None] = mapped_column(String(32))
    outcome: Mapped[str | None] = mapped_column(String(24))
    end_reason: Mapped[str | None] = mapped_column(String(64))
    destination: Mapped[str | None] = mapped_column(String(64))
    topic: Mapped[str | None] = mapped_column(String(32))
    line_state: Mapped[str | None] = mapped_column(String(16))  # open, outside_hours, holiday, closure
    closure_id: Mapped[str | None] = mapped_column(String(64))
    campaign: Mapped[str | None] = mapped_column(String(64))
    consent: Mapped[str | None] = mapped_column(String(12))  # accepted, refused, no_answer
    consent_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    consent_prompt: Mapped[str | None] = mapped_column(String(128))  # name@version#audio-hash
    # The queue: why the call did or did not reach an operator, and who took it.
    queue_result: Mapped[str | None] = mapped_column(String(16))  # answered, cap, no_operators, max_wait...
    queued_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    operator_id: Mapped[int | None] = mapped_column(ForeignKey("operators.id"))
    operator_answered_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    operator_ended_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    # The request's handling: first level resolved, or second level with a callback due.
    level: Mapped[int] = mapped_column(default=1)
    status: Mapped[str | None] = mapped_column(String(16))  # resolved, new, assigned, called_back, closed
    resolution_note: Mapped[str | None] = mapped_column(Text)
    callback_due: Mapped[datetime | None] = mapped_column(UtcDateTime)
    assigned_to: Mapped[str | None] = mapped_column(String(32))  # operator login of the callback
    # Calendar keys in the service's time zone, written with the ticket, so statistics group by
    # the Rome day, week and month with plain SQL on SQLite and PostgreSQL alike.
    local_day: Mapped[date | None] = mapped_column(Date)
    local_week: Mapped[date | None] = mapped_column(Date)  # the Monday of that week
    local_month: Mapped[date | None] = mapped_column(Date)  # the first of that month
    # Durations kept as numbers at close, so averages are SQL aggregates, not date arithmetic
    # that differs per backend.
    wait_s: Mapped[float | None] = mapped_column(Float)  # in the queue: until an operator, or until leaving it
    handle_s: Mapped[float | None] = mapped_column(Float)  # talking with the operator
    survey_status: Mapped[str | None] = mapped_column(String(16))  # completed, partial, not_answered
    # Service commitment: `callback_due` is when the citizen must have had an answer (the phone
    # callback at the second level, or the reply to a web request); `sla_met_at` when they had it.
    sla_kind: Mapped[str | None] = mapped_column(String(16))  # phone_callback, web_reply, web_second
    sla_met_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    sla_flag: Mapped[str | None] = mapped_column(String(8))  # near, overdue (set by the SLA job)
    kb_article_id: Mapped[int | None] = mapped_column(Integer)  # the knowledge-base article it was answered with
    call_reason: Mapped[str | None] = mapped_column(String(40))  # why the citizen called (`reasons.options`)
    # The second level. A web request escalated keeps its first-level commitment here (48 hours,
    # met by the escalation notice) while `callback_due` becomes the 10-day one. The contact is
    # what the charter asks of citizens whose request needs further work: caller data, purged
    # with the rest of it (ivr.privacy.kinds).
    escalated_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    first_due: Mapped[datetime | None] = mapped_column(UtcDateTime)
    first_met_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    contact_name: Mapped[str | None] = mapped_column(String(128))
    contact_email: Mapped[str | None] = mapped_column(String(254))
    contact_phone: Mapped[str | None] = mapped_column(String(32))
    answer_by: Mapped[str | None] = mapped_column(String(8))  # phone, email
    language: Mapped[str | None] = mapped_column(String(8))  # the call's language when not the default

    events: Mapped[list[TicketEvent]] = relationship(
        back_populates="ticket", order_by="TicketEvent.id", cascade="all, delete-orphan"
    )

    __table_args__ = (
        Index("ix_tickets_started_at", "started_at"),
        Index("ix_tickets_open", "open"),
        Index("ix_tickets_caller_number", "caller_number"),
        Index("ix_tickets_operator_id", "operator_id"),
        Index("ix_tickets_local_day", "local_day"),
        Index("ix_tickets_sla", "sla_kind", "callback_due"),
        Index("ix_tickets_kb_article_id", "kb_article_id"),
    )


class TicketEvent(Base):
    __tablename__ = "ticket_events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id", ondelete="CASCADE"), index=True)
    at: Mapped[datetime] = mapped_column(UtcDateTime)
    kind: Mapped[str] = mapped_column(String(48))
    detail: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    note: Mapped[str | None] = mapped_column(Text)

    ticket: Mapped[Ticket] = relationship(back_populates="events")


class ClosureRow(Base):
    """A closure set at run time by an administrator (CLI or console), e.g. "closed now"."""

    __tablename__ = "closures"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    starts_at: Mapped[datetime] = mapped_column(UtcDateTime)
    ends_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    reason: Mapped[str] = mapped_column(String(200))
    message: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    created_by: Mapped[str | None] = mapped_column(String(64))

    __table_args__ = (Index("ix_closures_span", "starts_at", "ends_at"),)


class ServiceNoticeRow(Base):
    """A notice a supervisor set from the console, said to every caller after the welcome until
    `ends_at` ("il portale è fuori servizio, riprovi domani"); `ended_by` when lifted early."""

    __tablename__ = "service_notices"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    text: Mapped[str] = mapped_column(Text)
    starts_at: Mapped[datetime] = mapped_column(UtcDateTime)
    ends_at: Mapped[datetime] = mapped_column(UtcDateTime)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    created_by: Mapped[str | None] = mapped_column(String(64))
    ended_by: Mapped[str | None] = mapped_column(String(64))

    __table_args__ = (Index("ix_service_notices_span", "starts_at", "ends_at"),)


class Operator(Base):
    """A person who takes calls, from the office or from home."""

    __tablename__ = "operators"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    login: Mapped[str] = mapped_column(String(32), unique=True)
    name: Mapped[str] = mapped_column(String(128))
    sip_md5: Mapped[str | None] = mapped_column(String(32))  # md5(user:realm:password); no softphone if null
    outside_number: Mapped[str | None] = mapped_column(String(32))  # home phone through the carrier
    skills: Mapped[list[str]] = mapped_column(JSON, default=list)  # topics; empty = every topic
    active: Mapped[bool] = mapped_column(default=True)
    presence: Mapped[str] = mapped_column(String(16), default="logged_out")  # logged_out, available, paused
    pause_reason: Mapped[str | None] = mapped_column(String(64))
    presence_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)

    @property
    def sip_user(self) -> str:
        return f"op-{self.login}"


class DailyAdmissions(Base):
    """Calls admitted to the operator queue per local calendar day (the charter's 400 a day)."""

    __tablename__ = "daily_admissions"

    day: Mapped[date] = mapped_column(Date, primary_key=True)
    admitted: Mapped[int] = mapped_column(default=0)


class Recording(Base):
    """An audio file kept for a ticket: a call recorded in a quality campaign, or a voicemail."""

    __tablename__ = "recordings"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(16))  # call, voicemail
    path: Mapped[str] = mapped_column(String(512))
    sha256: Mapped[str] = mapped_column(String(64))
    bytes: Mapped[int] = mapped_column()
    duration_s: Mapped[float] = mapped_column(Float)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    web_path: Mapped[str | None] = mapped_column(String(512))  # a compressed copy browsers play


class Voicemail(Base):
    """A message left by a caller: audio, callback number, transcript; its ticket carries the
    callback workflow (second level, due date, status)."""

    __tablename__ = "voicemails"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id", ondelete="CASCADE"), unique=True)
    box: Mapped[str] = mapped_column(String(32))  # topic from the menu, or "general"
    reason: Mapped[str] = mapped_column(String(16))  # closed, cap, busy, caller_choice, no_operators, max_wait
    asterisk_name: Mapped[str] = mapped_column(String(96))  # Asterisk's copy until ours is safe
    recording_id: Mapped[int | None] = mapped_column(ForeignKey("recordings.id"))
    duration_s: Mapped[float] = mapped_column(Float, default=0.0)
    speech_s: Mapped[float] = mapped_column(Float, default=0.0)
    empty: Mapped[bool] = mapped_column(default=False)
    ended_by: Mapped[str | None] = mapped_column(String(16))  # key, silence, max_duration, hangup
    callback_number: Mapped[str | None] = mapped_column(String(32))
    callback_source: Mapped[str] = mapped_column(String(24), default="none")  # confirmed, typed, caller_id, none
    transcript_status: Mapped[str] = mapped_column(String(12), default="pending")  # pending, done, empty, failed
    transcript: Mapped[str | None] = mapped_column(Text)
    transcript_words: Mapped[list[dict[str, Any]] | None] = mapped_column(JSON)
    transcript_error: Mapped[str | None] = mapped_column(Text)
    transcript_attempts: Mapped[int] = mapped_column(default=0)
    transcribed_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)

    __table_args__ = (Index("ix_voicemails_box", "box"), Index("ix_voicemails_transcript_status", "transcript_status"))


class CallbackAttempt(Base):
    """One try at calling a citizen back (a voicemail or an escalated request)."""

    __tablename__ = "callback_attempts"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id", ondelete="CASCADE"), index=True)
    at: Mapped[datetime] = mapped_column(UtcDateTime)
    operator: Mapped[str | None] = mapped_column(String(32))
    result: Mapped[str] = mapped_column(String(16))  # answered, no_answer
    note: Mapped[str | None] = mapped_column(Text)


class SurveyAnswer(Base):
    """One answer of the post-call questionnaire, linked to the call and the operator who took it."""

    __tablename__ = "survey_answers"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id", ondelete="CASCADE"), index=True)
    operator_id: Mapped[int | None] = mapped_column(ForeignKey("operators.id"), index=True)
    question: Mapped[str] = mapped_column(String(32))
    answer: Mapped[int] = mapped_column(Integer)
    at: Mapped[datetime] = mapped_column(UtcDateTime)


class WebRequest(Base):
    """A request sent with the web form or the JSON API (the charter's second channel); its
    ticket (channel web) carries the handling and the 48-hour commitment."""

    __tablename__ = "web_requests"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id", ondelete="CASCADE"), unique=True)
    name: Mapped[str] = mapped_column(String(128))
    email: Mapped[str] = mapped_column(String(254))
    phone: Mapped[str | None] = mapped_column(String(32))
    subject: Mapped[str] = mapped_column(String(200))
    message: Mapped[str] = mapped_column(Text)
    received_at: Mapped[datetime] = mapped_column(UtcDateTime)
    reply: Mapped[str | None] = mapped_column(Text)
    replied_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    replied_by: Mapped[str | None] = mapped_column(String(32))
    # The one-time token of the form it came with (ivr.webrequests.form): the same form sent
    # again, by a citizen or a browser whose answer was lost, finds this request instead of
    # filing a second one. Unique, so no path can store it twice; none for API requests without.
    form_token: Mapped[str | None] = mapped_column(String(64), unique=True)


class StoreBatch(Base):
    """One committed batch of writes, by token: the outbox's replay skips a batch found here
    (its commit went through although the connection died before saying so)."""

    __tablename__ = "store_batches"

    token: Mapped[str] = mapped_column(String(32), primary_key=True)
    at: Mapped[datetime] = mapped_column(UtcDateTime, index=True)


class EngineLease(Base):
    """Which engine drives the line: one row per line, its holder and fencing token (ivr.ha.lease).
    The token only grows: a write carrying an older token is from an engine that lost the lease."""

    __tablename__ = "engine_leases"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    token: Mapped[int] = mapped_column(Integer, default=0)
    holder: Mapped[str | None] = mapped_column(String(200))
    since: Mapped[datetime | None] = mapped_column(UtcDateTime)
    expires_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
