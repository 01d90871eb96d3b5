"""The line's lease on SQLite and PostgreSQL: taken once, renewed, expired, fenced."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import select, update

from ivr.ha.lease import Fenced, FileLease, SqlLease, lease_for
from ivr.schema.tickets import EngineLease, Ticket
from ivr.tickets.db import make_engine, upgrade
from ivr.tickets.store import NewCall, SqlTicketStore


def _two(url: str, ttl_s: float = 1.0) -> tuple[SqlLease, SqlLease]:
    db = make_engine(url)
    upgrade(db)
    db.dispose()
    first, second = SqlLease(url, "nul", ttl_s), SqlLease(url, "nul", ttl_s)
    second.pid += 1  # two engines: same host in a test, told apart by pid
    return first, second


def test_one_holder_then_takeover_after_expiry_with_a_greater_token(db_url: str) -> None:
    a, b = _two(db_url, ttl_s=1.0)
    try:
        assert a.try_acquire() is None and a.token == 1
        busy = b.try_acquire()
        assert busy is not None and busy.pid == a.pid and busy.token == 1 and b.token is None
        assert "pid" in busy.describe() and busy.since is not None
        assert a.renew()
        time.sleep(0.6)
        assert a.renew()  # renewed before the expiry: still busy for b 0.6 s later
        time.sleep(0.6)
        assert b.try_acquire() is not None
        time.sleep(1.1)  # no renewal for longer than the ttl
        assert b.try_acquire() is None and b.token == 2
        assert not a.renew()  # the old holder learns it lost the lease
        holder = a.holder()
        assert holder is not None and holder.pid == b.pid and holder.token == 2
    finally:
        a.close()
        b.close()


def test_release_hands_over_at_once_and_token_only_grows(db_url: str) -> None:
    a, b = _two(db_url, ttl_s=30.0)
    try:
        tokens = []
        for _ in range(3):
            assert a.try_acquire() is None
            tokens.append(a.token)
            a.release()
            assert b.try_acquire() is None
            tokens.append(b.token)
            b.release()
        assert tokens == sorted(tokens) and len(set(tokens)) == len(tokens)
    finally:
        a.close()
        b.close()


async def test_the_writer_of_a_fenced_engine_commits_nothing(db_url: str) -> None:
    """The old holder's store refuses to write once another engine took the lease, even before
    it noticed by itself: the token is checked inside every batch."""
    a, b = _two(db_url, ttl_s=30.0)
    db = make_engine(db_url)
    store = SqlTicketStore(db)
    store.writer.guard = a.check
    try:
        assert a.try_acquire() is None
        at = datetime(2026, 2, 2, 10, tzinfo=UTC)
        first = await store.open_call(NewCall("c1", at, "3470000001", None, "800000039"))
        assert first > 0
        with db.begin() as conn:  # the lease runs out (as if a's renewals stopped)
            conn.execute(update(EngineLease).values(expires_at=at))
        assert b.try_acquire() is None
        with pytest.raises(Fenced):
            await store.open_call(NewCall("c2", at, "3470000002", None, "800000039"))
        with pytest.raises(Fenced):  # and from then on without asking the database
            await store.run_write(lambda s: None)
        assert store.writer.fenced is not None
        with db.connect() as conn:
            assert [r.call_uid for r in conn.execute(select(Ticket))] == ["c1"]
    finally:
        await store.stop()
        db.dispose()
        a.close()
        b.close()


def test_file_lease_one_process_at_a_time(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'nul.db'}"
    a, b = lease_for(url, "nul", 5.0), lease_for(url, "nul", 5.0)
    assert isinstance(a, FileLease) and isinstance(b, FileLease)
    assert a.try_acquire() is None and a.token == 1
    busy = b.try_acquire()
    assert busy is not None and busy.token == 1 and busy.since is not None
    assert a.renew()
    a.release()  # as when the process dies: the kernel drops the lock
    assert b.try_acquire() is None and b.token == 2
    b.path.unlink()  # someone removed the file: another engine could lock a new one
    assert not b.renew()
    b.close()


def test_a_refused_engine_names_the_holder_even_while_it_is_writing_its_record(tmp_path: Path) -> None:
    """Two engines started at once: the loser may read the lock file between the winner's truncate
    and its write; it reads again, and names the winner (it printed '? pid 0')."""
    url = f"sqlite:///{tmp_path / 'nul.db'}"
    a, b = lease_for(url, "nul", 5.0), lease_for(url, "nul", 5.0)
    assert isinstance(a, FileLease) and isinstance(b, FileLease)
    assert a.try_acquire() is None
    record = a.path.read_text()
    a.path.write_text("")  # the winner between its truncate and its write
    writer = threading.Timer(0.2, a.path.write_text, (record,))
    writer.start()
    try:
        busy = b.try_acquire()
    finally:
        writer.join()
    assert busy is not None and busy.pid == a.pid and busy.token == 1
    a.close()
    b.close()


def test_a_run_out_lease_is_left_to_its_holder_when_asked_and_renewed_by_it(db_url: str) -> None:
    """A standby told not to take a run-out lease sees it marked expired; the old holder, back
    from a database outage it rode on Asterisk's word, renews it (its token unchanged); once
    another engine took it, the old holder's renewal after expiry fails."""
    a, b = _two(db_url, ttl_s=0.5)
    try:
        assert a.try_acquire() is None
        time.sleep(0.7)
        assert not a.renew()  # an ordinary renewal of a run-out lease fails, as before
        left = b.try_acquire(take_expired=False)
        assert left is not None and left.expired and left.token == 1 and b.token is None
        assert a.renew(after_expiry=True)  # nobody took it: ours again
        busy = b.try_acquire(take_expired=False)
        assert busy is not None and not busy.expired
        time.sleep(0.7)
        assert b.try_acquire() is None and b.token == 2
        assert not a.renew(after_expiry=True)
    finally:
        a.close()
        b.close()


def test_a_released_lease_is_free_even_for_a_standby_that_leaves_run_out_ones(db_url: str) -> None:
    a, b = _two(db_url, ttl_s=30.0)
    try:
        assert a.try_acquire() is None
        a.release()
        assert b.try_acquire(take_expired=False) is None and b.token == 2
    finally:
        a.close()
        b.close()
