"""What one step of a call tells the later ones, and what crash recovery hands a resumed call.

Typed fields rather than a free dictionary: a fact renamed on one side and not the other is a
type error, not a resumed caller quietly losing why they are leaving a message.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from ivr.telephony.ports import CallChannel
from ivr.tickets.status import VoicemailReason


@dataclass(frozen=True)
class Rejoin:
    """A conversation that outlived an engine restart: the bridge it runs in and the operator's
    leg, found alive in Asterisk, plus the recording it was making, if any."""

    bridge_id: str
    leg: CallChannel
    operator_login: str
    recording: str | None = None


@dataclass(frozen=True)
class CallbackNumber:
    """The number to call the citizen back on, and how it was obtained (confirmed, typed,
    caller_id, none)."""

    number: str | None
    source: str


@dataclass
class CallFacts:
    """Facts gathered during the call. The `resume_*`, `admitted` and `rejoin` fields come from
    crash recovery and are taken (reset) by the step that uses them, so a second pass through
    the same node starts afresh."""

    campaign: str | None = None  # the quality campaign whose notice was played
    operator_id: int | None = None  # who answered (the survey stores answers with them)
    operator_login: str | None = None
    voicemail_reason: VoicemailReason | None = None  # why the queue sent the caller to voicemail
    callback: CallbackNumber | None = None  # the best callback number so far (kept on a hangup)
    resumed: bool = False  # picked up by an engine after a restart
    admitted: bool = False  # resumed in the queue: already counted against the daily cap
    rejoin: Rejoin | None = None  # resumed mid-conversation
    resume_message: int | None = None  # message saved before the restart; only the number is missing
    resume_recording: str | None = None  # message being recorded when the engine died
    # the language offer's key, still taken at the next question (ivr.callflows.language)
    late_key: Callable[[str], Awaitable[bool]] | None = None
    # keys pressed during the welcome that were not the language offer's: a menu with type_ahead
    # takes them as the choice of a caller who knows the line; a consent notice drops them
    typed_ahead: str = ""

    def take_typed_ahead(self) -> str:
        keys, self.typed_ahead = self.typed_ahead, ""
        return keys

    def take_rejoin(self) -> Rejoin | None:
        rejoin, self.rejoin = self.rejoin, None
        return rejoin

    def take_admitted(self) -> bool:
        admitted, self.admitted = self.admitted, False
        return admitted

    def take_resume_message(self) -> int | None:
        message, self.resume_message = self.resume_message, None
        return message

    def take_resume_recording(self) -> str | None:
        name, self.resume_recording = self.resume_recording, None
        return name
