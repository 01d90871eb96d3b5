"""A citizen's form whose answer the driver never got, on the real console, store and a real SMTP
server. Full run 6 (request web-0050, tickets 3241 and 3275): after a database outage the form's
post waited longer than the driver's 20 s; the driver sent the form again, as a browser or a
person does, and the line filed the request twice and e-mailed two receipts. The checker saw
nothing: it looked for the ticket the form gave, not for a second one. The form's token now
makes the second post answer with the first request, and the checker counts the citizen's
requests in the store."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from ivr.lab.soak import driver_http
from ivr.lab.soak.action_journal import ActionResult
from ivr.lab.soak.actions import Action, ActionKind
from ivr.lab.soak.checks_actions import check_action_mail, check_web_requests
from ivr.lab.soak.store_view import read_store
from ivr.webrequests.service import WebRequests
from tests.console_support import ConsoleLab, console_lab
from tests.harness.inbox import Inbox, smtp_inbox
from tests.unit.soak_web_line import served_driver, sink_evidence

PATIENCE_S = 1.0  # the driver's HTTP timeout, here (20 s in the soak)
SLOW_S = 2.0  # the store's first filing, slower than that (the database after an outage)


@pytest.fixture
def inbox() -> Iterator[tuple[Inbox, int]]:
    with smtp_inbox() as found:
        yield found


@pytest.fixture
async def lab(tmp_path: Path, inbox: tuple[Inbox, int]) -> AsyncIterator[ConsoleLab]:
    mail = {"host": "127.0.0.1", "port": inbox[1], "tls": "none", "sender": "NUL <noreply@nul.example>"}
    async with console_lab(tmp_path, {"mail": mail}) as lab:
        yield lab


class SlowFirstFiling(WebRequests):
    def __init__(self, inner: WebRequests) -> None:
        super().__init__(inner.db)
        self.slow = True

    async def receive(self, *args: Any, **kwargs: Any) -> int:
        if self.slow:
            self.slow = False
            await asyncio.sleep(SLOW_S)
        return await super().receive(*args, **kwargs)


async def test_a_form_whose_answer_was_lost_is_filed_once_and_the_checker_counts_it(
    lab: ConsoleLab, inbox: tuple[Inbox, int], tmp_path: Path, monkeypatch: Any
) -> None:
    channel = lab.deps.web.web_requests
    channel.requests = SlowFirstFiling(channel.requests)
    monkeypatch.setattr(driver_http, "TIMEOUT", aiohttp.ClientTimeout(total=PATIENCE_S))
    async with served_driver(lab, tmp_path, retry_every_s=0.5) as (_, driver):
        filing = {"ref": "web-0050", "topic": "citizens", "email": True}
        await driver.carry_out(Action(kind=ActionKind.WEB_REQUEST, at_s=0.0, params=filing))
        await asyncio.sleep(SLOW_S)  # whatever the first post still had to do is done

    (filed,) = driver.records
    assert filed.attempts >= 2  # the first post got no answer in time
    assert (filed.result, filed.status) == (ActionResult.DONE, 200), filed.answer
    assert filed.params["filed_before"] is True and filed.params["mail_sent"] is True
    receipts = [(to, str(m["Subject"])) for to, m in inbox[0].mails]
    assert receipts == [
        (["web-0050@cittadini.example.it"], f"Numero per il lavoro: richiesta n. {filed.ticket} ricevuta")
    ]

    view = await asyncio.to_thread(read_store, lab.deps.settings.database_url)
    assert [(w.ticket_id, w.email) for w in view.web_requests] == [(filed.ticket, "web-0050@cittadini.example.it")]
    assert filed.ticket is not None
    evidence = sink_evidence(inbox[0], filed.ticket, tmp_path, driver)  # one request: every mail is its
    for check in (check_web_requests, check_action_mail):
        checked = check(evidence, view)
        assert checked.passed, checked.violations
