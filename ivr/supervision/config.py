"""The `supervision:` section of nul.yaml."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, model_validator

from ivr.acd.config import Role


def _supervisors() -> list[Role]:
    return ["supervisor", "administrator"]


class SupervisionSettings(BaseModel):
    """Off by default: turning it on is a decision the operators are told about first."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    enabled: bool = Field(False, description="let supervisors listen to, coach and join operators' live conversations")
    operator_notice: str = Field(
        "",
        max_length=2000,
        description="the notice given to operators beforehand (required with `enabled`); shown on every desk",
    )
    roles: list[Role] = Field(
        default_factory=_supervisors,
        description="console roles that may supervise a conversation",
    )
    ring_timeout_s: float = Field(30.0, gt=0, le=120, description="how long the supervisor's phone rings")

    @model_validator(mode="after")
    def _told(self) -> SupervisionSettings:
        if self.enabled and not self.operator_notice.strip():
            raise ValueError("operator_notice: required when supervision is enabled (the operators are told first)")
        return self
