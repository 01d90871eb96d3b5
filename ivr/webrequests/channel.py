"""The web channel as the engine runs it: take a request, acknowledge it, answer it.

Everything the citizen sends is in the store before any e-mail is attempted, and each e-mail's
fate is written on the ticket's timeline.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from ivr.clock import Clock
from ivr.tickets.config import SlaSettings
from ivr.tickets.store import SqlTicketStore
from ivr.webrequests import service
from ivr.webrequests.config import WebRequestSettings
from ivr.webrequests.form import parse
from ivr.webrequests.mail import Mailer, receipt_text, reply_text


class TooManyRequests(Exception):
    pass


@dataclass(frozen=True)
class Received:
    ticket_id: int
    due: datetime
    receipt_sent: bool


class WebRequestChannel:
    def __init__(
        self,
        store: SqlTicketStore,
        mailer: Mailer,
        clock: Clock,
        settings: WebRequestSettings,
        sla: SlaSettings,
        *,
        tz: ZoneInfo,
        service_name: str,
    ) -> None:
        self.store = store
        self.mailer = mailer
        self.clock = clock
        self.settings = settings
        self.sla = sla
        self.tz = tz
        self.service_name = service_name
        self._seen: dict[str, deque[float]] = {}

    def _admit(self, address: str) -> None:
        """A few requests per address and window: enough for people, not for a script."""
        now = time.monotonic()
        times = self._seen.setdefault(address, deque())
        while times and times[0] < now - self.settings.window_s:
            times.popleft()
        if len(times) >= self.settings.per_address:
            raise TooManyRequests(address)
        times.append(now)
        if len(self._seen) > 10_000:  # forget idle addresses rather than grow without bound
            for key in [k for k, v in self._seen.items() if not v or v[-1] < now - self.settings.window_s]:
                del self._seen[key]

    async def submit(self, data: Mapping[str, Any], address: str) -> Received:
        """Validate (FormErrors names each wrong field), store, then send the receipt."""
        form = parse(data, max_message=self.settings.max_message_chars)
        self._admit(address)
        now = self.clock.now()
        hours = self.sla.web_reply_hours
        ticket_id = await self.store.run_write(lambda s: service.receive(s, form, now, tz=self.tz, reply_hours=hours))
        view = await self.store.run_read(lambda s: service.view(s, ticket_id))
        subject, body = receipt_text(ticket_id, form.subject, view.due, self.tz, self.service_name)
        sent = await self.mailer.send(form.email, subject, body)
        await self.store.record(ticket_id, "mail_receipt", self.clock.now(), {"sent": sent})
        return Received(ticket_id, view.due, sent)

    async def answer(self, ticket_id: int, text: str, by: str | None) -> tuple[service.RequestView, bool]:
        """Store the reply (the commitment is met now), then e-mail it."""
        now = self.clock.now()
        view = await self.store.run_write(lambda s: service.reply(s, ticket_id, text, by, now))
        assert view.reply is not None
        subject, body = reply_text(ticket_id, view.subject, view.reply, self.service_name)
        sent = await self.mailer.send(view.email, subject, body)
        await self.store.record(ticket_id, "mail_reply", self.clock.now(), {"sent": sent})
        return view, sent
