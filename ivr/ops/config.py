"""Settings of the operations side: the Prometheus endpoint."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, SecretStr


class MetricsSettings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, validate_default=True)

    enabled: bool = Field(True, description="serve Prometheus metrics at /metrics on the API's address")
    token: SecretStr | None = Field(
        None,
        description="secret: bearer token Prometheus must send; unset: /metrics answers only direct loopback "
        "clients, never the TLS proxy (console.trusted_proxies)",
    )
