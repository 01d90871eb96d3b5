"""A queued callback whose conversation the line cut (full soak run 12, callback 7: the citizen
connected to soak05 a second before Asterisk restarted, heard nobody, and the store said
"completed"): the citizen answered but was never served, so the try is on the timeline as cut
off and the callback keeps its place and is dialled again at once."""

from __future__ import annotations

import asyncio
from datetime import datetime
from pathlib import Path

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
    """The first conversation is cut by the line (both legs gone, nobody hung up); later ones end
    with the citizen hanging up, as a served citizen does."""

    def __init__(self) -> None:
        self.talks = 0

    async def converse(
        self, caller: CallChannel, operator: CallChannel, *, record_as: str | None, bridge_id: str | None = None
    ) -> Conversation:
        self.talks += 1
        if self.talks == 1:
            assert isinstance(caller, FakeChannel) and isinstance(operator, FakeChannel)
            caller.line_drops()
            operator.line_drops()
            return Conversation("caller", None)
        return Conversation("caller", None)


class Phones(FakeOfferer):
    def __init__(self) -> None:
        super().__init__({"ada"})
        self.citizen_legs: list[FakeChannel] = []

    async def dial(
        self, endpoint: str, *, caller_id: str | None, timeout: float, cancelled: asyncio.Event
    ) -> CallChannel:
        self.dialled.append(endpoint)
        await asyncio.sleep(0.01)
        if endpoint.endswith("@carrier"):
            self.citizen_legs.append(FakeChannel(f"citizen-{len(self.citizen_legs)}"))
            return self.citizen_legs[-1]
        return FakeChannel(f"ada-{len(self.dialled)}")


async def test_a_conversation_the_line_cut_is_dialled_again_not_completed(db_url: str, tmp_path: Path) -> None:
    engine = make_engine(db_url)
    upgrade(engine)
    store = SqlTicketStore(engine, tz=ROME)
    phones = Phones()
    settings = QueueSettings.model_validate({"wrap_up_s": 0.01, "callback_retry_s": 30, "callback_attempts": 3})
    dist = Distributor(phones, settings, SystemClock())
    bridging = Bridging()

    async def always_open(_now: datetime) -> bool:
        return True

    callbacks = CallbackQueue(
        dist, QueuedCallbacks(store), store, phones, bridging, lambda _code: prompts(tmp_path), SystemClock(),
        settings, always_open, ROME,
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
        assert row is not None and row.state == "completed", "the cut conversation was never made again"
        assert bridging.talks == 2 and len(phones.citizen_legs) == 2  # dialled again at once, not after 30 s
        assert row.attempts == 2 and row.connected_at is not None
        ticket = await store.get(tid)
        assert ticket is not None
        tries = [e.detail["result"] for e in ticket.events if e.kind == "callback_try" and e.detail]
        assert tries == ["cut_off", "answered"]
        assert [e.kind for e in ticket.events].count("callback_connected") == 2
    finally:
        await store.stop()
        engine.dispose()
