"""The ticket database goes away (a real PostgreSQL stopped): the call path's writes wait in the
durable outbox and reach the database once it is back, in order, none lost, none doubled."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from ivr.acd.cap import DailyCap
from ivr.acd.missed import MissedCalls
from ivr.acd.queued_store import QueuedCallbacks
from ivr.dialout.guard import DIAL_CONTEXT, store_audit
from ivr.schema.callbacks import MissedCall, QueuedCallback
from ivr.schema.console import AuditEntry
from ivr.schema.tickets import StoreBatch, Ticket, TicketEvent
from ivr.tickets.commands import Command
from ivr.tickets.db import make_engine, upgrade
from ivr.tickets.outbox import Outbox
from ivr.tickets.store import CallClosing, NewCall, SqlTicketStore
from ivr.tickets.writer import StoreUnavailable
from tests.harness.postgres import PostgresServer

T0 = datetime(2026, 3, 3, 9, 30, tzinfo=UTC)


def test_commands_travel_as_plain_data() -> None:
    command = Command(
        "ticket.update",
        {"ticket_id": -3, "columns": {"queued_at": T0, "wait_s": 1.5, "topic": "città"}, "day": date(2026, 3, 3)},
    )
    again = Command.loads(command.dumps())
    assert again == command and again.args["columns"]["queued_at"].tzinfo is not None
    with pytest.raises(ValueError, match="naive"):
        Command("ticket.event", {"at": datetime(2026, 3, 3, 9, 30)}).dumps()


def test_the_outbox_gives_its_first_batches_in_order_and_counts_the_rest(tmp_path: Path) -> None:
    outbox = Outbox(tmp_path / "outbox.db")
    for batch, writes in (("b1", 2), ("b2", 1), ("b3", 3)):
        for n in range(writes):
            outbox.append(batch, Command("ticket.event", {"ticket_id": n, "kind": "menu_choice", "at": T0}))
    first, waiting = outbox.batches(2)
    assert [[p.batch for p in batch] for batch in first] == [["b1", "b1"], ["b2"]] and waiting == 3
    outbox.done(first[0], {})
    everything, waiting = outbox.batches()
    assert [batch[0].batch for batch in everything] == ["b2", "b3"] and waiting == 2
    assert [len(batch) for batch in everything] == [1, 3]
    outbox.close()


@pytest.fixture(scope="module")
def server() -> Iterator[PostgresServer]:
    """A server of this module's own: it is stopped and started under the tests' feet."""
    pg = PostgresServer()
    pg.start()
    try:
        yield pg
    finally:
        pg.stop()


@pytest.fixture
def db(server: PostgresServer, request: pytest.FixtureRequest) -> Iterator[Engine]:
    engine = make_engine(server.create_database(f"outbox_{request.node.name[5:35]}".lower()))
    upgrade(engine)
    yield engine
    engine.dispose()


@pytest.fixture
async def store(db: Engine, tmp_path: Path) -> AsyncIterator[SqlTicketStore]:
    outbox = Outbox(tmp_path / "outbox.db")
    ticket_store = SqlTicketStore(db, outbox=outbox)
    ticket_store.writer._probe_every = 0.3
    yield ticket_store
    await ticket_store.stop()
    outbox.close()


def _count(db: Engine, query: object) -> int:
    with Session(db) as session:
        return int(session.scalar(query) or 0)  # type: ignore[call-overload]


async def _call(store: SqlTicketStore, uid: str, at: datetime) -> int:
    """What a call writes, start to end."""
    ticket_id = await store.open_call(NewCall(uid, at, "3331234567", None, "800000039"))
    await store.update(ticket_id, answered_at=at, last_state="menu:menu", topic="citizens")
    await store.record(ticket_id, "menu_choice", at + timedelta(seconds=5), {"key": "1"})
    await store.update(ticket_id, queue_result="waiting", queued_at=at + timedelta(seconds=6))
    await store.close_call(
        ticket_id,
        CallClosing(at + timedelta(seconds=30), "caller_hangup", "caller_hangup_in_queue", "queue:queue"),
    )
    return ticket_id


async def _until(check: object, timeout: float = 30) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not check():  # type: ignore[operator]
        if loop.time() > deadline:
            raise AssertionError("timed out")
        await asyncio.sleep(0.1)


async def test_calls_go_on_while_the_database_is_away(
    store: SqlTicketStore, db: Engine, server: PostgresServer
) -> None:
    before = await _call(store, "before", T0)
    assert before > 0 and not store.degraded

    await asyncio.to_thread(server.pause)
    try:
        # A call already running goes on (its ticket id is real), new calls get provisional ids.
        await store.record(before, "late_note", T0 + timedelta(minutes=1))
        during = await asyncio.gather(*(_call(store, f"during-{i}", T0 + timedelta(minutes=2)) for i in range(5)))
        assert store.degraded
        assert all(ticket_id < 0 for ticket_id in during)  # provisional
        assert store.writer.outbox is not None and store.writer.outbox.count() >= 5 * 5 + 1
        with pytest.raises(StoreUnavailable):  # writes outside the call path cannot wait
            await store.run_write(lambda s: s.add(TicketEvent(ticket_id=before, at=T0, kind="x")))
    finally:
        await asyncio.to_thread(server.resume)

    await _until(lambda: not store.degraded)
    assert store.writer.outbox is not None and store.writer.outbox.count() == 0
    # After the outage the provisional ids still work for calls that go on writing.
    await store.record(during[0], "after_outage", T0 + timedelta(minutes=5))
    await store.writer.barrier()  # record() only queues the write

    real = [store.writer.real_id(t) for t in during]
    assert all(t > 0 for t in real) and len(set(real)) == 5
    with Session(db) as session:
        tickets = {t.call_uid: t for t in session.scalars(select(Ticket))}
        assert set(tickets) == {"before"} | {f"during-{i}" for i in range(5)}
        for i, ticket_id in enumerate(real):
            t = tickets[f"during-{i}"]
            assert t.id == ticket_id and not t.open and t.queue_result == "waiting"
            assert t.end_reason == "caller_hangup_in_queue" and t.topic == "citizens"
        kinds = [(e.ticket_id, e.kind) for e in session.scalars(select(TicketEvent).order_by(TicketEvent.id))]
    # Exactly once each, in the order written.
    for ticket_id in real:
        assert [k for t, k in kinds if t == ticket_id][:3] == ["call_started", "menu_choice", "call_ended"]
        assert [k for t, k in kinds if t == ticket_id].count("call_ended") == 1
    assert [k for t, k in kinds if t == before] == ["call_started", "menu_choice", "call_ended", "late_note"]
    assert ("after_outage" in [k for t, k in kinds if t == real[0]]) is True


async def test_the_outbox_outlives_the_engine(db: Engine, server: PostgresServer, tmp_path: Path) -> None:
    """Killed during the outage: the next engine finds the outbox and replays it."""
    path = tmp_path / "outbox.db"
    await asyncio.to_thread(server.pause)
    first = SqlTicketStore(db, outbox=Outbox(path))
    try:
        provisional = await _call(first, "crash", T0)
        assert provisional < 0
    finally:
        await first.stop()  # what was accepted is on disk
        assert first.writer.outbox is not None
        first.writer.outbox.close()
        await asyncio.to_thread(server.resume)

    second = SqlTicketStore(db, outbox=Outbox(path))
    assert second.degraded  # left-over writes: it starts by replaying them
    second.writer._probe_every = 0.2
    await second.start()
    await _until(lambda: not second.degraded)
    assert second.writer.real_id(provisional) > 0
    assert _count(db, select(func.count()).select_from(Ticket).where(Ticket.call_uid == "crash")) == 1
    await second.stop()
    assert second.writer.outbox is not None
    second.writer.outbox.close()


async def test_a_batch_committed_before_the_connection_died_is_not_applied_twice(db: Engine, tmp_path: Path) -> None:
    outbox = Outbox(tmp_path / "outbox.db")
    store = SqlTicketStore(db, outbox=outbox)
    commands = [
        Command(
            "ticket.open",
            {
                "call_uid": "twice",
                "did": None,
                "caller_number": None,
                "caller_name": None,
                "started_at": T0,
                "timezone": "Europe/Rome",
            },
        )
    ]
    # The batch reaches the database, but its caller saw the connection die and kept it.
    real = store.writer._apply(list(commands), "token-twice")[0]
    row = outbox.append("token-twice", commands[0])
    outbox.append("token-later", Command("ticket.event", {"ticket_id": -row, "kind": "later", "at": T0}))
    left = store.writer._replay()
    assert left == 0 and store.writer.real_id(-row) == real
    assert _count(db, select(func.count()).select_from(Ticket).where(Ticket.call_uid == "twice")) == 1
    later = select(func.count()).select_from(TicketEvent).where(TicketEvent.kind == "later")
    assert _count(db, later.where(TicketEvent.ticket_id == real)) == 1
    assert _count(db, select(func.count()).select_from(StoreBatch)) >= 2
    await store.stop()
    outbox.close()


async def test_a_call_begun_in_an_outage_is_found_by_its_provisional_id_afterwards(
    store: SqlTicketStore, db: Engine, server: PostgresServer
) -> None:
    """The call keeps its provisional id for the rest of its life: a callback it books, the
    missed-call note at its end, the outcome an operator files and a read of the ticket, all
    after the outbox was replayed, land on the ticket the replay created (the callback failed
    its foreign key in the soak: 4 calls lost their booking)."""
    await asyncio.to_thread(server.pause)
    try:
        provisional = await store.open_call(NewCall("outage-call", T0, "3331234567", None, "800000039"))
        assert provisional < 0
    finally:
        await asyncio.to_thread(server.resume)
    await _until(lambda: not store.degraded)
    real = store.writer.real_id(provisional)
    assert real > 0

    row = await QueuedCallbacks(store).add(
        provisional, "3331234567", "caller_id", topic=None, language="it", arrived_at=T0, accepted_at=T0, day=T0.date()
    )
    assert row.ticket_id == real
    view = await store.get(provisional)
    assert view is not None and view.id == real
    # Admitted after the outage: the cap's count and the ticket's queued_at in one write (the
    # soak counted 38 admissions more than tickets marked queued after its outages).
    assert await DailyCap(store, 400, ZoneInfo("Europe/Rome")).admit(T0 + timedelta(seconds=6), provisional)
    queued = await store.get(provisional)
    assert queued is not None and queued.queue_result == "waiting" and queued.queued_at is not None
    await store.update(provisional, queue_result="abandoned")
    await store.close_call(
        provisional, CallClosing(T0 + timedelta(seconds=40), "caller_hangup", "caller_hangup_in_queue", "queue:queue")
    )
    assert await MissedCalls(store).note_ended(provisional) is not None
    filed = await store.file_outcome(provisional, "resolved", note=None, operator_id=None, at=T0 + timedelta(minutes=1))
    assert filed.id == real and filed.status == "resolved"
    with Session(db) as session:
        assert session.scalars(select(QueuedCallback.ticket_id)).all() == [real]
        assert session.scalars(select(MissedCall.ticket_id)).all() == [real]
        assert "outcome_filed" in session.scalars(select(TicketEvent.kind).where(TicketEvent.ticket_id == real)).all()


async def test_a_busy_line_leaves_the_outbox_once_the_database_is_back(
    store: SqlTicketStore, db: Engine, server: PostgresServer
) -> None:
    """Writes keep coming faster than the probe interval: the database is still tried on
    schedule (a busy soak line stayed degraded 90 s after a minute's outage, until killed)."""
    ticket_id = await _call(store, "busy", T0)
    stop = asyncio.Event()

    async def busy_line() -> int:
        n = 0
        while not stop.is_set():
            n += 1
            await store.record(ticket_id, "tick", T0 + timedelta(seconds=n))
            await asyncio.sleep(0.05)  # much faster than the writer's probe (0.3 s)
        return n

    writing = asyncio.create_task(busy_line())
    try:
        await asyncio.to_thread(server.pause)
        try:
            await _until(lambda: store.degraded)
            await asyncio.sleep(1.0)
        finally:
            await asyncio.to_thread(server.resume)
        await _until(lambda: not store.degraded, timeout=15)
    finally:
        stop.set()
        sent = await writing
    await store.writer.barrier()
    assert store.writer.outbox is not None and store.writer.outbox.count() == 0
    assert sent >= 20 and _count(db, select(func.count()).where(TicketEvent.kind == "tick")) == sent  # each once


async def test_a_missed_call_whose_note_was_lost_in_the_outage_is_listed_by_the_sweep(
    store: SqlTicketStore, db: Engine, server: PostgresServer
) -> None:
    """The note written at a call's end is no outbox command: during the soak's outages it failed
    (StoreUnavailable) and the call never reached the missed-calls work list."""
    missed = MissedCalls(store)
    await asyncio.to_thread(server.pause)
    try:
        gone = await store.open_call(NewCall("gave-up", T0, "3331234567", None, "800000039"))
        await store.update(gone, queue_result="abandoned", queued_at=T0 + timedelta(seconds=6))
        await store.close_call(
            gone, CallClosing(T0 + timedelta(seconds=90), "caller_hangup", "caller_hangup_in_queue", "queue:queue")
        )
        assert await missed.note_ended(gone) is None  # left to the sweep, a warning, no crash report
    finally:
        await asyncio.to_thread(server.resume)
    await _until(lambda: not store.degraded)
    answered = await _call(store, "answered-later", T0 + timedelta(minutes=5))  # not missed: never listed
    assert await missed.sweep(T0 - timedelta(days=1)) == 1
    assert await missed.sweep(T0 - timedelta(days=1)) == 0  # once
    with Session(db) as session:
        rows = session.scalars(select(MissedCall)).all()
        assert [(r.ticket_id, r.reason) for r in rows] == [(store.writer.real_id(gone), "abandoned")]
        assert answered not in [r.ticket_id for r in rows]


async def test_a_queued_callback_under_way_keeps_its_state_through_an_outage(
    store: SqlTicketStore, db: Engine, server: PostgresServer
) -> None:
    """The soak cut the database as a callback's operator answered: writing "calling" failed and
    the callback died with the operator rung; its state now waits in the outbox like the call's."""
    ticket_id = await store.open_call(NewCall("booked", T0, "3331234567", None, "800000039"))
    callbacks = QueuedCallbacks(store)
    row = await callbacks.add(
        ticket_id, "3331234567", "caller_id", topic=None, language="it", arrived_at=T0, accepted_at=T0, day=T0.date()
    )
    await asyncio.to_thread(server.pause)
    try:
        await callbacks.set(row.id, state="calling", attempts=1, operator="anna")
        retry = T0 + timedelta(minutes=10)
        await callbacks.set(row.id, state="waiting", attempts=1, next_attempt_at=retry)
        assert store.degraded
    finally:
        await asyncio.to_thread(server.resume)
    await _until(lambda: not store.degraded)
    with Session(db) as session:
        stored = session.get_one(QueuedCallback, row.id)
        assert (stored.state, stored.attempts, stored.operator, stored.next_attempt_at) == ("waiting", 1, "anna", retry)


async def test_a_dial_out_during_an_outage_is_audited_once_the_database_is_back(
    store: SqlTicketStore, db: Engine, server: PostgresServer
) -> None:
    """The soak's outages: every operator rung and citizen called back while the database was away
    went unaudited ("not audited: database unavailable"). The audit entry waits in the outbox, its
    ticket's provisional id translated on replay."""
    audit = store_audit(store, lambda: T0)
    await asyncio.to_thread(server.pause)
    try:
        ticket = await store.open_call(NewCall("in-outage", T0, "3331234567", None, "800000039"))
        assert ticket < 0
        DIAL_CONTEXT.set({"login": "anna", "ticket": ticket})
        await audit("dial_out", "3470000001", {"purpose": "queue", "trunk": "carrier", **(DIAL_CONTEXT.get() or {})})
    finally:
        await asyncio.to_thread(server.resume)
    await _until(lambda: not store.degraded)
    with Session(db) as session:
        (entry,) = session.scalars(select(AuditEntry)).all()
        assert (entry.action, entry.object_id, entry.login) == ("dial_out", "3470000001", "anna")
        assert entry.detail == {"purpose": "queue", "trunk": "carrier", "ticket": store.writer.real_id(ticket)}


async def test_a_call_arriving_while_the_outbox_is_replayed_is_not_kept_waiting(
    store: SqlTicketStore, db: Engine, server: PostgresServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Full run 6: after each database outage the writer replayed its outbox (780 batches, one
    transaction and one synced outbox write each: 26 s) with every new write queued behind it, so
    calls arriving meanwhile were answered only once it was over; 34 callers rang out after 15 s
    (ticket 2330's answer crossed its caller's hangup). Here each synced outbox write costs what it
    did on that loaded machine; a call opened during the replay gets its ticket at once, sees it,
    and the replay still applies everything once, in order."""
    assert store.writer.outbox is not None
    outbox = store.writer.outbox
    synced = outbox.done

    def done_on_a_loaded_disk(items: list[Any], refs: dict[int, int], rejected: Any = ()) -> None:
        time.sleep(0.03)
        synced(items, refs, rejected)

    monkeypatch.setattr(outbox, "done", done_on_a_loaded_disk)
    await asyncio.to_thread(server.pause)
    try:
        during = [await _call(store, f"during-{i}", T0 + timedelta(seconds=i)) for i in range(40)]
        assert store.degraded and all(ticket_id < 0 for ticket_id in during)
    finally:
        await asyncio.to_thread(server.resume)
    waiting = outbox.count()
    assert waiting >= 200
    await _until(lambda: outbox.count() < waiting)  # the replay has begun

    loop = asyncio.get_running_loop()
    started = loop.time()
    arrived = await store.open_call(NewCall("arrived", T0 + timedelta(minutes=5), "3331234567", None, "800000039"))
    took = loop.time() - started
    assert took < 1.0, f"the new call waited {took:.1f} s for its ticket"
    view = await store.get(arrived)  # a read sees the writes accepted before it
    assert view is not None and view.call_uid == "arrived"

    await _until(lambda: not store.degraded)
    assert outbox.count() == 0
    with Session(db) as session:
        tickets = {t.call_uid: t for t in session.scalars(select(Ticket))}
        assert set(tickets) == {f"during-{i}" for i in range(40)} | {"arrived"}
        assert all(not tickets[f"during-{i}"].open for i in range(40))
        order = [t.call_uid for t in sorted(tickets.values(), key=lambda t: t.id)]
    assert order == [*(f"during-{i}" for i in range(40)), "arrived"]  # in the order written
    assert _count(db, select(func.count()).where(TicketEvent.kind == "call_ended")) == 40
