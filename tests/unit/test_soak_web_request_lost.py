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
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from ivr.api.server import make_api
from ivr.asterisk.instance import free_port
from ivr.lab.soak import driver_http
from ivr.lab.soak.action_journal import ActionJournal, ActionResult
from ivr.lab.soak.actions import Action, ActionKind
from ivr.lab.soak.checks_actions import check_action_mail, check_web_requests
from ivr.lab.soak.driver import ActionDriver, Cast
from ivr.lab.soak.driver_http import LineConsole, Target
from ivr.lab.soak.driver_setup import jobs
from ivr.lab.soak.evidence import SinkMail, SoakEvidence
from ivr.lab.soak.store_view import read_store
from ivr.webrequests.service import WebRequests
from tests.console_support import PASSWORD, ConsoleLab, console_lab
from tests.harness.inbox import Inbox, smtp_inbox

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
    # Served as the engine serves it (ivr.app): the handler of a post whose client went away
    # goes on, as the engine's did in run 6.
    runner = web.AppRunner(make_api(lab.deps.web), access_log=None)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()

    async def locate() -> Target:
        return Target(f"http://127.0.0.1:{port}", "token")

    console = LineConsole(locate, {"sara": PASSWORD})
    driver = ActionDriver(
        [], [], console, ActionJournal(tmp_path / "actions.jsonl"), Cast(("anna",), "sara"), jobs(),
        retry_for_s=30, retry_every_s=0.5,
    )  # fmt: skip
    try:
        filing = {"ref": "web-0050", "topic": "citizens", "email": True}
        await driver.carry_out(Action(kind=ActionKind.WEB_REQUEST, at_s=0.0, params=filing))
        await asyncio.sleep(SLOW_S)  # whatever the first post still had to do is done
    finally:
        await console.close()
        await runner.cleanup()

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
    sink = [SinkMail(recipients=to, message_id=str(m["Message-ID"]), subject=str(m["Subject"]),
                     ticket=int(m["Subject"].split("n. ")[1].split()[0])) for to, m in inbox[0].mails]  # fmt: skip
    evidence = SoakEvidence([], "", tmp_path, tmp_path, 0, datetime.now(UTC), mails=sink, actions=driver.records)
    for check in (check_web_requests, check_action_mail):
        checked = check(evidence, view)
        assert checked.passed, checked.violations
