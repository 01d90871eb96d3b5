"""The `queue:` section of nul.yaml."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

# The console's roles (ivr.schema.console.ROLES), named here so the queue's settings need no console.
Role = Literal["operator", "supervisor", "administrator"]


def _supervisors() -> list[Role]:
    return ["supervisor"]


class QueueSettings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    daily_cap: int = Field(400, ge=0, description="calls admitted to the operator queue per local day (charter: 400)")
    ring_timeout_s: float = Field(20.0, gt=0, le=120, description="an offer rings this long, then the next operator")
    wrap_up_s: float = Field(30.0, ge=0, le=600, description="after each call, time to finish the ticket")
    max_missed_offers: int = Field(2, ge=1, le=20, description="unanswered offers in a row before automatic pause")
    max_wait_s: float = Field(600.0, gt=0, description="longest wait before the caller is sent to voicemail")
    announce_every_s: float = Field(30.0, ge=10, description="how often position and wait are considered for saying")
    leave_key: str = Field("9", pattern=r"^[0-9*#]$", description="while waiting, this key leaves a voicemail instead")
    default_handle_s: float = Field(240.0, gt=0, description="assumed call length for wait estimates until measured")
    skill_routing: bool = Field(
        True, description="offer calls only to operators with the call's topic among their skills"
    )
    confirm_timeout_s: float = Field(
        8.0, gt=0, le=60, description="an operator on an outside number has this long to press 1 after the topic"
    )
    record_format: str = Field("wav", pattern=r"^(wav|gsm|sln)$", description="format of call recordings")
    callback_enabled: bool = Field(True, description="offer waiting callers a callback that keeps their place")
    callback_key: str = Field("2", pattern=r"^[0-9*#]$", description="while waiting, this key asks for a callback")
    callback_offer_after_s: float = Field(
        120.0, ge=0, description="the callback is offered when the estimated wait is at least this long"
    )
    callback_retry_s: float = Field(300.0, ge=0, description="after a callback not answered or busy, try again after")
    callback_attempts: int = Field(3, ge=1, le=10, description="attempts before a callback is closed as unreachable")
    callback_citizen_timeout_s: float = Field(40.0, gt=0, le=120, description="the citizen's phone rings this long")
    callback_carry_over: bool = Field(
        True,
        description="callbacks not done by closing time wait for the next opening (false: second-level ticket)",
    )
    conference_roles: list[Role] = Field(
        default_factory=_supervisors,
        description="console roles that may bring a third party into a call from the desk (a three-way); "
        "consulting a colleague stays open to every operator (an empty list: nobody)",
    )
