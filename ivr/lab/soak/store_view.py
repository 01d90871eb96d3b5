"""The ticket store as the checker sees it: every row it judges, read with its own SQL on the
models' tables, never through the engine's repositories or services (the code under check).

Read once, in one transaction, after the run has drained: the checks then work on plain objects
and cannot disagree with each other about what the store said.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from sqlalchemy import create_engine, select
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session

from ivr.schema.callbacks import MissedCall, QueuedCallback
from ivr.schema.console import AuditEntry
from ivr.schema.presence import OperatorStateChange
from ivr.schema.reviews import QualityReview
from ivr.schema.tickets import (
    CallbackAttempt,
    DailyAdmissions,
    Recording,
    SurveyAnswer,
    Ticket,
    TicketEvent,
    Voicemail,
    WebRequest,
)

DIAL_ACTIONS = ("dial_out", "dial_refused")
LISTEN_ACTIONS = ("recording_listen", "voicemail_listen", "voicemail_download")
FILING_ACTIONS = ("ticket_outcome", "ticket_referral")  # how the audit names an outcome filed
SUPERVISION_ACTIONS = ("supervision_started", "supervision_mode", "supervision_ended")  # ivr.supervision


@dataclass
class StoreView:
    tickets: dict[int, Ticket] = field(default_factory=dict)
    events: dict[int, list[TicketEvent]] = field(default_factory=lambda: defaultdict(list))
    voicemails: list[Voicemail] = field(default_factory=list)
    recordings: dict[int, Recording] = field(default_factory=dict)
    survey: list[SurveyAnswer] = field(default_factory=list)
    queued_callbacks: list[QueuedCallback] = field(default_factory=list)
    attempts: list[CallbackAttempt] = field(default_factory=list)
    admissions: dict[date, int] = field(default_factory=dict)
    dials: list[AuditEntry] = field(default_factory=list)
    listens: list[AuditEntry] = field(default_factory=list)  # the access audit of recordings and messages
    filings: list[AuditEntry] = field(default_factory=list)  # the audit of outcomes filed
    supervision: list[AuditEntry] = field(default_factory=list)  # supervisors' sessions on live calls
    missed: list[MissedCall] = field(default_factory=list)  # the missed-calls work list
    web_requests: list[WebRequest] = field(default_factory=list)  # what each citizen's form filed
    operator_states: list[OperatorStateChange] = field(default_factory=list)  # operator time, in order
    reviews: list[QualityReview] = field(default_factory=list)  # quality reviews of recordings

    def kinds(self, ticket_id: int) -> set[str]:
        return {e.kind for e in self.events.get(ticket_id, [])}

    def events_of(self, ticket_id: int, kind: str) -> list[TicketEvent]:
        return [e for e in self.events.get(ticket_id, []) if e.kind == kind]


def _engine(url: str) -> Any:
    parsed = make_url(url)
    if parsed.get_backend_name() == "postgresql" and parsed.drivername == "postgresql":
        parsed = parsed.set(drivername="postgresql+psycopg")
    return create_engine(parsed)


def read_store(url: str) -> StoreView:
    engine = _engine(url)
    view = StoreView()
    try:
        with Session(engine) as s, s.begin():  # one snapshot (PostgreSQL: one transaction)
            view.tickets = {t.id: t for t in s.scalars(select(Ticket).order_by(Ticket.id))}
            for e in s.scalars(select(TicketEvent).order_by(TicketEvent.at, TicketEvent.id)):  # the timeline
                view.events[e.ticket_id].append(e)
            view.voicemails = list(s.scalars(select(Voicemail).order_by(Voicemail.id)))
            view.recordings = {r.id: r for r in s.scalars(select(Recording))}
            view.survey = list(s.scalars(select(SurveyAnswer).order_by(SurveyAnswer.id)))
            view.queued_callbacks = list(s.scalars(select(QueuedCallback).order_by(QueuedCallback.id)))
            view.attempts = list(s.scalars(select(CallbackAttempt).order_by(CallbackAttempt.id)))
            view.admissions = {r.day: r.admitted for r in s.scalars(select(DailyAdmissions))}
            view.dials = list(s.scalars(select(AuditEntry).where(AuditEntry.action.in_(DIAL_ACTIONS))))
            view.missed = list(s.scalars(select(MissedCall).order_by(MissedCall.id)))
            view.web_requests = list(s.scalars(select(WebRequest).order_by(WebRequest.id)))
            states = select(OperatorStateChange).order_by(OperatorStateChange.at, OperatorStateChange.id)
            view.operator_states = list(s.scalars(states))
            view.listens = list(s.scalars(select(AuditEntry).where(AuditEntry.action.in_(LISTEN_ACTIONS))))
            view.reviews = list(s.scalars(select(QualityReview).order_by(QualityReview.id)))
            view.filings = list(s.scalars(select(AuditEntry).where(AuditEntry.action.in_(FILING_ACTIONS))))
            sessions = select(AuditEntry).where(AuditEntry.action.in_(SUPERVISION_ACTIONS)).order_by(AuditEntry.id)
            view.supervision = list(s.scalars(sessions))
            s.expunge_all()  # plain objects from here on: nothing is loaded lazily after the session
    finally:
        engine.dispose()
    return view
