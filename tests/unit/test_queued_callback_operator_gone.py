"""A queued callback whose operator hangs up while the citizen hears the callback notice (found
by the soak's callback invariants): the citizen must not be "connected" to nobody and the
callback closed as completed; it keeps its place and is dialled again, not counted as an attempt."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import select

from ivr.acd.config import QueueSettings
from ivr.acd.distributor import Distributor
from ivr.acd.legs import Conversation
from ivr.acd.queued import CallbackQueue
from ivr.acd.queued_store import QueuedCallbacks
from ivr.clock import SystemClock
from ivr.schema.callbacks import QueuedCallback
from ivr.telephony.ports import CallChannel
from ivr.tickets.db import make_engine, upgrade
from ivr.tickets.store import SqlTicketStore
from tests.fakes import FakeChannel
from tests.unit.test_acd import FakeOfferer, info, online
from tests.unit.test_citizens import ROME, T0, _ticket, prompts


class Bridging:
    """Records who was connected to whom; an operator already gone ends it at once, as the real
    bridge does (ivr.acd.legs: joining a hung-up leg fails, the conversation ends "operator")."""

    def __init__(self) -> None:
        self.with_nobody = 0
        self.talks = 0

    async def converse(
        self, caller: CallChannel, operator: CallChannel, *, record_as: str | None, bridge_id: str | None = None
    ) -> Conversation:
        if operator.hung_up:
            self.with_nobody += 1
            return Conversation("operator", None)
        self.talks += 1
        return Conversation("caller", None)


class CitizenLeg(FakeChannel):
    """The citizen's phone: while it hears the notice, the operator of the first attempt hangs up."""

    def __init__(self, channel_id: str, operator: FakeChannel | None) -> None:
        super().__init__(channel_id)
        self.operator = operator

    async def play(self, media: Sequence[str], *, interruptible: bool = False) -> bool:
        done = await super().play(media, interruptible=interruptible)
        if self.operator is not None:
            self.operator.caller_hangs_up()  # the operator leaves during the notice
        return done


class Phones(FakeOfferer):
    def __init__(self) -> None:
        super().__init__({"ada"})
        self.operator_legs: list[FakeChannel] = []
        self.citizen_legs: list[CitizenLeg] = []

    async def dial(
        self, endpoint: str, *, caller_id: str | None, timeout: float, cancelled: asyncio.Event
    ) -> CallChannel:
        self.dialled.append(endpoint)
        await asyncio.sleep(0.01)
        if endpoint.endswith("@carrier"):
            first = not self.citizen_legs
            leg = CitizenLeg(f"citizen-{len(self.citizen_legs)}", self.operator_legs[-1] if first else None)
            self.citizen_legs.append(leg)
            return leg
        operator = FakeChannel(f"ada-{len(self.operator_legs)}")
        self.operator_legs.append(operator)
        return operator


@dataclass
class CallbackRun:
    """One queued callback served to its end by an operator, ada, on fakes: the store and the
    callback's ticket, for the test's assertions."""

    store: SqlTicketStore
    ticket_id: int
    row: QueuedCallback | None


@contextlib.asynccontextmanager
async def one_callback(
    db_url: str, tmp_path: Path, phones: FakeOfferer, bridging: Any, settings: QueueSettings, **queue: Any
) -> AsyncIterator[CallbackRun]:
    engine = make_engine(db_url)
    upgrade(engine)
    store = SqlTicketStore(engine, tz=ROME)
    dist = Distributor(phones, settings, SystemClock())

    async def always_open(_now: datetime) -> bool:
        return True

    callbacks = CallbackQueue(
        dist, QueuedCallbacks(store), store, phones, bridging, lambda _code: prompts(tmp_path), SystemClock(),
        settings, always_open, ROME, **queue,
    )  # fmt: skip
    try:
        tid = await _ticket(store, "c0", "3330000001")
        asking = dist.enqueue(tid, FakeChannel("c0"), None, "3330000001")
        await callbacks.accept(asking, "3330000001", "confirmed", T0, 0)
        online(dist, info("ada"))
        row = None
        for _ in range(300):
            row = await store.run_read(lambda s: s.scalar(select(QueuedCallback)))
            if row is not None and row.state == "completed":
                break
            await asyncio.sleep(0.02)
        yield CallbackRun(store, tid, row)
    finally:
        await store.stop()
        engine.dispose()


async def test_an_operator_gone_during_the_citizen_notice_is_no_completed_callback(db_url: str, tmp_path: Path) -> None:
    phones, bridging = Phones(), Bridging()
    settings = QueueSettings.model_validate({"wrap_up_s": 0.01, "callback_retry_s": 0.2, "callback_attempts": 3})
    async with one_callback(db_url, tmp_path, phones, bridging, settings) as run:
        row, store, tid = run.row, run.store, run.ticket_id
        assert bridging.with_nobody == 0, "the citizen was connected to an operator who had hung up"
        assert row is not None and row.state == "completed" and bridging.talks == 1
        assert len(phones.citizen_legs) == 2 and phones.citizen_legs[0].hung_up  # told, then dialled again
        assert row.attempts == 1  # the operator's leaving is not the citizen's attempt
        events = [e.kind for e in (await store.get(tid)).events]  # type: ignore[union-attr]
        assert events.count("callback_connected") == 1 and events.count("callback_try") == 1
