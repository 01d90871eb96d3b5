"""A web reply whose answer the driver never got, on the real console, store and a real SMTP
server. Full run 6 (tickets 2397 and 2522): after a database outage the console took longer than
the driver's 20 s to answer the reply's post; the driver gave up, the console then stored the reply
and e-mailed the citizen, and the post sent again was refused ("answered already"). The driver
wrote "refused, no e-mail" and the checker found one e-mail the line had not said it sent. The
citizen got the reply once; the driver now reads the request's page, as a person would, and
writes down what the line did: the reply given, the e-mail sent."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from ivr.lab.soak import driver_http, driver_web
from ivr.lab.soak.action_journal import ActionResult
from ivr.lab.soak.actions import Action, ActionKind
from ivr.lab.soak.checks_actions import check_action_mail
from ivr.lab.soak.checks_store import check_web_and_mail
from ivr.lab.soak.driver import ActionDriver
from ivr.lab.soak.driver_http import Answer
from ivr.lab.soak.store_view import StoreView, read_store
from ivr.tickets import events
from ivr.webrequests.service import MailFate, RequestView, WebRequests
from tests.console_support import ConsoleLab, console_lab
from tests.harness.inbox import Inbox, smtp_inbox
from tests.unit.soak_web_line import served_driver, sink_evidence

# The driver's HTTP timeout, here (20 s in the soak): long enough for a login on a busy machine
# (0.5 s failed at idle priority beside a full soak), short enough to give up on the slow reply.
PATIENCE_S = 3.0
# The console's first reply, slower than that (the database after an outage), and done before the
# driver posts again (PATIENCE_S + the driver's 1.5 s between attempts), which is then refused.
SLOW_S = 3.6


@pytest.fixture
def inbox() -> Iterator[tuple[Inbox, int]]:
    with smtp_inbox() as found:
        yield found


@pytest.fixture
async def lab(tmp_path: Path, inbox: tuple[Inbox, int]) -> AsyncIterator[ConsoleLab]:
    mail = {"host": "127.0.0.1", "port": inbox[1], "tls": "none", "sender": "NUL <noreply@nul.example>"}
    async with console_lab(tmp_path, {"mail": mail}) as lab:
        yield lab


class SlowFirstReply(WebRequests):
    """The store's reply, the first one slower than the driver's patience."""

    def __init__(self, inner: WebRequests) -> None:
        super().__init__(inner.db)
        self.slow = True

    async def reply(
        self, ticket_id: int, text: str, by: str | None, now: datetime, *, article: tuple[int, str] | None = None
    ) -> RequestView:
        if self.slow:
            self.slow = False
            await asyncio.sleep(SLOW_S)
        return await super().reply(ticket_id, text, by, now, article=article)


def _replies(inbox: Inbox, ticket_id: int) -> list[str]:
    return [to[0] for to, m in inbox.mails if m["Subject"].endswith(f"risposta alla richiesta n. {ticket_id}")]


async def _file_and_reply(lab: ConsoleLab, tmp_path: Path, ref: str) -> tuple[ActionDriver, Answer]:
    """A citizen files request `ref`, the supervisor replies from its page (the soak's driver on
    the console served as the engine serves it, ivr.app: aiohttp's test server cancels a handler
    whose client went away, the engine's runner lets it finish, as the console did in run 6);
    returns the driver and the request's page as the supervisor sees it afterwards."""
    async with served_driver(lab, tmp_path, retry_every_s=1.5) as (console, driver):
        assert (await console.login("sara")).status == 303
        filing = {"ref": ref, "topic": "citizens", "email": True}
        await driver.carry_out(Action(kind=ActionKind.WEB_REQUEST, at_s=0.0, params=filing))
        await driver.carry_out(Action(kind=ActionKind.WEB_REPLY, at_s=1.0, params={"ref": ref}))
        page = await console.get("sara", f"/console/requests/{driver.records[0].ticket}")
    return driver, page


async def test_a_reply_whose_answer_was_lost_is_written_down_as_given_and_mailed_once(
    lab: ConsoleLab, inbox: tuple[Inbox, int], tmp_path: Path, monkeypatch: Any
) -> None:
    channel = lab.deps.web.web_requests
    channel.requests = SlowFirstReply(channel.requests)
    monkeypatch.setattr(driver_http, "TIMEOUT", aiohttp.ClientTimeout(total=PATIENCE_S))
    driver, _ = await _file_and_reply(lab, tmp_path, "web-0039")

    filed, record = driver.records
    assert filed.done and filed.ticket is not None
    ticket_id = filed.ticket
    assert record.attempts == 2  # the first post got no answer in time; the second was refused
    assert record.result is ActionResult.DONE, record.answer
    assert record.params["mail_sent"] is True and record.params["answer_lost"] is True
    assert _replies(inbox[0], ticket_id) == ["web-0039@cittadini.example.it"]  # once
    view = await channel.requests.view(ticket_id)
    assert (view.replied_by, view.reply_mailed) == ("sara", MailFate.SENT)

    # The checker holds the record against the sink: the line said once, the sink got it once.
    evidence = sink_evidence(inbox[0], ticket_id, tmp_path, driver)
    checked = check_action_mail(evidence, StoreView())
    assert checked.passed, checked.violations


class StoppedAfterTheSend:
    """The channel's first reply e-mail sent, then nothing more from that engine: it lost the
    line (fenced) between the send and writing its outcome, its console gone with it (full run 8,
    07:29 and 08:12: two replies reached the citizen, the console then said nothing was sent)."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.stopped = False

    async def __call__(self, ticket_id: int, outcome: events.Event) -> None:
        if outcome.kind == "mail_reply" and not self.stopped:
            self.stopped = True
            await asyncio.sleep(SLOW_S)  # the post gets no answer: that console is gone
            return  # and the outcome is never written: a fenced engine's writes are refused
        await self.inner(ticket_id, outcome)


async def test_a_reply_mailed_by_an_engine_stopped_before_writing_so_reads_as_perhaps_sent(
    lab: ConsoleLab, inbox: tuple[Inbox, int], tmp_path: Path, monkeypatch: Any
) -> None:
    channel = lab.deps.web.web_requests
    monkeypatch.setattr(channel, "_mailed", StoppedAfterTheSend(channel._mailed))
    monkeypatch.setattr(driver_http, "TIMEOUT", aiohttp.ClientTimeout(total=PATIENCE_S))
    monkeypatch.setattr(driver_web, "MAIL_READS", 3)
    monkeypatch.setattr(driver_web, "MAIL_READ_EVERY_S", 0.2)
    driver, page = await _file_and_reply(lab, tmp_path, "web-0040")

    filed, record = driver.records
    assert filed.ticket is not None and record.result is ActionResult.DONE, record.answer
    ticket_id = filed.ticket
    assert record.params["mail_sent"] == "perhaps" and record.params["answer_lost"] is True
    assert _replies(inbox[0], ticket_id) == ["web-0040@cittadini.example.it"]
    assert (await channel.requests.view(ticket_id)).reply_mailed is MailFate.PERHAPS
    assert 'id="reply-mail" data-sent="perhaps"' in page.text and "verifichi con il cittadino" in page.text

    # Both checkers take "perhaps" as zero or one e-mail: the one received passes...
    evidence = sink_evidence(inbox[0], ticket_id, tmp_path, driver)
    store = read_store(lab.deps.settings.database_url)
    for check in (check_action_mail, check_web_and_mail):
        checked = check(evidence, store)
        assert checked.passed, (check.__name__, checked.violations)
    # ...and a second copy of it does not: "perhaps" is one e-mail at most.
    assert evidence.mails is not None
    evidence.mails = [*evidence.mails, evidence.mails[-1]]
    assert not check_action_mail(evidence, store).passed
