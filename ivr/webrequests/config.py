"""The `web_requests:` and `mail:` sections of nul.yaml."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, SecretStr


class WebRequestSettings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    enabled: bool = Field(True, description="serve the public request form (/richiesta) and its JSON API")
    per_address: int = Field(5, ge=1, description="requests accepted from one address per window (abuse guard)")
    window_s: float = Field(600, gt=0, description="the window of `per_address`")
    max_message_chars: int = Field(5000, ge=100, le=50_000, description="longest request text")


class MailSettings(BaseModel):
    """Where replies and receipts to citizens are sent from; no host: they are kept, not sent."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    host: str | None = Field(None, description="SMTP server; unset: nothing is e-mailed (replies stay in the store)")
    port: int = Field(25, ge=1, le=65535, description="SMTP port")
    starttls: bool = Field(False, description="upgrade the connection with STARTTLS")
    username: str | None = Field(None, description="SMTP login, if the server needs one")
    password: SecretStr | None = Field(None, description="secret: environment or secrets file")
    sender: str = Field("Numero per il lavoro <noreply@localhost>", description="the From: of e-mails to citizens")
    timeout_s: float = Field(10, gt=0, description="SMTP timeout")
