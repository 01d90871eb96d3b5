"""The `alerts:` section of nul.yaml: what makes each alert amber (look) and red (act)."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator

# An address to write to, no display name: the same shape the web form accepts from citizens.
Address = Annotated[str, StringConstraints(pattern=r"^[^@\s<>\"',;]+@[^@\s<>\"',;]+\.[^@\s<>\"',;]+$", max_length=254)]


class Above(BaseModel):
    """A figure that is worse the higher it goes (a wait, a pause): amber from `amber`, red from
    `red`; either left out is not raised."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    amber: float | None = Field(None, ge=0)
    red: float | None = Field(None, ge=0)

    @model_validator(mode="after")
    def _ordered(self) -> Above:
        if self.amber is not None and self.red is not None and self.red < self.amber:
            raise ValueError(f"red ({self.red:g}) must not be below amber ({self.amber:g})")
        return self


class Below(BaseModel):
    """A figure that is worse the lower it goes (the service level): amber under `amber`, red
    under `red`."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    amber: float | None = Field(None, ge=0, le=1)
    red: float | None = Field(None, ge=0, le=1)

    @model_validator(mode="after")
    def _ordered(self) -> Below:
        if self.amber is not None and self.red is not None and self.red > self.amber:
            raise ValueError(f"red ({self.red:g}) must not be above amber ({self.amber:g})")
        return self


class AlertSettings(BaseModel):
    """Defaults fit the charter: a minute and a half of wait is long for a toll-free line, the
    10-day callback and the 48-hour web reply are the commitments, and the voicemail box is
    "controllata costantemente"."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    enabled: bool = Field(True, description="watch the thresholds below (the wallboard and the metrics show them)")
    check_every_s: float = Field(2.0, gt=0, le=5, description="how often the thresholds are checked")
    longest_wait_s: Above = Field(Above(amber=90, red=180), description="a caller waiting in the queue this long")
    service_level: Below = Field(
        Below(amber=0.8, red=0.6),
        description="the last hour's share of admitted calls answered within stats.service_level_s",
    )
    service_level_min_calls: int = Field(
        10, ge=1, description="the last hour's service level is judged from this many admitted calls"
    )
    paused_s: Above = Field(Above(amber=1200, red=2700), description="an operator paused this long")
    pause_reasons_s: dict[str, Above] = Field(
        default_factory=lambda: {"Pranzo": Above(amber=3900, red=5400), "Formazione": Above(), "Riunione": Above()},
        description="per pause reason, instead of paused_s (a lunch is longer than a break; training and "
        "meetings are planned: {} raises nothing)",
    )
    wrap_up_s: Above = Field(Above(amber=120, red=300), description="an operator in wrap-up this long")
    cap_share: Above = Field(
        Above(amber=0.9, red=0.98), description="share of the daily cap (queue.daily_cap) already admitted today"
    )
    commitments: bool = Field(
        True, description="open commitments near their due time (sla.near_*_hours) are amber, past it red"
    )
    voicemail_unheard_min: Above = Field(
        Above(amber=60, red=240), description="the oldest message nobody has listened to, in minutes"
    )
    mail_to: list[Address] = Field(
        default_factory=list,
        description="supervisors e-mailed once when an alert turns amber or red (mail.host needed)",
    )
