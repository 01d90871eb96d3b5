"""The soak's driver on the console served as the engine serves it (ivr.app): aiohttp's test
server cancels a handler whose client went away, the engine's runner lets it finish, as the
console did in run 6. Shared by the lost-answer tests of web requests and replies."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path

from aiohttp import web

from ivr.api.server import make_api
from ivr.asterisk.instance import free_port
from ivr.lab.soak.action_journal import ActionJournal
from ivr.lab.soak.driver import ActionDriver, Cast
from ivr.lab.soak.driver_http import LineConsole, Target
from ivr.lab.soak.driver_setup import jobs
from ivr.lab.soak.evidence import SinkMail, SoakEvidence
from tests.console_support import PASSWORD, ConsoleLab
from tests.harness.inbox import Inbox


@asynccontextmanager
async def served_driver(
    lab: ConsoleLab, tmp_path: Path, retry_every_s: float
) -> AsyncIterator[tuple[LineConsole, ActionDriver]]:
    runner = web.AppRunner(make_api(lab.deps.web), access_log=None)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()

    async def locate() -> Target:
        return Target(f"http://127.0.0.1:{port}", "token")

    console = LineConsole(locate, {"sara": PASSWORD})
    driver = ActionDriver(
        [], [], console, ActionJournal(tmp_path / "actions.jsonl"), Cast(("anna",), "sara"), jobs(),
        retry_for_s=30, retry_every_s=retry_every_s,
    )  # fmt: skip
    try:
        yield console, driver
    finally:
        await console.close()
        await runner.cleanup()


def sink_evidence(inbox: Inbox, ticket_id: int, tmp_path: Path, driver: ActionDriver) -> SoakEvidence:
    """What the soak's checker is given: the sink's mails (all of this request) and the journal."""
    sink = [SinkMail(recipients=to, message_id=str(m["Message-ID"]), subject=str(m["Subject"]), ticket=ticket_id)
            for to, m in inbox.mails]  # fmt: skip
    return SoakEvidence([], "", tmp_path, tmp_path, 0, datetime.now(UTC), mails=sink, actions=driver.records)
