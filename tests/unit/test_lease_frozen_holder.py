"""A holder frozen inside a ticket batch does not keep its lease, on a real PostgreSQL.

Every batch of the ticket writer reads the lease row FOR SHARE first (ivr.ha.lease: the check
that fences the store). Full run 6 stopped the active engine (SIGSTOP, 15 s) while such a batch
was open: the row stayed locked for the whole freeze, the standby's lease query waited on it
until its statement timeout ("canceling statement due to statement timeout ... while locking
tuple ... in relation engine_leases", 6 times in 13 s), so it never saw the lease run out and
never took over, and 30 callers rang unanswered. Here the frozen batch is a transaction of the
writer's kind left open by this test, exactly where the stopped process left it.
"""

from __future__ import annotations

import os
import time

import pytest
from sqlalchemy import select
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from ivr.ha.lease import Holder, SqlLease
from ivr.schema.tickets import EngineLease
from ivr.tickets.db import make_engine, upgrade
from ivr.tickets.writer import unavailable
from tests.harness.postgres import PostgresServer

pytestmark = pytest.mark.postgres
TTL_S = 1.5


def _two(url: str) -> tuple[SqlLease, SqlLease]:
    db = make_engine(url)
    upgrade(db)
    db.dispose()
    first, second = SqlLease(url, "nul", TTL_S), SqlLease(url, "nul", TTL_S)
    second.pid += 1
    return first, second


def test_a_holder_frozen_inside_a_batch_neither_hides_its_expiry_nor_keeps_the_lease(
    postgres: PostgresServer,
) -> None:
    url = postgres.create_database(f"lease_frozen_{os.getpid()}")
    a, b = _two(url)
    store = make_engine(url)
    frozen = Session(store)
    try:
        assert a.try_acquire() is None
        frozen.begin()
        a.check(frozen)  # the batch's first statement; then the process is stopped
        started = time.monotonic()

        run_out: Holder | None = None
        while run_out is None and time.monotonic() - started < TTL_S + 3:
            asked = time.monotonic()
            seen = b.try_acquire(take_expired=False)  # a standby that leaves a run-out lease a term
            assert time.monotonic() - asked < 1.0, "the standby's look at the lease waited on the frozen batch"
            if seen is not None and seen.expired:
                run_out = seen
            time.sleep(0.1)
        assert run_out is not None and run_out.pid == a.pid, "the standby never saw the lease run out"
        print(f"run out seen {time.monotonic() - started:.1f} s after the freeze")

        taken_at: float | None = None
        while taken_at is None and time.monotonic() - started < 2 * TTL_S + 3:
            if b.try_acquire() is None:
                taken_at = time.monotonic() - started
            else:
                time.sleep(0.1)
        assert taken_at is not None, "the standby could not take the lease from the frozen holder"
        print(f"lease taken {taken_at:.1f} s after the freeze")
        assert b.token == 2

        # The stopped process wakes: its batch is gone, it cannot commit after the takeover, and
        # the writer takes that for the database being away (the outbox), not for bad data.
        with pytest.raises(DBAPIError) as woken:
            frozen.execute(select(EngineLease.token))
        assert unavailable(woken.value), woken.value
        frozen.rollback()
        with store.connect() as conn:
            assert conn.execute(select(EngineLease.token)).scalar_one() == 2
    finally:
        frozen.close()
        store.dispose()
        a.close()
        b.close()


def test_a_batch_of_ordinary_length_is_not_cut(postgres: PostgresServer) -> None:
    """The bound is on a batch's idle gaps, not its length: one that keeps the server busy (here,
    statements a second apart for longer than the bound in all) commits."""
    url = postgres.create_database(f"lease_busy_{os.getpid()}")
    a, _ = _two(url)
    store = make_engine(url)
    try:
        assert a.try_acquire() is None
        with Session(store) as session, session.begin():
            a.check(session)
            for _ in range(4):
                time.sleep(0.5)
                assert session.execute(select(EngineLease.token)).scalar_one() == 1
    finally:
        store.dispose()
        a.close()
