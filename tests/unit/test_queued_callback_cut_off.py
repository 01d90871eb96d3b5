"""A queued callback whose conversation the line cut (full soak run 12, callback 7: the citizen
connected to soak05 a second before Asterisk restarted, heard nobody, and the store said
"completed"): the citizen answered but was never served, so the try is on the timeline as cut
off and the callback keeps its place and is dialled again at once."""

from __future__ import annotations

import asyncio
from pathlib import Path

from ivr.acd.config import QueueSettings
from ivr.acd.legs import Conversation
from ivr.telephony.ports import CallChannel
from tests.fakes import FakeChannel
from tests.unit.test_acd import FakeOfferer
from tests.unit.test_queued_callback_operator_gone import one_callback


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
    phones, bridging = Phones(), Bridging()
    settings = QueueSettings.model_validate({"wrap_up_s": 0.01, "callback_retry_s": 30, "callback_attempts": 3})
    async with one_callback(db_url, tmp_path, phones, bridging, settings) as run:
        row = run.row
        assert row is not None and row.state == "completed", "the cut conversation was never made again"
        assert bridging.talks == 2 and len(phones.citizen_legs) == 2  # dialled again at once, not after 30 s
        assert row.attempts == 2 and row.connected_at is not None
        ticket = await run.store.get(run.ticket_id)
        assert ticket is not None
        tries = [e.detail["result"] for e in ticket.events if e.kind == "callback_try" and e.detail]
        assert tries == ["cut_off", "answered"]
        assert [e.kind for e in ticket.events].count("callback_connected") == 2


class LongTalkThenCut:
    """A conversation that goes on for a while, then the line drops both legs."""

    def __init__(self) -> None:
        self.talks = 0

    async def converse(
        self, caller: CallChannel, operator: CallChannel, *, record_as: str | None, bridge_id: str | None = None
    ) -> Conversation:
        self.talks += 1
        await asyncio.sleep(0.3)
        assert isinstance(caller, FakeChannel) and isinstance(operator, FakeChannel)
        caller.line_drops()
        operator.line_drops()
        return Conversation("caller", None)


async def test_a_conversation_cut_after_real_talk_is_a_callback_done(db_url: str, tmp_path: Path) -> None:
    """Cut after `cut_redial_s` of talk, the citizen was served: not dialled again (full run 13:
    citizens cut after 81 s were dialled again, did not answer, and ended "unreachable")."""
    phones, bridging = Phones(), LongTalkThenCut()
    settings = QueueSettings.model_validate({"wrap_up_s": 0.01, "callback_retry_s": 30, "callback_attempts": 3})
    async with one_callback(db_url, tmp_path, phones, bridging, settings, cut_redial_s=0.1) as run:
        row = run.row
        assert row is not None and row.state == "completed" and bridging.talks == 1
        ticket = await run.store.get(run.ticket_id)
        assert ticket is not None
        assert [e.detail["result"] for e in ticket.events if e.kind == "callback_try" and e.detail] == ["answered"]
