"""The `ha:` section of nul.yaml: how long a lease lasts, how often it is renewed."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, model_validator


class HaSettings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    lease_name: str | None = Field(
        None, max_length=64, description="the line the lease is for (default: the ARI application's name)"
    )
    lease_ttl_s: float = Field(
        5.0, gt=0.5, le=120, description="a lease not renewed for this long is expired: a standby may take it"
    )
    renew_every_s: float = Field(1.0, gt=0.05, le=30, description="how often the active engine renews its lease")
    standby_poll_s: float = Field(1.0, gt=0.05, le=30, description="how often a standby tries to take the lease")
    fence_on_store_loss: bool = Field(
        True,
        description=(
            "an active engine that cannot renew its lease in time stops driving calls and exits (a standby may "
            "have taken over); false only with a single engine on PostgreSQL, to ride a database outage on "
            "the outbox"
        ),
    )
    keep_calls_on_store_loss: bool = Field(
        True,
        description=(
            "past its lease (the database unreachable), the active engine keeps driving calls on its outbox for as "
            "long as Asterisk confirms, on the event socket, that its Stasis app is still its own; a standby that "
            "takes the lease takes the app, and the old engine stops at once. false: it stops when the lease is stale"
        ),
    )
    app_proof_s: float = Field(
        2.0,
        gt=0.2,
        le=30,
        description="how long one answer of Asterisk to a ping lets an engine act past its lease; a standby taking "
        "the app from a live engine waits this long before its first action",
    )
    callers_wait_s: float = Field(
        20.0,
        ge=0,
        le=120,
        description="while no engine takes calls (a takeover, a restart), a new caller hears ringing and is offered "
        "to the engine again every second for this long before the 'service unavailable' message",
    )
    app_check_every_s: float = Field(
        3.0, gt=0.1, le=60, description="how often the engine asks Asterisk whether its Stasis app is registered"
    )

    @model_validator(mode="after")
    def _renew_inside_ttl(self) -> HaSettings:
        if self.renew_every_s * 2 > self.lease_ttl_s:
            raise ValueError("ha.renew_every_s must be at most half of ha.lease_ttl_s")
        return self
