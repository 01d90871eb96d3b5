"""The ticket store, run identically on SQLite and on a real PostgreSQL server."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select

from ivr.schema.tickets import Ticket, TicketEvent
from ivr.tickets.db import current_revision, head_revision, make_engine, upgrade
from ivr.tickets.store import CallClosing, NewCall, SqlTicketStore

T0 = datetime(2026, 3, 2, 8, 30, tzinfo=UTC)


@pytest.fixture
async def store(db_url: str) -> AsyncIterator[SqlTicketStore]:
    engine = make_engine(db_url)
    upgrade(engine)
    store = SqlTicketStore(engine)
    await store.start()
    yield store
    await store.stop()
    engine.dispose()


def new_call(uid: str = "chan-1", number: str | None = "3331234567") -> NewCall:
    return NewCall(call_uid=uid, started_at=T0, caller_number=number, caller_name="Anna", did="800000039")


def closing(**kw: object) -> CallClosing:
    values: dict[str, object] = {
        "ended_at": T0 + timedelta(seconds=42),
        "outcome": "completed",
        "end_reason": "flow_end",
        "last_state": "hangup:goodbye",
        "answered_at": T0 + timedelta(seconds=1),
    }
    values.update(kw)
    return CallClosing(**values)  # type: ignore[arg-type]


async def test_migrations_reach_head(db_url: str) -> None:
    engine = make_engine(db_url)
    upgrade(engine)
    upgrade(engine)  # idempotent
    assert current_revision(engine) == head_revision()
    engine.dispose()


async def test_open_record_close_round_trip(store: SqlTicketStore) -> None:
    ticket_id = await store.open_call(new_call())
    await store.record(ticket_id, "menu_choice", T0 + timedelta(seconds=5), {"key": "1"})
    await store.update(ticket_id, last_state="menu:main")
    await store.close_call(ticket_id, closing())
    ticket = await store.get(ticket_id)
    assert ticket is not None
    assert not ticket.open
    assert ticket.caller_number == "3331234567" and ticket.caller_name == "Anna"
    assert ticket.started_at == T0 and ticket.started_at.tzinfo is not None
    assert ticket.answered_at == T0 + timedelta(seconds=1)
    assert ticket.duration_s == 42.0
    assert (ticket.outcome, ticket.end_reason, ticket.last_state) == ("completed", "flow_end", "hangup:goodbye")
    assert [(e.kind, e.detail) for e in ticket.events] == [
        ("call_started", None),
        ("menu_choice", {"key": "1"}),
        ("call_ended", {"outcome": "completed", "reason": "flow_end"}),
    ]


async def test_connections_held_are_counted_and_do_not_grow_with_use(store: SqlTicketStore) -> None:
    """The figure the soak and the dashboard watch for a connection leak."""
    ticket_id = await store.open_call(new_call("chan-pool"))
    await store.get(ticket_id)
    first = store.connections_open()
    assert first >= 1
    for _ in range(60):
        await asyncio.gather(*(store.get(ticket_id) for _ in range(8)))
    assert first <= store.connections_open() <= 4 + 1 + 15  # the readers and the writer, within the pool's bounds


async def test_same_call_opens_one_ticket(store: SqlTicketStore) -> None:
    first = await store.open_call(new_call("dup"))
    again = await store.open_call(new_call("dup"))
    assert first == again


async def test_closing_twice_keeps_the_first_closing(store: SqlTicketStore) -> None:
    ticket_id = await store.open_call(new_call())
    await store.close_call(ticket_id, closing(outcome="caller_hangup"))
    await store.close_call(ticket_id, closing(outcome="failed"))
    ticket = await store.get(ticket_id)
    assert ticket is not None and ticket.outcome == "caller_hangup"
    assert [e.kind for e in ticket.events].count("call_ended") == 1


async def test_only_call_columns_are_updatable(store: SqlTicketStore) -> None:
    ticket_id = await store.open_call(new_call())
    with pytest.raises(ValueError, match="not updatable"):
        await store.update(ticket_id, outcome="completed")


async def test_concurrent_calls_all_written(store: SqlTicketStore, db_url: str) -> None:
    """200 calls opening, logging and closing at once: every row and event lands exactly once."""

    async def one(i: int) -> None:
        ticket_id = await store.open_call(new_call(f"c{i}", number=f"33300{i:05d}"))
        await store.record(ticket_id, "welcome", T0, None)
        await store.close_call(ticket_id, closing())

    await asyncio.gather(*(one(i) for i in range(200)))
    engine = make_engine(db_url)
    with engine.connect() as conn:
        assert conn.scalar(select(func.count()).select_from(Ticket)) == 200
        assert conn.scalar(select(func.count()).select_from(Ticket).where(Ticket.open.is_(True))) == 0
        assert conn.scalar(select(func.count()).select_from(TicketEvent)) == 600
    engine.dispose()


async def test_a_failing_write_does_not_take_its_batch_down(store: SqlTicketStore) -> None:
    good = await store.open_call(new_call("ok"))
    results = await asyncio.gather(
        store.execute("ticket.event", ticket_id=good, kind="fine", at=T0),
        store.execute("ticket.event", ticket_id=999_999, kind="orphan", at=T0),  # no such ticket
        store.execute("ticket.event", ticket_id=good, kind="also-fine", at=T0),
        return_exceptions=True,
    )
    assert results[0] is None and results[2] is None
    assert isinstance(results[1], Exception)
    ticket = await store.get(good)
    assert ticket is not None
    assert [e.kind for e in ticket.events] == ["call_started", "fine", "also-fine"]


async def test_call_writes_are_queued_and_a_bad_one_is_only_logged(
    store: SqlTicketStore, caplog: pytest.LogCaptureFixture
) -> None:
    """record() and update() do not wait for the database; a failing one neither stops the call
    nor its neighbours, and a read afterwards sees everything queued before it."""
    good = await store.open_call(new_call("queued"))
    await store.record(good, "fine", T0, None)
    await store.record(999_999, "orphan", T0, None)  # returns at once; fails in the writer
    await store.update(good, topic="employers")
    ticket = await store.get(good)
    assert ticket is not None and ticket.topic == "employers"
    assert [e.kind for e in ticket.events] == ["call_started", "fine"]
    assert any("ticket write lost" in r.getMessage() for r in caplog.records)


async def test_a_batch_of_interleaved_calls_reads_as_written_one_by_one(store: SqlTicketStore) -> None:
    """Queued writes of several calls reach the writer as one batch, where events are inserted
    together and each ticket's updates merged: the result must be what writing them one at a
    time gives (last value wins, each timeline in order, a close after its call's updates)."""
    a, b = await store.open_call(new_call("a")), await store.open_call(new_call("b"))
    for i in range(5):
        await store.update(a, last_state=f"menu:{i}")
        await store.record(a, f"a{i}", T0 + timedelta(seconds=i), {"i": i})
        await store.record(b, f"b{i}", T0 + timedelta(seconds=i), None)
        await store.update(b, topic="employers" if i % 2 else "citizens", last_state=f"queue:{i}")
    close_a = store.close_call(a, closing(last_state="menu:4"))
    await store.update(b, queue_result="answered")
    await close_a
    ticket_a, ticket_b = await store.get(a), await store.get(b)
    assert ticket_a is not None and ticket_b is not None
    assert [(e.kind, e.detail) for e in ticket_a.events] == [
        ("call_started", None),
        *((f"a{i}", {"i": i}) for i in range(5)),
        ("call_ended", {"outcome": "completed", "reason": "flow_end"}),
    ]
    assert [e.kind for e in ticket_b.events] == ["call_started", *(f"b{i}" for i in range(5))]
    assert (ticket_a.open, ticket_a.last_state) == (False, "menu:4")
    assert (ticket_b.topic, ticket_b.last_state, ticket_b.queue_result) == ("citizens", "queue:4", "answered")
    assert ticket_b.open


async def test_queued_writes_wait_for_company_but_never_hold_up_a_waiting_caller(db_url: str) -> None:
    """Writes nobody waits for linger to share a transaction; a write or read someone waits for
    ends the linger at once (here the linger is 30 s: the test would time out, not pass late)."""
    engine = make_engine(db_url)
    upgrade(engine)
    store = SqlTicketStore(engine, linger_s=30.0)
    await store.start()
    try:
        ticket_id = await asyncio.wait_for(store.open_call(new_call("linger")), 10)
        before = store.writer.batches
        for i in range(5):
            await store.record(ticket_id, f"e{i}", T0, None)
            await asyncio.sleep(0.01)  # calls write one at a time, not all at once
        ticket = await asyncio.wait_for(store.get(ticket_id), 10)  # a read waits for them: no linger
        assert ticket is not None and [e.kind for e in ticket.events][1:] == [f"e{i}" for i in range(5)]
        assert store.writer.batches - before == 1  # the five writes and the read's barrier: one transaction
    finally:
        await store.stop()
        engine.dispose()


async def test_naive_datetimes_are_refused(store: SqlTicketStore) -> None:
    ticket_id = await store.open_call(new_call())
    with pytest.raises(ValueError, match="naive"):
        await store.record(ticket_id, "x", datetime(2026, 1, 1), None)
