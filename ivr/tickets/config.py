"""The `sla:` section of nul.yaml: the charter's commitments and when to warn about them."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class SlaSettings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    phone_target: float = Field(0.80, gt=0, le=1, description="charter: second-level phone answers in time")
    web_target: float = Field(0.90, gt=0, le=1, description="charter: web requests answered in time")
    web_reply_hours: float = Field(48, gt=0, description="charter: a web request is answered within this")
    near_phone_hours: float = Field(48, ge=0, description="a callback due within this is flagged 'near'")
    near_web_hours: float = Field(12, ge=0, description="a web reply due within this is flagged 'near'")
    web_second_days: float = Field(
        10, gt=0, description="charter: a web request passed to the second level is answered by e-mail within this"
    )
    web_second_target: float = Field(0.80, gt=0, le=1, description="charter: second-level e-mail answers in time")
    near_web_second_hours: float = Field(
        48, ge=0, description="a second-level e-mail answer due within this is flagged 'near'"
    )
    check_every_s: float = Field(900, ge=10, description="how often the commitments are checked and flagged")
