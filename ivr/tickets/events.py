"""Every kind of timeline event the engine writes, and the detail each one carries.

Crash recovery reads a call's timeline back to know where it was (a message being recorded, a
conversation being recorded, a message saved whose callback number is still missing), so a
kind is a name with a contract: writers build events here and readers match the same members.
The values are the strings already stored; renaming a member is free, changing a value is a
data migration.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Any


class EventKind(enum.StrEnum):
    # the call itself
    CALL_STARTED = "call_started"
    CALL_ENDED = "call_ended"
    CALL_RESUMED = "call_resumed"  # picked up by an engine after a restart
    LINE_STATUS = "line_status"
    NOTICE_PLAYED = "notice_played"  # the service notices in force, said after the welcome
    QUEUE_SENT_AWAY = "queue_sent_away"  # an emergency closure sent the waiting caller on
    CONSENT = "consent"
    CONSENT_INVALID = "consent_invalid"
    MENU_CHOICE = "menu_choice"
    MENU_DEFAULT = "menu_default"
    MENU_REPEAT = "menu_repeat"
    MENU_TIMEOUT = "menu_timeout"
    MENU_INVALID = "menu_invalid"
    STUB_REACHED = "stub_reached"
    # the queue and the conversation
    QUEUE_ADMITTED = "queue_admitted"
    QUEUE_NOT_SERVED = "queue_not_served"
    QUEUE_LEFT = "queue_left"
    OFFER = "offer"
    OFFER_MISSED = "offer_missed"
    OFFER_CONFIRMED = "offer_confirmed"  # an operator on an outside number pressed the key
    OPERATOR_ANSWERED = "operator_answered"
    OPERATOR_REJOINED = "operator_rejoined"
    OPERATOR_CALL_ENDED = "operator_call_ended"
    CALL_HELD = "call_held"  # the operator put the caller on hold (music)
    CALL_UNHELD = "call_unheld"
    TRANSFERRED = "transferred"  # blind: back into another topic's queue, at the head
    CONSULT_STARTED = "consult_started"  # warm: another operator rung while the caller holds
    CONSULT_ENDED = "consult_ended"  # completed (handed over), cancelled, or not answered
    CONFERENCE_JOINED = "conference_joined"  # a third party (a supervisor) in the conversation
    CONFERENCE_LEFT = "conference_left"
    RECORDING_STARTED = "recording_started"  # names the recording before it starts
    RECORDING_KEPT = "recording_kept"
    RECORDING_FAILED = "recording_failed"
    # the queued callback: the caller hangs up and keeps the place
    CALLBACK_OFFERED = "callback_offered"
    CALLBACK_ACCEPTED = "callback_accepted"
    CALLBACK_TRY = "callback_try"  # one attempt at the citizen, with its result
    CALLBACK_CONNECTED = "callback_connected"
    CALLBACK_UNREACHABLE = "callback_unreachable"
    CALLBACK_CARRIED = "callback_carried"  # not done by closing time: waits for the next opening
    CALLBACK_ESCALATED = "callback_escalated"  # not done by closing time: a second-level ticket
    LANGUAGE = "language"  # the caller chose another language
    # voicemail
    VOICEMAIL_RECORDING = "voicemail_recording"  # names the message before it is recorded
    VOICEMAIL_LEFT = "voicemail_left"
    CALLBACK_NUMBER = "callback_number"
    CALLBACK_NUMBER_INVALID = "callback_number_invalid"
    # the questionnaire
    SURVEY_OFFERED = "survey_offered"
    SURVEY_ANSWER = "survey_answer"
    SURVEY_SKIPPED = "survey_skipped"
    SURVEY_INVALID = "survey_invalid"
    # the back office
    OUTCOME_FILED = "outcome_filed"
    CALL_REASON = "call_reason"
    REFERRED = "referred"  # sent to an office of the directory, with the details given
    MAIL_REFERRAL = "mail_referral"  # the office's details e-mailed to the citizen (or not)
    KB_ANSWER = "kb_answer"  # answered at the first level with a knowledge-base article
    CALLBACK_ASSIGNED = "callback_assigned"
    CALLBACK_ATTEMPT = "callback_attempt"
    TICKET_CLOSED = "ticket_closed"
    SLA_NEAR = "sla_near"
    SLA_OVERDUE = "sla_overdue"
    WEB_REQUEST_RECEIVED = "web_request_received"
    WEB_REPLY = "web_reply"
    WEB_ESCALATED = "web_escalated"  # a web request passed to the second level (10-day e-mail answer)
    ARTICLE_USED = "article_used"  # a reply started from a knowledge-base article
    REQUEST_ASSIGNED = "request_assigned"
    MAIL_RECEIPT = "mail_receipt"
    MAIL_REPLY = "mail_reply"
    MAIL_ESCALATION = "mail_escalation"  # the notice that the request went to the second level
    LEGAL_HOLD = "legal_hold"
    LEGAL_HOLD_RELEASED = "legal_hold_released"
    PRIVACY_PURGED = "privacy_purged"


K = EventKind
# A recording named by the first kind is finished once one of these follows it.
RECORDING_ENDS = frozenset({K.RECORDING_KEPT, K.RECORDING_FAILED})
MESSAGE_ENDS = frozenset({K.VOICEMAIL_LEFT})


@dataclass(frozen=True)
class Event:
    """One timeline entry to write: its kind and its detail (None when it has none)."""

    kind: EventKind
    detail: dict[str, Any] | None = None


def _e(kind: EventKind, **detail: Any) -> Event:
    return Event(kind, detail or None)


# --- the call path's builders (one per kind, the detail's keys fixed here) ---------------------


def call_resumed(node: str, last_state: str | None) -> Event:
    return _e(K.CALL_RESUMED, node=node, last_state=last_state)


def line_status(state: str, local_time: str, holiday: str | None, closure: str | None, reason: str | None) -> Event:
    return _e(K.LINE_STATUS, state=state, local_time=local_time, holiday=holiday, closure=closure, reason=reason)


def queue_sent_away(to: str) -> Event:
    return _e(K.QUEUE_SENT_AWAY, to=to)


def notice_played(notices: list[int]) -> Event:
    return _e(K.NOTICE_PLAYED, notices=notices)


def consent(choice: str, key: str | None, campaign: str, notice: str) -> Event:
    return _e(K.CONSENT, choice=choice, key=key, campaign=campaign, notice=notice)


def consent_invalid(entered: str, attempt: int) -> Event:
    return _e(K.CONSENT_INVALID, entered=entered, attempt=attempt)


def menu_repeat(count: int) -> Event:
    return _e(K.MENU_REPEAT, count=count)


def menu_failed(entered: str | None, attempt: int) -> Event:
    """Nothing typed in time (`menu_timeout`) or a key the menu does not have (`menu_invalid`)."""
    return _e(K.MENU_TIMEOUT if entered is None else K.MENU_INVALID, entered=entered, attempt=attempt)


def menu_routed(
    kind: EventKind, next_node: str, key: str | None = None, topic: str | None = None, why: str | None = None
) -> Event:
    """`menu_choice` or `menu_default`: where the caller goes, and the key/topic/why when known."""
    detail: dict[str, str] = {"next": next_node}
    if key is not None:
        detail["key"] = key
    if topic:
        detail["topic"] = topic
    if why:
        detail["why"] = why
    return Event(kind, detail)


def stub_reached(destination: str) -> Event:
    return _e(K.STUB_REACHED, destination=destination)


def route_stub_reached(destination: str, topic: str | None) -> Event:
    """A queue or voicemail route not built yet, with the topic that led there."""
    return _e(K.STUB_REACHED, destination=destination, topic=topic)


def queue_admitted(topic: str | None) -> Event:
    return _e(K.QUEUE_ADMITTED, topic=topic)


def queue_not_served(result: str) -> Event:
    return _e(K.QUEUE_NOT_SERVED, result=result)


def queue_left(key: str) -> Event:
    return _e(K.QUEUE_LEFT, key=key)


def operator_answered(operator: str) -> Event:
    return _e(K.OPERATOR_ANSWERED, operator=operator)


def operator_rejoined(operator: str) -> Event:
    return _e(K.OPERATOR_REJOINED, operator=operator)


def offer_confirmed(operator: str, key: str, attempts: int) -> Event:
    return _e(K.OFFER_CONFIRMED, operator=operator, key=key, attempts=attempts)


def call_held(operator: str) -> Event:
    return _e(K.CALL_HELD, operator=operator)


def call_unheld(operator: str, held_s: float) -> Event:
    return _e(K.CALL_UNHELD, operator=operator, held_s=held_s)


def transferred(operator: str, from_topic: str | None, to_topic: str) -> Event:
    return _e(K.TRANSFERRED, operator=operator, from_topic=from_topic, to_topic=to_topic)


def consult_started(operator: str, consulted: str) -> Event:
    return _e(K.CONSULT_STARTED, operator=operator, consulted=consulted)


def consult_ended(operator: str, consulted: str, result: str) -> Event:
    """`result`: "completed" (the caller now talks with the consulted), "cancelled", or why the
    consulted operator was not reached ("no_answer", "busy"...)."""
    return _e(K.CONSULT_ENDED, operator=operator, consulted=consulted, result=result)


def conference_joined(operator: str, joined: str) -> Event:
    return _e(K.CONFERENCE_JOINED, operator=operator, joined=joined)


def conference_left(joined: str, result: str) -> Event:
    return _e(K.CONFERENCE_LEFT, joined=joined, result=result)


def operator_call_ended(ended_by: str, recorded: bool) -> Event:
    return _e(K.OPERATOR_CALL_ENDED, ended_by=ended_by, recorded=recorded)


def callback_offered(minutes: int) -> Event:
    return _e(K.CALLBACK_OFFERED, minutes=minutes)


def callback_accepted(source: str, ahead: int) -> Event:
    """How the number was given (confirmed caller id or typed), never the number itself."""
    return _e(K.CALLBACK_ACCEPTED, source=source, ahead=ahead)


def callback_try(attempt: int, operator: str, result: str) -> Event:
    return _e(K.CALLBACK_TRY, attempt=attempt, operator=operator, result=result)


def callback_connected(operator: str, waited_s: float) -> Event:
    return _e(K.CALLBACK_CONNECTED, operator=operator, waited_s=round(waited_s, 1))


def callback_closed(kind: EventKind, attempts: int) -> Event:
    """`callback_unreachable`, `callback_carried` or `callback_escalated`."""
    return _e(kind, attempts=attempts)


def language(code: str) -> Event:
    return _e(K.LANGUAGE, language=code)


def recording_started(name: str) -> Event:
    return _e(K.RECORDING_STARTED, name=name)


def recording_kept(recording: int, sha256: str, seconds: float) -> Event:
    return _e(K.RECORDING_KEPT, recording=recording, sha256=sha256, seconds=seconds)


def recording_failed(name: str, error: str) -> Event:
    return _e(K.RECORDING_FAILED, name=name, error=error[:200])


def voicemail_recording(name: str) -> Event:
    return _e(K.VOICEMAIL_RECORDING, name=name)


def voicemail_left(message: int, box: str, seconds: float, empty: bool) -> Event:
    return _e(K.VOICEMAIL_LEFT, message=message, box=box, seconds=round(seconds, 1), empty=empty)


def callback_number(source: str, known: bool) -> Event:
    return _e(K.CALLBACK_NUMBER, source=source, known=known)


def callback_number_invalid(entered: str | None, why: str) -> Event:
    return _e(K.CALLBACK_NUMBER_INVALID, entered=entered, why=why)


def kb_answer(article: int, version: int, title: str, operator_id: int | None) -> Event:
    """The article (and the version of it) the operator answered with: what the caller was told."""
    return _e(K.KB_ANSWER, article=article, version=version, title=title[:200], operator_id=operator_id)


def survey_offered(questions: list[str]) -> Event:
    return _e(K.SURVEY_OFFERED, questions=questions)


def survey_answer(question: str, answer: int) -> Event:
    return _e(K.SURVEY_ANSWER, question=question, answer=answer)


def survey_skipped(question: str) -> Event:
    return _e(K.SURVEY_SKIPPED, question=question)


def survey_invalid(question: str, entered: str | None, attempt: int) -> Event:
    return _e(K.SURVEY_INVALID, question=question, entered=entered, attempt=attempt)


# --- the back office's builders --------------------------------------------------------------


def web_escalated(by: str | None, due: str, first_in_time: bool) -> Event:
    """`due`: the 10-day commitment (ISO time); `first_in_time`: the notice met the 48 hours."""
    return _e(K.WEB_ESCALATED, by=by, due=due, first_in_time=first_in_time)


def article_used(article: int, title: str, by: str | None) -> Event:
    return _e(K.ARTICLE_USED, article=article, title=title[:200], by=by)


def web_reply(by: str | None, level: int, article: int | None) -> Event:
    return _e(K.WEB_REPLY, by=by, level=level, article=article)


def outcome_filed(
    outcome: str,
    operator_id: int | None,
    *,
    article: int | None = None,
    contact: dict[str, object] | None = None,
    reason: str | None = None,
) -> Event:
    """The operator's outcome; an article when a knowledge-base article answered it, how the
    second level answers the citizen (`escalation_contact`) when escalated, and the reason for the
    call when it was given with the outcome."""
    detail: dict[str, Any] = {"outcome": outcome, "operator_id": operator_id}
    if article is not None:
        detail["article"] = article
    if contact is not None:
        detail["contact"] = contact
    if reason is not None:
        detail["reason"] = reason
    return Event(K.OUTCOME_FILED, detail)


def call_reason(reason: str, operator_id: int | None) -> Event:
    """Why the citizen called, as the operator chose it (`ivr.tickets.reasons`)."""
    return _e(K.CALL_REASON, reason=reason, operator_id=operator_id)


def escalation_contact(answer_by: str, has_email: bool, has_phone: bool) -> dict[str, object]:
    """What the outcome event says of the contact: how the citizen is answered, never the data
    itself (the timeline outlives the caller data's retention only without it)."""
    return {"answer_by": answer_by, "email": has_email, "phone": has_phone}


def referred(referral: int, office: str, office_kind: str, name: str) -> Event:
    """The office by code, kind and name; the details given are on the referral row."""
    return _e(K.REFERRED, referral=referral, office=office, office_kind=office_kind, name=name)


def mail_sending(kind: EventKind) -> Event:
    """A citizen's e-mail about to be handed to the server, written before the send with the
    step that causes it: an engine stopped or fenced between the send and its outcome leaves
    this as the last word, read as "perhaps sent" (`mail_fate`), never as "not written yet"
    (full run 8: two replies reached the citizen while the console said nothing was sent)."""
    return _e(kind, sent=None, sending=True)


def mail_sent(kind: EventKind, sent: bool, held: str | None = None) -> Event:
    """The send's outcome; `held`: the setting that kept it back (nothing was tried)."""
    return _e(kind, sent=sent, held=held) if held is not None else _e(kind, sent=sent)


def mail_referral(referral: int, sent: bool, held: str | None = None) -> Event:
    """Never the address: it is caller data, kept (and purged) on the referral row only."""
    detail: dict[str, Any] = {"referral": referral, "sent": sent}
    if held is not None:
        detail["held"] = held
    return Event(K.MAIL_REFERRAL, detail)
