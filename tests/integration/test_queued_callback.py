"""The queued callback with real calls: the caller asks to be called back, hangs up, keeps the
place; the operator's phone rings when the place comes, then the lab carrier receives the call
to the citizen's number and hears the callback notice."""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from ivr.lab.carrier import LabCall, LabPhoneCall
from ivr.schema.callbacks import QueuedCallback
from ivr.schema.tickets import Ticket
from tests.harness.callers import Watcher, run_call
from tests.harness.listen import PromptEar
from tests.harness.pbx import PbxPair
from tests.harness.process_line import ProcessLine, process_line
from tests.harness.queueline import QueueLine, queue_line
from tests.harness.voices import Voices
from tests.harness.waits import until

pytestmark = pytest.mark.asterisk
CALLBACK = {"callback_retry_s": 2, "callback_citizen_timeout_s": 5, "announce_every_s": 10}


def served_then_leave(seconds: float = 2.0) -> Any:
    async def script(call: LabCall, w: Watcher) -> None:
        await w.until_event("operator_answered", timeout=120)
        await asyncio.sleep(seconds)
        await call.hangup()

    return script


async def book_callback(call: LabCall, w: Watcher) -> None:
    """Hears the callback offer, presses 2, confirms the caller id read back, hears it booked."""
    await w.played("queue_callback_offer", timeout=60)
    await call.press("2")
    await w.played("vm_callback_confirm")
    await asyncio.sleep(0.3)
    await call.press("1")
    await w.played("queue_callback_booked")
    await call.wait_ended(timeout=20)


async def listen(ring: LabPhoneCall, seconds: float) -> Path:
    """Answer the carrier's call with what the citizen hears recorded from the pick-up, hang up
    after `seconds`. Recorded from before the answer: the notice begins at the answer, and a
    recording started after it heard nothing of it on a loaded machine (a CI run)."""
    heard = await ring.answer_recorded(f"citizen-{uuid.uuid4().hex[:8]}")
    await asyncio.sleep(seconds)
    await ring.hangup()  # ends the recording too
    return heard


async def callback_row(line: QueueLine, ticket_id: int) -> QueuedCallback:
    def fn(session: Session) -> QueuedCallback:
        row = session.scalar(select(QueuedCallback).where(QueuedCallback.ticket_id == ticket_id))
        assert row is not None
        session.expunge(row)
        return row

    return await line.engine.store.run_read(fn)


async def until_state(line: QueueLine, ticket_id: int, state: str, timeout: float = 60) -> QueuedCallback:
    for _ in range(int(timeout / 0.2)):
        row = await callback_row(line, ticket_id)
        if row.state == state:
            return row
        await asyncio.sleep(0.2)
    raise AssertionError(f"callback of ticket {ticket_id} never {state}: {row.state}")


async def test_callback_keeps_the_place_behind_two_waiting_callers(
    pbx: PbxPair, tmp_path: Path, voices: Voices, prompts_cache: Path
) -> None:
    ear = PromptEar(prompts_cache)
    async with queue_line(pbx, tmp_path, voices, queue=CALLBACK) as line:
        ada = await line.operator("ada", presence="paused")  # at the desk, not yet taking calls
        assert ada is not None
        engine = line.engine
        first = asyncio.ensure_future(run_call(engine, pbx.carrier, "3471110001", served_then_leave()))
        await line.until(lambda: len(engine.distributor.waiting) == 1, "the first caller waiting")
        second = asyncio.ensure_future(run_call(engine, pbx.carrier, "3471110002", served_then_leave()))
        await line.until(lambda: len(engine.distributor.waiting) == 2, "the second caller waiting")
        booked, booking_call = await run_call(engine, pbx.carrier, "3471110003", book_callback)
        assert (booked.queue_result, booked.end_reason) == ("callback", "callback_queued")
        heard = await ear.hear(await booking_call.heard())
        assert heard.index("queue_callback_offer") < heard.index("queue_callback_booked")
        # The caller is gone, the place is not: third in line, behind the two who came first.
        assert [(w.ticket_id, w.virtual) for w in engine.distributor.waiting][2] == (booked.id, True)
        snap = engine.distributor.snapshot()
        assert (snap["in_person"], snap["callbacks"]) == (2, 1)
        assert (await callback_row(line, booked.id)).state == "waiting"

        await engine.distributor.set_presence("ada", "available")
        done_first, _ = await first
        done_second, _ = await second
        ring = await asyncio.wait_for(pbx.carrier.phones.get(), 90)  # the citizen's phone rings
        assert ring.number == "3471110003"
        citizen_heard = await listen(ring, 9.0)
        assert "callback_citizen_notice" in await ear.hear(citizen_heard)
        await until_state(line, booked.id, "completed")

        ticket = await engine.store.get(booked.id)
        assert ticket is not None
        kinds = [e.kind for e in ticket.events]
        for kind in ("callback_offered", "callback_accepted", "offer", "callback_connected", "callback_try"):
            assert kind in kinds, kinds
        offer_at = next(e.at for e in ticket.events if e.kind == "offer")
        assert done_first.operator_answered_at is not None and done_second.operator_answered_at is not None
        assert done_first.operator_answered_at < done_second.operator_answered_at < offer_at
        offer = next(e for e in ticket.events if e.kind == "offer")
        assert offer.detail == {"operator": "ada", "via": "softphone", "callback": True}
        # The operator was told whom they call before the citizen answered.
        assert ada.calls_answered() == 3
        assert "callback_operator_notice" in await ear.hear(await ada.last_heard())


