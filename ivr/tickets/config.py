"""The `sla:` section of nul.yaml: the charter's commitments and when to warn about them."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, model_validator


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


class ReasonOption(BaseModel):
    """One reason a citizen calls for: a stable key (kept on tickets, counted in statistics and
    the open data) and the label operators and readers see."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    key: str = Field(pattern=r"^[a-z0-9][a-z0-9_]{0,39}$", description="kept on the ticket; never reuse one")
    label: str = Field(min_length=1, max_length=80, description="shown to operators and in the statistics")


class ReasonSettings(BaseModel):
    """The `reasons:` section: why citizens call, beside how the call ended. Empty: not asked."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    options: list[ReasonOption] = Field(
        default_factory=list,
        description="the reasons an operator chooses from when filing a call (e.g. NASpI, Garanzia Giovani)",
    )
    required: bool = Field(True, description="a call cannot be filed without its reason (when options are set)")

    @model_validator(mode="after")
    def _unique(self) -> ReasonSettings:
        keys = [o.key for o in self.options]
        twice = sorted({k for k in keys if keys.count(k) > 1})
        if twice:
            raise ValueError(f"reasons.options: the key {twice[0]!r} is given twice")
        return self

    @property
    def asked(self) -> bool:
        return bool(self.options)

    def label(self, key: str | None) -> str:
        return next((o.label for o in self.options if o.key == key), key or "")
