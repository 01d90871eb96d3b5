"""Logging with secrets scrubbed: a password must never reach a log line, whoever formats it.

Every line carries the call and ticket it belongs to (`ivr.logcontext`), callers' numbers are
masked unless `logging.personal_data` is on, and `logging.format: json` writes one JSON object per
line for log shippers (journald, Loki, Elastic).
"""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime

from pydantic import SecretStr

from ivr.logcontext import CallFields
from ivr.settings import Settings

FORMAT = "%(asctime)s %(levelname)-7s %(name)s: [call %(call_id)s ticket %(ticket_id)s] %(message)s"
PLAIN = "%(asctime)s %(levelname)-7s %(name)s: %(message)s"


class RedactSecrets(logging.Filter):
    def __init__(self, secrets: list[str]) -> None:
        super().__init__()
        self.secrets = [s for s in secrets if len(s) >= 4]

    def filter(self, record: logging.LogRecord) -> bool:
        if not self.secrets:
            return True
        message = record.getMessage()
        redacted = message
        for secret in self.secrets:
            redacted = redacted.replace(secret, "***")
        if redacted != message:
            record.msg, record.args = redacted, None
        return True


class JsonFormatter(logging.Formatter):
    """One object per line: time (UTC, ISO 8601), level, logger, message, call and ticket ids."""

    def format(self, record: logging.LogRecord) -> str:
        data: dict[str, object] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        call_id, ticket_id = getattr(record, "call_id", "-"), getattr(record, "ticket_id", "-")
        if call_id != "-":
            data["call_id"] = call_id
        if ticket_id != "-":
            data["ticket_id"] = int(str(ticket_id))
        # the text the log filter masked, when it did
        exception = record.exc_text or (self.formatException(record.exc_info) if record.exc_info else None)
        if exception:
            data["exception"] = exception
        return json.dumps(data, ensure_ascii=False)


class CallFormatter(logging.Formatter):
    """The text format; lines outside a call leave out the empty call/ticket brackets."""

    def __init__(self) -> None:
        super().__init__(FORMAT)
        self.plain = logging.Formatter(PLAIN)

    def format(self, record: logging.LogRecord) -> str:
        if getattr(record, "call_id", "-") == "-":
            return self.plain.format(record)
        return super().format(record)


def secrets_of(settings: Settings) -> list[str]:
    values: list[SecretStr | None] = [
        settings.asterisk.ari.password,
        settings.asterisk.ami.password,
        settings.database.url,
        settings.console.api_token,
        settings.mail.password,
        settings.metrics.token,
    ]
    found = [v.get_secret_value() for v in values if v is not None]
    url = settings.database.url
    if url is not None:  # the password inside a database URL on its own, too
        from sqlalchemy.engine import make_url
        from sqlalchemy.exc import ArgumentError

        try:
            password = make_url(url.get_secret_value()).password
        except ArgumentError:  # not a URL: the whole value is already redacted above
            password = None
        if password:
            found.append(str(password))
    return found


def setup_logging(level: str, settings: Settings | None = None) -> None:
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    handler: logging.Handler = logging.StreamHandler(sys.stderr)
    if settings is not None and settings.logging.file is not None:
        settings.logging.file.parent.mkdir(parents=True, exist_ok=True)
        handler = logging.FileHandler(settings.logging.file)
    as_json = settings is not None and settings.logging.format == "json"
    handler.setFormatter(JsonFormatter() if as_json else CallFormatter())
    handler.addFilter(CallFields(personal_data=settings is not None and settings.logging.personal_data))
    if settings is not None:
        handler.addFilter(RedactSecrets(secrets_of(settings)))
    root.addHandler(handler)
    root.setLevel(level)
    for noisy in ("aiohttp", "alembic"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, root.level))
    logging.getLogger("ivr.ami.panoramisk").setLevel(max(logging.WARNING, root.level))
