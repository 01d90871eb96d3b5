"""The web channel as the engine runs it: take a request, acknowledge it, answer it.

Everything the citizen sends is in the store before any e-mail is attempted, and each e-mail's
fate is written on the ticket's timeline. Receipts go to an address nobody has verified, so their
number is capped per hour overall and per recipient per day: past a cap the request is still taken,
only its receipt is held back (and the ticket says so).

A request is filed once per form: the form's token is kept with it, and the same form sent again
(the citizen pressing "Invia" again, a browser sending it again after its answer was lost: full run
6 filed request web-0050 twice, tickets 3241 and 3275, when the first post waited behind the
database's recovery) is answered with the request it filed, receipt and all. Posts of one token
are taken one at a time, so one sent while the first is still being filed waits for it. Only
requests taken count against the address's limit: run 6's web-0034 was refused as "too many"
after five posts the store, being away, had not taken.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import deque
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from ivr.clock import Clock
from ivr.ratelimit import RateLimiter
from ivr.tickets import events
from ivr.tickets.config import SlaSettings
from ivr.tickets.events import EventKind
from ivr.tickets.store import LineStore
from ivr.tickets.writer import StoreUnavailable, unavailable
from ivr.webrequests import service
from ivr.webrequests.config import MailSettings, WebRequestSettings
from ivr.webrequests.form import RequestForm, parse
from ivr.webrequests.mail import Mailer, escalation_text, receipt_text, reply_text
from ivr.webrequests.service import WebRequests


class TooManyRequests(Exception):
    pass


class FormUsed(Exception):
    """The form's token filed another request (the citizen went back to a form sent already and
    wrote something else in it): this one is not filed, nor taken for the first."""

    def __init__(self, ticket_id: int) -> None:
        super().__init__(f"this form filed request #{ticket_id} already")
        self.ticket_id = ticket_id


@dataclass(frozen=True)
class Received:
    ticket_id: int
    due: datetime
    receipt_sent: bool
    receipt_held: bool = False  # a mail cap kept it back (not a mail failure)
    receipt_perhaps: bool = False  # its send began and no outcome was written (service.MailFate)
    again: bool = False  # the form had filed it already: this answer repeats the first


class ReceiptBudget:
    """How many receipts may still go out: `max_receipts_per_hour` across all addresses, and
    `max_receipts_per_recipient` per address and day. Counted on the service clock, in memory: a
    restart forgets, which errs towards sending a few more, never towards losing a request."""

    def __init__(self, settings: MailSettings) -> None:
        self.per_hour = settings.max_receipts_per_hour
        self.per_recipient = settings.max_receipts_per_recipient
        self._all: deque[datetime] = deque()
        self._by_recipient: dict[str, deque[datetime]] = {}

    def take(self, recipient: str, now: datetime) -> str | None:
        """None when the receipt may go (and it is counted); else the setting that holds it back."""
        _expire(self._all, now - timedelta(hours=1))
        key = recipient.casefold()
        mine = self._by_recipient.setdefault(key, deque())
        _expire(mine, now - timedelta(days=1))
        if len(self._all) >= self.per_hour:
            return "mail.max_receipts_per_hour"
        if len(mine) >= self.per_recipient:
            return "mail.max_receipts_per_recipient"
        self._all.append(now)
        mine.append(now)
        if len(self._by_recipient) > 10_000:  # forget quiet addresses rather than grow without bound
            for address in [a for a, times in self._by_recipient.items() if not times]:
                del self._by_recipient[address]
        return None


def _expire(times: deque[datetime], before: datetime) -> None:
    while times and times[0] <= before:
        times.popleft()


class WebRequestChannel:
    def __init__(
        self,
        store: LineStore,
        mailer: Mailer,
        clock: Clock,
        settings: WebRequestSettings,
        sla: SlaSettings,
        *,
        tz: ZoneInfo,
        service_name: str,
    ) -> None:
        self.store = store  # the timeline's mail events (they wait in the outbox while the database is away)
        self.requests = WebRequests(store)
        self.mailer = mailer
        self.clock = clock
        self.settings = settings
        self.sla = sla
        self.tz = tz
        self.service_name = service_name
        self._limit = RateLimiter(settings.per_address, settings.window_s)
        self._receipts = ReceiptBudget(mailer.settings)
        self._forms: dict[str, tuple[asyncio.Lock, int]] = {}  # token -> its posts under way

    def _admit(self, address: str) -> float:
        """A few requests per address and window: enough for people, not for a script. Returns
        the moment counted (given back if the request is not taken)."""
        at = time.monotonic()
        if self._limit.check(address, at) is not None:
            raise TooManyRequests(address)
        return at

    async def submit(self, data: Mapping[str, Any], address: str) -> Received:
        """Validate (FormErrors names each wrong field), store, then send the receipt; the same
        form sent again gets the request it filed (FormUsed if it now says something else)."""
        form = parse(data, max_message=self.settings.max_message_chars)
        if form.token is None:  # the API without a token: each post is a request
            return await self._file(form, address)
        async with self._one_at_a_time(form.token):
            earlier = await self._filed(form.token)
            if earlier is None:
                try:
                    return await self._file(form, address)
                except service.AlreadyFiled:  # by another engine's post of the same form
                    earlier = await self._filed(form.token)
                    if earlier is None:
                        raise
            if not earlier.form.same_as(form):
                raise FormUsed(earlier.ticket_id)
            receipt = earlier.receipt or {}
            fate = service.mail_fate(receipt) if earlier.receipt is not None else None
            return Received(
                earlier.ticket_id,
                earlier.due,
                fate is service.MailFate.SENT,
                bool(receipt.get("held")),
                receipt_perhaps=fate is service.MailFate.PERHAPS,
                again=True,
            )

    @contextlib.asynccontextmanager
    async def _one_at_a_time(self, token: str) -> AsyncIterator[None]:
        lock, posts = self._forms.get(token, (asyncio.Lock(), 0))
        self._forms[token] = (lock, posts + 1)
        try:
            async with lock:
                yield
        finally:
            lock, posts = self._forms[token]
            if posts == 1:
                del self._forms[token]
            else:
                self._forms[token] = (lock, posts - 1)

    async def _filed(self, token: str) -> service.Filed | None:
        try:
            return await self.requests.by_token(token)
        except Exception as exc:  # a read meeting the database away: the post was not taken
            if not unavailable(exc):
                raise
            raise StoreUnavailable(str(exc)) from exc

    async def _file(self, form: RequestForm, address: str) -> Received:
        counted = self._admit(address)
        now = self.clock.now()
        hours = self.sla.web_reply_hours
        mailing = self.mailer.settings.host is not None
        try:
            ticket_id = await self.requests.receive(form, now, tz=self.tz, reply_hours=hours, mailing=mailing)
        except (StoreUnavailable, service.AlreadyFiled):
            self._limit.give_back(address, counted)  # not a request taken: it does not count
            raise
        due = now + timedelta(hours=hours)  # the ticket's, as filed (no read that could fail after it)
        held = self._receipts.take(form.email, self.clock.now()) if mailing else None
        if held is not None:
            await self._mailed(ticket_id, events.mail_sent(EventKind.MAIL_RECEIPT, False, held))
            return Received(ticket_id, due, False, receipt_held=True)
        subject, body = receipt_text(ticket_id, due, self.tz, self.service_name)
        sent = await self.mailer.send(form.email, subject, body)
        await self._mailed(ticket_id, events.mail_sent(EventKind.MAIL_RECEIPT, sent))
        return Received(ticket_id, due, sent)

    async def _mailed(self, ticket_id: int, outcome: events.Event) -> None:
        """The send's outcome after its intent (written with the step that caused it)."""
        await self.store.record(ticket_id, outcome.kind, self.clock.now(), outcome.detail)

    async def answer(
        self, ticket_id: int, text: str, by: str | None, *, article: tuple[int, str] | None = None
    ) -> tuple[service.RequestView, bool]:
        """Store the reply (the commitment is met now), then e-mail it."""
        now = self.clock.now()
        view = await self.requests.reply(ticket_id, text, by, now, article=article)
        assert view.reply is not None
        subject, body = reply_text(ticket_id, view.reply, self.service_name)
        sent = await self.mailer.send(view.email, subject, body)
        await self._mailed(ticket_id, events.mail_sent(EventKind.MAIL_REPLY, sent))
        return view, sent

    async def escalate(self, ticket_id: int, note: str, by: str | None) -> tuple[service.RequestView, bool]:
        """Pass the request to the second level (stored first), then e-mail the citizen the notice
        with the new date; whether it went is written on the timeline."""
        now, days = self.clock.now(), self.sla.web_second_days
        view = await self.requests.escalate(ticket_id, note, by, now, days=days)
        subject, body = escalation_text(ticket_id, view.due, self.tz, self.service_name)
        sent = await self.mailer.send(view.email, subject, body)
        await self._mailed(ticket_id, events.mail_sent(EventKind.MAIL_ESCALATION, sent))
        return view, sent
