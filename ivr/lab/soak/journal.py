"""The carrier's own record of every call the soak places: what the caller meant to do and what
the caller, on the carrier's side of the line, actually went through.

It is written by the soak's callers, never by the engine, so the checker can hold the engine's
store against a witness the engine cannot have bent: a ticket that says "answered by an operator"
for a caller who never heard one is a violation, whatever the store believes. One JSON object per
line, appended as each call ends, so a soak killed half-way still leaves a readable journal.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import datetime
from enum import StrEnum
from pathlib import Path
from typing import TypeVar

from pydantic import BaseModel, ConfigDict, Field

M = TypeVar("M", bound=BaseModel)


class HungUpBy(StrEnum):
    CALLER = "caller"  # the script hung up (abandonment, a hangup at a random moment, after a message)
    ENGINE = "engine"  # the line ended the call (goodbye, closed, cap, after the survey)
    NETWORK = "network"  # neither: a fault (Asterisk restarted, the carrier lost the channel)


class CallbackLeg(BaseModel):
    """One ring of the citizen's phone for a queued callback, as the citizen's phone saw it."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    number: str = Field(description="the number the line dialled")
    rang_at: datetime
    answered: bool = Field(False, description="the citizen picked up (a ring while a leg was up is not answered)")
    busy: bool = Field(False, description="rang while another leg to the same number was up: refused as busy")
    ended_at: datetime | None = None
    heard_notice: bool = Field(False, description="heard the line say this is the callback asked for")
    heard_operator: bool = Field(False, description="an operator's voice reached the citizen on this leg")
    operator: str | None = None
    survey_keys: list[str] = Field(default_factory=list, description="keys pressed for the questionnaire after it")
    hung_up_by: HungUpBy | None = None
    survey_presses: list[KeyPress] = Field(
        default_factory=list, description="each of `survey_keys`, when and after which question; empty: not known"
    )


class KeyPress(BaseModel):
    """A key the caller pressed in answer to a prompt, and how late: from the prompt's beginning
    as the line played it to the press. The carrier's recording leaves out the line's silences, so
    where a prompt sits in it is not when it was played: the caller knows only bounds, from the
    call's answer (the prompt came no sooner than its place in the recording) and from when the
    recording was seen to hold it (`ivr.lab.soak.ear.Ear.played_by`)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    key: str
    prompt: str = Field(description="the reference name of the prompt the key answered (ivr.lab.soak.kit.named)")
    at_least_s: float = Field(description="the press came at least this long after the prompt began")
    at_most_s: float = Field(description="and at most this long")
    window_s: float | None = Field(
        None,
        description="how long from that prompt's beginning the line takes the key, by its configuration and the "
        "prompt's length (ivr.lab.soak.key_windows); None: not known",
    )
    next_prompt: str | None = Field(
        None,
        description="what the line asks once that window has passed with no key (the survey's next question), "
        "which a later key answers instead; None: nothing, a later key is no answer",
    )


SOAK_ERROR = "soak-error"  # a hangup state's prefix: the soak's own caller failed, not the line


class CallRecord(BaseModel):
    """One call as its caller saw it. Times are UTC, from the carrier's machine clock."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    caller: str = Field(description="the caller id sent; unique per call in a soak, so it finds the ticket")
    carrier_channel: str = Field(description="the carrier's channel id of the call")
    journey: str = Field(description="the planned journey's name (ivr.lab.soak.model)")
    placed_at: datetime
    ended_at: datetime | None = None
    answered: bool = Field(False, description="the engine answered (the caller heard the line at all)")
    answered_after_s: float | None = Field(
        None, ge=0, description="seconds from placing the call to the line's answer, as the caller's phone saw it"
    )
    topic: str | None = Field(None, description="the menu topic the caller chose, None: no choice made")
    language: str = "it"
    consent_asked: bool = False
    consent_key: str | None = Field(None, description="what the caller pressed at the consent notice")
    heard_operator: bool = Field(False, description="an operator's voice reached the caller")
    operator: str | None = Field(None, description="login of the simulated operator who took it, if known")
    operators_heard: list[str] = Field(
        default_factory=list, description="every operator's voice the caller's ear recognised, in order"
    )
    left_message: bool = Field(False, description="spoke after the voicemail beep")
    message_s: float = 0.0
    callback_requested: bool = Field(False, description="accepted a queued callback (heard it booked)")
    survey_keys: list[str] = Field(
        default_factory=list, description="keys pressed for the questionnaire, on the call and on its callback legs"
    )
    hung_up_by: HungUpBy | None = None
    hangup_state: str | None = Field(None, description="where the caller hung up, when the script chose to")
    faults: list[str] = Field(default_factory=list, description="faults injected while the call was up")
    # Added for queued callbacks and languages; a journal written before them reads with the defaults.
    language_heard: str | None = Field(
        None, description="the language of the line's prompts the caller recognised; None: none recognised"
    )
    language_key: str | None = Field(None, description="the key pressed at the welcome to choose a language")
    callback_offered: bool = Field(False, description="heard the queue offer a callback")
    callback_number: str | None = Field(None, description="the number the line read back and the caller confirmed")
    refused_numbers: list[str] = Field(
        default_factory=list,
        description="numbers the caller typed and the line said were not valid (and never read back right later)",
    )
    misread_numbers: list[str] = Field(
        default_factory=list,
        description="numbers the line read back a digit longer or shorter than the caller typed them: "
        "the caller said no and typed again (a key lost or doubled on the way)",
    )
    callback_legs: list[CallbackLeg] = Field(
        default_factory=list, description="every ring of the citizen's phone for the callback, in order"
    )
    callback_waited_s: float = Field(0.0, ge=0, description="how long the citizen waited for the callback")
    callback_not_booked: bool = Field(False, description="heard the line say the callback could not be booked")
    callback_unsaid: bool = Field(
        False, description="confirmed a number, then heard neither the callback booked nor why not"
    )
    # Added after full run 6, whose callers pressed keys seconds after the line stopped waiting.
    language_press: KeyPress | None = Field(None, description="the language key, when and after which prompt")
    consent_press: KeyPress | None = Field(None, description="the last key pressed at the consent notice, and when")
    survey_presses: list[KeyPress] = Field(
        default_factory=list,
        description="each of `survey_keys` (the call's, then its callback legs'), when and after which question; "
        "empty: not known",
    )


class Journal:
    """Append-only JSON lines; `read` skips a last line cut short by a kill."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def append(self, record: CallRecord) -> None:
        with self.path.open("a", encoding="utf-8") as out:
            out.write(record.model_dump_json() + "\n")

    def read(self) -> Iterator[CallRecord]:
        return read_lines(self.path, CallRecord, "a call record")


def read_lines(path: Path, model: type[M], what: str) -> Iterator[M]:
    """Each line of an append-only JSON-lines file as `model`; a last line cut short (the soak
    killed while writing it) is skipped, a bad line anywhere else is an error naming it."""
    if not path.exists():
        return
    lines = path.read_text(encoding="utf-8").splitlines()
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            yield model.model_validate(json.loads(line))
        except (ValueError, json.JSONDecodeError):
            if number == len(lines):
                return
            raise ValueError(f"{path}:{number}: not {what}") from None
