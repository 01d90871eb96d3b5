"""No asyncio task outlives what it served: the engine taken through the soak's faults between it
and Asterisk (its event socket cut while idle, under a call in the menu, a caller waiting in the
queue and a conversation with an operator; Asterisk restarted under a call in the menu and under a
conversation) is back to the tasks it had before once the line is quiet again, coroutine by
coroutine.

Full run 6 reported the tasks' floor growing on an engine that lived through those faults; a task
left behind per call or per reconnect shows here as a coroutine whose count grew, by name."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from ivr.app import Engine
from ivr.lab.carrier import LabCall
from ivr.tasks import tasks_by_coroutine
from tests.harness.callers import Watcher, citizen_to_voicemail, run_call
from tests.harness.faults import FaultyLink
from tests.harness.pbx import PbxPair, running_engine
from tests.harness.queueline import QueueLine, home_operators, queue_line
from tests.harness.voices import Voices
from tests.harness.waits import soon

pytestmark = pytest.mark.asterisk
SETTLE_S = 30.0  # an old ARI session is closed 5 s after a reconnect; a resynced call ends within seconds


def _tasks() -> Counter[str]:
    """The loop's tasks but this test's own and the link's (the network: a task per connection, as
    many as the engine's pool keeps open at that moment): the engine's and the lab carrier's."""
    me = asyncio.current_task()
    counts = tasks_by_coroutine(t for t in asyncio.all_tasks() if t is not me)
    return Counter({name: n for name, n in counts.items() if not name.startswith("FaultyLink.")})


async def _grown_after_settling(engine: Engine, before: Counter[str]) -> Counter[str]:
    """What is still above `before` once no call is up and SETTLE_S went by without it falling."""
    await soon(lambda: engine.dispatcher.active == 0, "the calls to end", SETTLE_S)
    loop = asyncio.get_running_loop()
    deadline = loop.time() + SETTLE_S
    while True:
        grown = _tasks() - before
        if not grown or loop.time() > deadline:
            return grown
        await asyncio.sleep(0.5)


@pytest.fixture
async def linked(pbx: PbxPair, tmp_path: Path) -> AsyncIterator[tuple[Engine, FaultyLink]]:
    base = pbx.settings(tmp_path)
    ari_link = FaultyLink("127.0.0.1", base.asterisk.ari.port)
    await ari_link.start()
    settings = pbx.settings(tmp_path, {"asterisk": {"ari": {"port": ari_link.port, "heartbeat_s": 1.0}}})
    try:
        async with running_engine(settings) as engine:
            yield engine, ari_link
    finally:
        await ari_link.stop()


async def test_the_soaks_asterisk_faults_leave_no_task_behind(pbx: PbxPair, linked: tuple[Engine, FaultyLink]) -> None:
    engine, ari_link = linked
    ticket, _ = await run_call(engine, pbx.carrier, "3361000001", citizen_to_voicemail)  # every part warmed up
    assert ticket.outcome == "voicemail"
    await soon(lambda: engine.dispatcher.active == 0, "the warm-up call to end", SETTLE_S)
    await asyncio.sleep(3.0)  # its last writes and notes
    before = _tasks()

    ari_link.cut()  # idle: the event socket goes and comes back
    await soon(lambda: not engine.ari.connected.is_set(), "the engine to notice the cut", 10)
    await asyncio.sleep(2.0)
    ari_link.restore()
    await soon(lambda: engine.ari.connected.is_set(), "the event socket back", 15)

    async def through_a_cut(call: LabCall, w: Watcher) -> None:  # the welcome ends unseen
        await w.playing("welcome")
        ari_link.cut()
        await asyncio.sleep(6.0)
        ari_link.restore()
        await citizen_to_voicemail(call, w)

    ticket, _ = await run_call(engine, pbx.carrier, "3361000002", through_a_cut)
    assert ticket.outcome == "voicemail"

    in_menu: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    async def lost_in_the_menu(call: LabCall, w: Watcher) -> None:
        await w.playing("menu_main")
        in_menu.set_result(None)
        await call.wait_ended(timeout=60)

    connections = engine.ari.connections
    lost = asyncio.ensure_future(run_call(engine, pbx.carrier, "3361000003", lost_in_the_menu))
    await in_menu
    await asyncio.to_thread(pbx.restart_engine_asterisk)
    ticket, _ = await lost
    assert ticket.outcome == "failed"
    await soon(lambda: engine.ari.connections > connections and engine.ari.connected.is_set(), "ARI back", 30)
    ticket, _ = await run_call(engine, pbx.carrier, "3361000004", citizen_to_voicemail)
    assert ticket.outcome == "voicemail"

    grown = await _grown_after_settling(engine, before)
    assert not grown, f"tasks left behind, by coroutine: {dict(grown)} (before: {dict(before)})"


