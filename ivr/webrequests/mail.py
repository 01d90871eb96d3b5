"""E-mails to citizens: the receipt of a request and the reply to it.

Sent with the standard library's SMTP client in a worker thread. A failure never loses the
request or the reply (both are in the store first); it is logged and written on the ticket, so
a supervisor can see who has not been reached.

Anyone can fill in the public form with someone else's address, so a receipt says only what the
service itself wrote (the ticket number and the commitment): nothing a stranger typed ever reaches
a third party's inbox under the service's name.
"""

from __future__ import annotations

import asyncio
import logging
import re
import smtplib
import ssl
from datetime import datetime
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from typing import Protocol
from zoneinfo import ZoneInfo

from ivr.ha.guard import UNLEASED, LineGuard
from ivr.webrequests.config import MailSettings

log = logging.getLogger(__name__)

# Line breaks (including Unicode's) and control characters: in a header they start a new header.
HEADER_UNSAFE = re.compile(r"[\x00-\x1f\x7f\x85\u2028\u2029]")


class Mailer(Protocol):
    settings: MailSettings  # the receipt caps are read from here

    async def send(self, to: str, subject: str, body: str) -> bool:
        """True when the server accepted the message; False when mail is off or it failed."""
        ...


class MailSecurityError(smtplib.SMTPException):
    """The server cannot be talked to as safely as the configuration demands."""


class SmtpMailer:
    def __init__(self, settings: MailSettings, guard: LineGuard = UNLEASED) -> None:
        """`guard`: a fenced engine sends nothing (ivr.ha.guard.Fenced, not a False: the mail is
        not failed, it is not this engine's to send)."""
        self.settings = settings
        self.guard = guard
        self._tls: ssl.SSLContext | None = None

    async def send(self, to: str, subject: str, body: str) -> bool:
        if self.settings.host is None:
            return False
        self.guard.check("send e-mail")
        if HEADER_UNSAFE.search(to) or HEADER_UNSAFE.search(subject):
            log.warning("e-mail to a citizen not sent: line break or control character in a header")
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
        except (ssl.SSLError, ssl.CertificateError, MailSecurityError) as exc:
            # Says why (certificate, missing STARTTLS): the administrator's fix is in the config.
            log.warning("e-mail to a citizen not sent, TLS with %s failed: %s", self.settings.host, exc)
            return False
        except (OSError, smtplib.SMTPException) as exc:
            log.warning("e-mail to a citizen not sent: %s", type(exc).__name__)
            return False
        return True

    def _context(self) -> ssl.SSLContext:
        """Verifying, always: the system's CAs, or the private CA named in `mail.ca_file`."""
        if self._tls is None:
            ca_file = self.settings.ca_file
            self._tls = ssl.create_default_context(cafile=str(ca_file) if ca_file else None)
        return self._tls

    def _deliver(self, message: EmailMessage) -> None:
        s = self.settings
        assert s.host is not None
        smtp: smtplib.SMTP
        if s.tls == "implicit":
            smtp = smtplib.SMTP_SSL(s.host, s.effective_port, timeout=s.timeout_s, context=self._context())
        else:
            smtp = smtplib.SMTP(s.host, s.effective_port, timeout=s.timeout_s)
        with smtp:
            if s.tls == "starttls":
                smtp.ehlo()
                if not smtp.has_extn("starttls"):
                    raise MailSecurityError(f"{s.host} does not offer STARTTLS (mail.tls: starttls): nothing sent")
                smtp.starttls(context=self._context())
                smtp.ehlo()
            if s.username and s.password is not None:
                if s.tls == "none":  # the settings refuse this; never rely on that alone
                    raise MailSecurityError("mail.username without TLS: credentials are never sent in clear")
                smtp.login(s.username, s.password.get_secret_value())
            self.guard.check("send e-mail")  # connecting and TLS may have taken long
            smtp.send_message(message)


def receipt_text(ticket_id: int, due: datetime, tz: ZoneInfo, service: str) -> tuple[str, str]:
    """Only the service's own words: the number, the commitment, what to do if it was not you."""
    local = due.astimezone(tz)
    return (
        f"{service}: richiesta n. {ticket_id} ricevuta",
        f"Gentile utente,\n\nabbiamo ricevuto la richiesta n. {ticket_id} inviata con questo indirizzo "
        f"dal modulo web.\nLe risponderemo entro il {local:%d/%m/%Y} alle {local:%H:%M}.\n\n"
        "Se non ha inviato lei questa richiesta, può ignorare questo messaggio.\n\n"
        f"{service}\n",
    )


def reply_text(ticket_id: int, reply: str, service: str) -> tuple[str, str]:
    """The operator's reply; the request's subject is not repeated, it was typed by whoever sent it."""
    return (
        f"{service}: risposta alla richiesta n. {ticket_id}",
        f"Gentile utente,\n\nin merito alla sua richiesta n. {ticket_id}:\n\n{reply}\n\n{service}\n",
    )


def escalation_text(ticket_id: int, due: datetime, tz: ZoneInfo, service: str) -> tuple[str, str]:
    """The notice that the request needs further work: the new date, in the service's words only."""
    local = due.astimezone(tz)
    return (
        f"{service}: richiesta n. {ticket_id} presa in carico",
        f"Gentile utente,\n\nla sua richiesta n. {ticket_id} ha bisogno di un approfondimento.\n"
        f"L'abbiamo affidata ai nostri esperti. Le risponderemo per e-mail entro il {local:%d/%m/%Y}.\n\n"
        f"{service}\n",
    )
