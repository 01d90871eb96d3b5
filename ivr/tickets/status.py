"""The values a ticket's columns take, and the second-level rule.

The enums' values are the strings already stored, so rows written before they existed read the
same. Statistics and the console compare columns with these values: a typo becomes an
AttributeError at import, not a silently empty figure.
"""

from __future__ import annotations

import enum
from datetime import timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from ivr.schema.tickets import Ticket, TicketEvent
from ivr.tickets.events import EventKind
from ivr.tickets.sla import PHONE_CALLBACK

CALLBACK_DAYS = 10  # the charter: second-level answer by phone within 10 calendar days


class TicketStatus(enum.StrEnum):
    """Where the request's handling is (`tickets.status`)."""

    RESOLVED = "resolved"  # answered at the first level
    REFERRED = "referred"  # answered at the first level by sending the citizen to the right office
    NEW = "new"  # at the second level, nobody on it yet
    ASSIGNED = "assigned"
    CALLED_BACK = "called_back"  # at least one callback attempt answered
    CLOSED = "closed"


class QueueResult(enum.StrEnum):
    """Why the call did or did not reach an operator (`tickets.queue_result`)."""

    WAITING = "waiting"  # admitted, in the queue now
    ANSWERED = "answered"
    ABANDONED = "abandoned"  # hung up while waiting
    CAP = "cap"  # the daily cap was reached
    NO_OPERATORS = "no_operators"
    MAX_WAIT = "max_wait"
    CALLER_CHOICE = "caller_choice"  # chose to leave a message instead
    CALLBACK = "callback"  # hung up keeping the place: called back when it comes
    CLOSED = "closed"  # an emergency closure sent the caller on to leave a message (ivr.acd.distributor.send_away)

    @property
    def not_served(self) -> bool:
        """A way out of the queue without an operator, that the voicemail greeting names."""
        return self in _NOT_SERVED


_NOT_SERVED = frozenset(
    {QueueResult.CAP, QueueResult.NO_OPERATORS, QueueResult.MAX_WAIT, QueueResult.CALLER_CHOICE, QueueResult.CLOSED}
)


class Consent(enum.StrEnum):
    """The caller's answer to the recording notice (`tickets.consent`)."""

    ACCEPTED = "accepted"
    REFUSED = "refused"
    NO_ANSWER = "no_answer"  # counts as a refusal: nothing is recorded


class SurveyStatus(enum.StrEnum):
    COMPLETED = "completed"
    PARTIAL = "partial"
    NOT_ANSWERED = "not_answered"  # never a score


class VoicemailReason(enum.StrEnum):
    """Why the caller is leaving a message: picks the greeting, ends up in `end_reason`
    (`voicemail:<reason>`) and on the message row."""

    CLOSED = "closed"
    CAP = "cap"
    BUSY = "busy"
    CALLER_CHOICE = "caller_choice"
    NO_OPERATORS = "no_operators"
    MAX_WAIT = "max_wait"
    MENU_DEFAULT = "menu_default"


def not_served_reason(queue_result: str | None) -> VoicemailReason | None:
    """The voicemail reason a queue result stands for, if it is one of the ways out without an
    operator; the ticket column is what a resumed call reads it back from."""
    try:
        result = QueueResult(queue_result or "")
    except ValueError:
        return None
    return VoicemailReason(result.value) if result.not_served else None


# The first-level answers: what a count of first-level resolution counts, and what owes no callback.
FIRST_LEVEL_ANSWERS = frozenset({TicketStatus.RESOLVED, TicketStatus.REFERRED})


def answer_first_level(ticket: Ticket, status: TicketStatus) -> None:
    """Answered during the call (resolved, or referred to the office whose answer it is): first
    level, no commitment left, so the SLA job never flags it."""
    if status not in FIRST_LEVEL_ANSWERS:
        raise ValueError(f"not a first-level answer: {status}")
    ticket.level, ticket.status, ticket.callback_due = 1, status, None
    ticket.sla_kind = ticket.sla_flag = ticket.escalated_at = None


def escalate(ticket: Ticket) -> None:
    """To the second level, with a phone callback due CALLBACK_DAYS calendar days after the call
    (an operator's outcome and a voicemail message alike)."""
    ticket.level, ticket.status = 2, TicketStatus.NEW
    ticket.callback_due = ticket.started_at + timedelta(days=CALLBACK_DAYS)
    ticket.sla_kind = PHONE_CALLBACK


PASSED_ON = "la chiamata è passata alla coda di un altro argomento: la scheda la completa il collega che risponde"


def passed_on(session: Session, ticket: Ticket) -> bool:
    """The call waits in another topic's queue, where its operator transferred it: its outcome
    is for whoever answers it next (full run 6, ticket 5944: filed by both). The desk does not
    offer it to the first operator (ivr.console.queries.to_file, the same rule) and a filing of
    theirs is refused, from a card still on their page; once the caller has left unanswered,
    the call is theirs to file again."""
    if not ticket.open:
        return False
    last = dict(
        session.execute(
            select(TicketEvent.kind, func.max(TicketEvent.at))
            .where(
                TicketEvent.ticket_id == ticket.id,
                TicketEvent.kind.in_((EventKind.TRANSFERRED, EventKind.OPERATOR_ANSWERED)),
            )
            .group_by(TicketEvent.kind)
        ).all()
    )
    moved, answered = last.get(EventKind.TRANSFERRED), last.get(EventKind.OPERATOR_ANSWERED)
    return moved is not None and (answered is None or moved >= answered)
