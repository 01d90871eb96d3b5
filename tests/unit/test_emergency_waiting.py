"""An emergency closure's choice for the callers already waiting: each caller on the line (not one
whose operator's phone is ringing, not a booked callback) leaves the queue within a second, told
why, to leave a message, or to book a callback (a message when callbacks are off)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from pathlib import Path

from ivr.acd.config import QueueSettings
from ivr.acd.distributor import Distributor
from ivr.acd.step import QueueStep
from ivr.callflows.session import CallContext
from ivr.clock import SystemClock
from ivr.tickets.status import QueueResult
from ivr.tickets.store import NewCall, SqlTicketStore
from tests.console_support import console_lab
from tests.fakes import FakeChannel, named_prompts
from tests.unit.test_callback_not_booked import NoOffers


class Quiet:
    """An announcer with nothing to say: the test is about the closure, not the announcements."""

    callback_offered = False

    async def announce(self) -> None:
        return None


def distributor() -> Distributor:
    return Distributor(NoOffers(), QueueSettings.model_validate({}), SystemClock())  # type: ignore[arg-type]


async def test_only_callers_waiting_on_the_line_unoffered_are_sent() -> None:
    dist = distributor()
    waiting = dist.enqueue(1, FakeChannel("a"), None, "3330000001")
    ringing = dist.enqueue(2, FakeChannel("b"), None, "3330000002")
    booked = dist.enqueue(3, FakeChannel("c"), None, "3330000003")
    ringing.offering, booked.virtual = object(), True  # type: ignore[assignment]
    assert dist.send_away(QueueResult.CLOSED) == 1
    assert (waiting.sent_away, ringing.sent_away, booked.sent_away) == (QueueResult.CLOSED, None, None)
    assert dist.send_away(QueueResult.CALLBACK) == 0  # already sent: the first choice stands


async def test_a_waiting_caller_sent_away_is_told_and_leaves_the_queue(sqlite_store: SqlTicketStore) -> None:
    dist = distributor()
    ctx, channel, waiting = await _waiting(dist, sqlite_store, "3331234567", Quiet())
    await asyncio.sleep(0.2)
    assert not waiting.done()
    dist.send_away(QueueResult.CALLBACK)  # a callback asked for, but this line books none
    assert await asyncio.wait_for(waiting, 3) is QueueResult.CLOSED
    assert [Path(m).name for play in channel.played for m in play] == ["queue_closed_now"]
    ticket = await sqlite_store.get(ctx.ticket_id)
    assert ticket is not None
    assert [e.detail for e in ticket.events if e.kind == "queue_sent_away"] == [{"to": "closed"}]


async def test_the_consoles_closed_now_sends_the_waiting_callers_as_chosen(tmp_path: Path) -> None:
    async with console_lab(tmp_path) as lab:
        call = lab.deps.distributor.enqueue(1, FakeChannel("x"), None, "3330000009")
        sara = await lab.login("sara")
        page = await (await sara.get("/console/closures")).text()
        assert 'name="waiting" value="voicemail"' in page
        token = await lab.csrf(sara, "/console/closures")
        bad = {"_csrf": token, "mode": "now", "reason": "allagamento", "waiting": "ignora"}
        assert (await sara.post("/console/closures", data=bad, allow_redirects=False)).status == 400
        data = {**bad, "waiting": "voicemail"}
        assert (await sara.post("/console/closures", data=data, allow_redirects=False)).status == 303
        assert call.sent_away is QueueResult.CLOSED
        lab.deps.distributor.withdraw(call)


class Talker:
    """An announcement that lasts (the queue's welcome and position, on a real line 10 s and more)."""

    callback_offered = False

    async def announce(self) -> None:
        await asyncio.sleep(30)


async def test_a_caller_sent_away_mid_announcement_is_told_at_once(sqlite_store: SqlTicketStore) -> None:
    dist = distributor()
    _ctx, _channel, waiting = await _waiting(dist, sqlite_store, "3331234568", Talker())
    await asyncio.sleep(0.2)  # the announcement has begun
    dist.send_away(QueueResult.CLOSED)
    assert await asyncio.wait_for(waiting, 2) is QueueResult.CLOSED  # not after the announcement's 30 s


async def _waiting(
    dist: Distributor, store: SqlTicketStore, number: str, announcer: object
) -> tuple[CallContext, FakeChannel, asyncio.Future[object]]:
    """A caller of `number` waiting in the queue (callbacks off), with `announcer` speaking."""
    step = QueueStep(dist, None, None, QueueSettings.model_validate({}), None)  # type: ignore[arg-type]
    channel = FakeChannel(number, number=number)
    ctx = CallContext(channel=channel, store=store, clock=SystemClock(), prompts=named_prompts("queue_closed_now"))
    ctx.ticket_id = await store.open_call(NewCall(number, datetime.now(UTC), number, None, "800000039"))
    call = dist.enqueue(ctx.ticket_id, channel, None, number)
    return ctx, channel, asyncio.ensure_future(step._wait(ctx, call, announcer))  # type: ignore[arg-type]