async def test_unanswered_callback_is_retried_then_closed_as_unreachable(
    pbx: PbxPair, tmp_path: Path, voices: Voices
) -> None:
    async with queue_line(pbx, tmp_path, voices, queue={**CALLBACK, "callback_attempts": 2}) as line:
        await line.operator("bea", presence="paused")
        booked, _ = await run_call(line.engine, pbx.carrier, "3471110004", book_callback)
        assert booked.queue_result == "callback"
        await line.engine.distributor.set_presence("bea", "available")
        rings = []
        for _ in range(2):  # nobody picks up: rings until the engine gives up, twice
            ring = await asyncio.wait_for(pbx.carrier.phones.get(), 60)
            assert ring.number == "3471110004"
            rings.append(ring)
        row = await until_state(line, booked.id, "unreachable")
        assert row.attempts == 2 and row.connected_at is None
        ticket = await line.engine.store.get(booked.id)
        assert ticket is not None
        tries = [e.detail for e in ticket.events if e.kind == "callback_try"]
        assert [(t or {}).get("attempt") for t in tries] == [1, 2]
        assert all((t or {}).get("result") != "answered" for t in tries)
        assert ticket.events[-1].kind == "callback_unreachable"
        assert not line.engine.distributor.waiting


DIRECT = """
name: queue-only
start: queue
nodes:
  queue: {type: queue, fallback: voicemail}
  voicemail: {type: voicemail, reason: busy}
"""


async def test_engine_killed_between_offer_and_dial_loses_no_callback(pbx: PbxPair, tmp_path: Path) -> None:
    config = {"queue": {"ring_timeout_s": 15, "wrap_up_s": 1}}
    # the operator logged in, not yet taking calls
    async with process_line(pbx, tmp_path, DIRECT, config, operators={"casa": "3479990001"}, presence="paused") as line:
        await _killed_between_offer_and_dial(pbx, line)


async def _killed_between_offer_and_dial(pbx: PbxPair, line: ProcessLine) -> None:
    engine, directory, now, read, kinds = line.engine, line.directory, line.now, line.read, line.kinds

    def row() -> QueuedCallback | None:
        return read(lambda s: s.scalar(select(QueuedCallback)))

    await engine.start()
    try:
        call = await pbx.carrier.call("800000039", caller_number="3471119999")
        await until(lambda: "callback_offered" in kinds(), "the callback offer")
        await call.press("2")
        await asyncio.sleep(2.0)  # the caller id is being read back
        await call.press("1")
        await until(lambda: row() is not None, "the callback to be queued")
        await asyncio.wait_for(call.channel.wait_gone(), 30)  # booked: the caller hung up
        await until(lambda: read(lambda s: s.scalar(select(Ticket.open))) is False, "the call's ticket to close")
        engine.kill()  # SIGKILL: the place in the queue lives only in the database now
        await directory.set_presence("casa", "available", None, now)
        await engine.start()
        operator = await asyncio.wait_for(pbx.carrier.phones.get(), 60)
        assert operator.number == "3479990001"  # the operator's phone first
        await operator.take_offer()  # at home: hears the topic, presses 1
        citizen = await asyncio.wait_for(pbx.carrier.phones.get(), 60)
        assert citizen.number == "3471119999"  # then the citizen's
        await citizen.answer()
        await asyncio.sleep(9)  # the callback notice, then a moment with the operator
        await citizen.hangup()
        await until(lambda: (r := row()) is not None and r.state == "completed", "the callback completed")
        done = row()
        assert done is not None and done.attempts == 1 and done.connected_at is not None
        found = kinds()
        assert found.count("callback_accepted") == 1 and found.count("callback_connected") == 1
    finally:
        engine.stop()
