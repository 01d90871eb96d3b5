"""Logging with secrets scrubbed: a password must never reach a log line, whoever formats it."""

from __future__ import annotations

import logging
import sys

from pydantic import SecretStr

from ivr.settings import Settings

FORMAT = "%(asctime)s %(levelname)-7s %(name)s: %(message)s"


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


def secrets_of(settings: Settings) -> list[str]:
    values: list[SecretStr | None] = [
        settings.asterisk.ari.password,
        settings.asterisk.ami.password,
        settings.database.url,
        settings.console.api_token,
        settings.mail.password,
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
    handler.setFormatter(logging.Formatter(FORMAT))
    if settings is not None:
        handler.addFilter(RedactSecrets(secrets_of(settings)))
    root.addHandler(handler)
    root.setLevel(level)
    for noisy in ("aiohttp", "alembic"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, root.level))
    logging.getLogger("ivr.ami.panoramisk").setLevel(max(logging.WARNING, root.level))
