"""E-mails to citizens: the receipt of a request and the reply to it.

Sent with the standard library's SMTP client in a worker thread. A failure never loses the
request or the reply (both are in the store first); it is logged and written on the ticket, so
a supervisor can see who has not been reached.
"""

from __future__ import annotations

import asyncio
import logging
import smtplib
from datetime import datetime
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from typing import Protocol
from zoneinfo import ZoneInfo

from ivr.webrequests.config import MailSettings

log = logging.getLogger(__name__)


class Mailer(Protocol):
    async def send(self, to: str, subject: str, body: str) -> bool:
        """True when the server accepted the message; False when mail is off or it failed."""
        ...


class SmtpMailer:
    def __init__(self, settings: MailSettings) -> None:
        self.settings = settings

    async def send(self, to: str, subject: str, body: str) -> bool:
        if self.settings.host is None:
            return False
        message = EmailMessage()
        message["From"] = self.settings.sender
        message["To"] = to
        message["Subject"] = subject
        message["Date"] = formatdate(localtime=False)
        message["Message-ID"] = make_msgid(domain="nul.invalid")
        message.set_content(body)
        try:
            await asyncio.to_thread(self._deliver, message)
        except (OSError, smtplib.SMTPException) as exc:
            log.warning("e-mail to a citizen not sent: %s", type(exc).__name__)
            return False
        return True

    def _deliver(self, message: EmailMessage) -> None:
        s = self.settings
        assert s.host is not None
        with smtplib.SMTP(s.host, s.port, timeout=s.timeout_s) as smtp:
            if s.starttls:
                smtp.starttls()
            if s.username and s.password is not None:
                smtp.login(s.username, s.password.get_secret_value())
            smtp.send_message(message)


def receipt_text(ticket_id: int, subject: str, due: datetime, tz: ZoneInfo, service: str) -> tuple[str, str]:
    local = due.astimezone(tz)
    return (
        f"{service}: richiesta n. {ticket_id} ricevuta",
        f"Gentile utente,\n\nabbiamo ricevuto la sua richiesta n. {ticket_id} ({subject}).\n"
        f"Le risponderemo entro il {local:%d/%m/%Y} alle {local:%H:%M}.\n\n{service}\n",
    )


def reply_text(ticket_id: int, subject: str, reply: str, service: str) -> tuple[str, str]:
    return (
        f"{service}: risposta alla richiesta n. {ticket_id}",
        f"Gentile utente,\n\nin merito alla sua richiesta n. {ticket_id} ({subject}):\n\n{reply}\n\n{service}\n",
    )
