"""The `web_requests:` and `mail:` sections of nul.yaml."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationInfo,
    field_validator,
)

from ivr.configfile import resolve_relative


class WebRequestSettings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    enabled: bool = Field(True, description="serve the public request form (/richiesta) and its JSON API")
    per_address: int = Field(5, ge=1, description="requests accepted from one address per window (abuse guard)")
    window_s: float = Field(600, gt=0, description="the window of `per_address`")
    max_message_chars: int = Field(5000, ge=100, le=50_000, description="longest request text")
    readability_threshold: float = Field(
        60,
        ge=0,
        le=100,
        description="the reply editor warns when a reply's Gulpease index is below this (60: hard for "
        "readers with a lower-secondary education)",
    )
    suggestions: int = Field(5, ge=0, le=20, description="knowledge-base articles the reply editor suggests")


def _existing_file(value: Path, info: ValidationInfo) -> Path:
    """Relative to the config file, like every path in it; checked now, not at the first e-mail."""
    base = (info.context or {}).get("base_dir")
    path = resolve_relative(Path(base), value) if base else value.expanduser()
    try:
        found = path.is_file()
    except OSError as exc:  # a name too long for the file system, a loop of links: said as the field's error
        raise ValueError(f"not a usable file name: {exc.strerror or exc}") from None
    if not found:
        raise ValueError(f"no such file: {path}")
    return path


_PORTS = {"none": 25, "starttls": 587, "implicit": 465}


class MailSettings(BaseModel):
    """Where replies and receipts to citizens are sent from; no host: they are kept, not sent.

    TLS is on and verified by default: the messages carry citizens' addresses and requests, and a
    password must never cross the network in clear.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    host: str | None = Field(None, description="SMTP server; unset: nothing is e-mailed (replies stay in the store)")
    tls: Literal["starttls", "implicit", "none"] = Field(
        "starttls",
        description="starttls: upgrade the connection, refuse servers that do not offer it; implicit: TLS from "
        "the first byte (SMTPS, port 465); none: plain text, only for a relay on the same machine, never with a login",
    )
    port: int | None = Field(
        None, ge=1, le=65535, description="SMTP port (default: 587 with starttls, 465 with implicit, 25 with none)"
    )
    ca_file: Annotated[Path, AfterValidator(_existing_file)] | None = Field(
        None,
        description="PEM file of the CA that signed the server's certificate (a private CA); default: the system's",
    )
    username: str | None = Field(None, description="SMTP login, if the server needs one (needs TLS)")
    password: SecretStr | None = Field(None, description="secret: environment or secrets file")
    sender: str = Field("Numero per il lavoro <noreply@localhost>", description="the From: of e-mails to citizens")
    timeout_s: float = Field(10, gt=0, description="SMTP timeout")
    max_receipts_per_hour: int = Field(
        200, ge=0, description="receipts sent per hour, all addresses together; beyond it they are held back"
    )
    max_receipts_per_recipient: int = Field(
        3, ge=0, description="receipts sent to one e-mail address per day; beyond it they are held back"
    )

    @field_validator("username")
    @classmethod
    def _login_needs_tls(cls, value: str | None, info: ValidationInfo) -> str | None:
        if value is not None and info.data.get("tls") == "none":
            raise ValueError("an SMTP login needs mail.tls: starttls or implicit (credentials are never sent in clear)")
        return value

    @property
    def effective_port(self) -> int:
        return self.port if self.port is not None else _PORTS[self.tls]