async def test_queue_waits_and_conversations_through_the_faults_leave_no_task_behind(
    pbx: PbxPair, tmp_path: Path, voices: Voices
) -> None:
    """The per-call and per-operator waits (the queue's music and keys, the offer, the ring, the
    conversation's end) cut off from their events and lost with Asterisk."""
    base = pbx.settings(tmp_path)
    ari_link = FaultyLink("127.0.0.1", base.asterisk.ari.port)
    await ari_link.start()
    ari = {"ari": {"port": ari_link.port, "heartbeat_s": 1.0}}
    try:
        async with (
            queue_line(pbx, tmp_path, voices, asterisk=ari) as line,
            home_operators(line, pbx, {"ugo": "3470000001"}, talk_s=60.0),
        ):
            await _queue_faults(line, pbx, ari_link)
    finally:
        await ari_link.stop()


async def _queue_faults(line: QueueLine, pbx: PbxPair, ari_link: FaultyLink) -> None:
    engine = line.engine

    async def talk_then_leave(call: LabCall, w: Watcher) -> None:
        await w.until_event("operator_answered", timeout=60)
        await asyncio.sleep(2.0)
        await call.hangup()

    ticket, _ = await line.call(talk_then_leave)  # every part warmed up
    assert ticket.queue_result == "answered"
    await soon(lambda: engine.dispatcher.active == 0 and line.state("ugo").value == "available", "ugo free", 30)
    await asyncio.sleep(3.0)
    before = _tasks()

    async def cut_while_talking(call: LabCall, w: Watcher) -> None:
        await w.until_event("operator_answered", timeout=60)
        ari_link.cut()
        await asyncio.sleep(4.0)
        ari_link.restore()
        await asyncio.sleep(3.0)
        await call.hangup()

    ticket, _ = await line.call(cut_while_talking)
    assert ticket.queue_result == "answered"
    await soon(lambda: line.state("ugo").value == "available", "ugo free again", 30)

    await engine.distributor.set_presence("ugo", "paused")

    async def cut_while_waiting(call: LabCall, w: Watcher) -> None:
        await w.until_event("queue_admitted", timeout=60)
        await asyncio.sleep(1.0)
        ari_link.cut()
        await asyncio.sleep(4.0)
        ari_link.restore()
        await soon(lambda: engine.ari.connected.is_set(), "the event socket back", 15)
        await asyncio.sleep(2.0)
        await call.hangup()

    ticket, _ = await line.call(cut_while_waiting)
    assert ticket.queue_result == "abandoned", ticket.queue_result
    await engine.distributor.set_presence("ugo", "available")

    talking: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    async def lost_while_talking(call: LabCall, w: Watcher) -> None:
        await w.until_event("operator_answered", timeout=60)
        talking.set_result(None)
        await call.wait_ended(timeout=60)

    connections = engine.ari.connections
    lost = asyncio.ensure_future(line.call(lost_while_talking))
    await talking
    await asyncio.to_thread(pbx.restart_engine_asterisk)
    await lost
    await soon(lambda: engine.ari.connections > connections and engine.ari.connected.is_set(), "ARI back", 30)
    await line.until(lambda: engine.distributor.agents["ugo"].state.value == "available", "ugo free after", 60)
    ticket, _ = await line.call(talk_then_leave)
    assert ticket.queue_result == "answered"
    await soon(lambda: line.state("ugo").value == "available", "ugo free at the end", 30)

    grown = await _grown_after_settling(engine, before)
    assert not grown, f"tasks left behind, by coroutine: {dict(grown)} (before: {dict(before)})"
