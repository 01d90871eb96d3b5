"""What one soak caller means to do: a journey, drawn from a seeded traffic model.

A journey is data, so the plan of a whole soak can be printed, diffed between two seeds, and
replayed: the same seed gives the same calls in the same order with the same keys.
"""

from __future__ import annotations

from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field


class Goal(StrEnum):
    """Where the caller is heading; what the line does may still send them elsewhere (closed,
    cap reached, nobody logged in), and the checker judges by what happened, not by the goal."""

    OPERATOR = "operator"  # talk to an operator, then (maybe) answer the survey
    VOICEMAIL = "voicemail"  # choose to leave a message while waiting (key 9)
    CALLBACK = "callback"  # accept a queued callback while waiting
    ABANDON = "abandon"  # give up while waiting, after `patience_s`
    HANGUP = "hangup"  # hang up at a random moment in `hangup_state`
    SILENT = "silent"  # press nothing at all


class Journey(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(description="a short label for reports, e.g. 'operator/citizens/it'")
    goal: Goal
    at_s: float = Field(ge=0, description="when the call is placed, seconds after the soak's start")
    caller: str = Field(description="the caller id (unique in the soak); '' for a withheld number")
    language: str = "it"
    menu_keys: list[str] = Field(default_factory=list, description="keys pressed at the menu, wrong ones first")
    topic: str | None = None
    consent_key: str | None = Field(None, description="at the consent notice: '1' yes, '2' no, None silence")
    patience_s: float = Field(120.0, gt=0, description="how long the caller waits in the queue before leaving")
    hangup_state: str | None = Field(None, description="with goal HANGUP: the call state to hang up in")
    hangup_after_s: float = Field(0.0, ge=0, description="with goal HANGUP: how long into that state")
    message_s: float = Field(0.0, ge=0, description="how long the caller speaks after a voicemail beep")
    survey_keys: list[str] = Field(default_factory=list, description="answers to the questionnaire, in order")
    survey_hangup: bool = Field(
        False, description="hangs up during the questionnaire, after answering the `survey_keys` given"
    )
    language_key: str | None = Field(
        None, description="the key pressed at the welcome to choose `language`; None: the service's language"
    )
    typed_numbers: list[str] = Field(
        default_factory=list,
        description="numbers typed at the callback-number dialogue, in order (a refused one is asked again); "
        "empty: the caller id is confirmed with 1",
    )
    talk_hangup_s: float | None = Field(
        None, ge=0, description="with goal OPERATOR: hangs up this long into the conversation; None: stays on"
    )
