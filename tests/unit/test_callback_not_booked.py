"""A caller whose queued callback cannot be booked (the database away) is told so and keeps
waiting in the same place: before, the booking failed in silence and the caller, who had just
confirmed a number, waited for a call that would never come."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from ivr.acd.config import QueueSettings
from ivr.acd.distributor import Distributor, WaitingCall
from ivr.acd.step import QueueStep
from ivr.callflows.model import QueueNode
from ivr.callflows.session import CallContext
from ivr.clock import SystemClock
from ivr.tickets.status import QueueResult
from ivr.tickets.store import NewCall, SqlTicketStore
from ivr.tickets.writer import StoreUnavailable
from ivr.voicemail.config import VoicemailSettings
from tests.fakes import FakeChannel, Script, named_prompts

NAMES = ["vm_callback_is", "vm_callback_confirm", "queue_callback_not_booked", "queue_callback_no_number"]
PROMPTS = named_prompts(*NAMES)


class StoreAway:
    def __init__(self) -> None:
        self.tried = 0

    async def accept(self, call: WaitingCall, number: str, source: str, arrived_at: datetime, ahead: int) -> object:
        self.tried += 1
        raise StoreUnavailable("the ticket database is unavailable; try again shortly")


class NoOffers:
    async def dial(self, endpoint: str, **_: Any) -> Any:
        raise AssertionError("nobody is logged in")


async def test_a_callback_not_booked_is_said_and_the_place_kept(sqlite_store: SqlTicketStore) -> None:
    settings = QueueSettings.model_validate({})
    dist = Distributor(NoOffers(), settings, SystemClock())  # type: ignore[arg-type]
    booking = StoreAway()
    step = QueueStep(
        dist,
        None,
        None,
        settings,
        None,
        callbacks=booking,
        voicemail=VoicemailSettings(key_timeout_s=0.05),  # type: ignore[arg-type]
    )
    channel = FakeChannel(number="3331234567", script=Script(keys_after_play={0: "1"}))  # confirms its number
    ctx = CallContext(channel=channel, store=sqlite_store, clock=SystemClock(), prompts=PROMPTS)
    ctx.ticket_id = await sqlite_store.open_call(NewCall("c", datetime.now(UTC), "3331234567", None, "800000039"))
    call = dist.enqueue(ctx.ticket_id, channel, None, "3331234567")

    assert await step._book_callback(ctx, call, datetime.now(UTC)) is False
    heard = [Path(m).name for play in channel.played for m in play]
    assert booking.tried == 1 and heard[-1] == "queue_callback_not_booked", heard
    assert call in dist.waiting and not call.held and not channel.hung_up


class SlowCap:
    """An admission whose write takes seconds (an outbox replay, a busy database)."""

    def __init__(self) -> None:
        self.moments: list[datetime] = []

    async def admit(self, moment: datetime, ticket_id: int | None = None) -> bool:
        self.moments.append(moment)
        await asyncio.sleep(0.4)
        return True


async def test_a_queued_callback_keeps_the_moment_its_call_was_admitted(sqlite_store: SqlTicketStore) -> None:
    """Full run 7: four callbacks took places 1-3 s after their calls' admission, the time the
    admission's write took before the call joined the queue."""
    settings = QueueSettings.model_validate({})
    dist = Distributor(NoOffers(), settings, SystemClock())  # type: ignore[arg-type]
    cap = SlowCap()
    step = QueueStep(dist, cap, None, settings, None, callbacks=StoreAway())  # type: ignore[arg-type]
    booked: list[datetime] = []

    async def wants_a_callback(ctx: CallContext, call: WaitingCall, announcer: Any) -> QueueResult:
        return QueueResult.CALLBACK

    async def book(ctx: CallContext, call: WaitingCall, arrived: datetime) -> bool:
        booked.append(arrived)
        return True

    step._wait = wants_a_callback  # type: ignore[method-assign]
    step._book_callback = book  # type: ignore[method-assign]
    dist.staffed = lambda topic, language=None: True  # type: ignore[method-assign]
    channel = FakeChannel(number="3331234567", script=Script())
    prompts = named_prompts("queue_callback_booked")
    ctx = CallContext(channel=channel, store=sqlite_store, clock=SystemClock(), prompts=prompts)
    ctx.ticket_id = await sqlite_store.open_call(NewCall("c", datetime.now(UTC), "3331234567", None, "800000039"))
    node = QueueNode(type="queue", fallback="vm")
    assert await step(ctx, node) is None
    assert booked == cap.moments  # the admission's moment, not the queue's 0.4 s later
