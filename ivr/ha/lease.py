"""The lease that makes one engine the active one for a line, with a fencing token.

PostgreSQL (engines on several machines): one row per line in `engine_leases`, holding the token
(a counter that only grows), the holder (host and pid), since when, and until when. The holder
renews `expires_at` every second or so; anyone may take a lease past its expiry, and taking it
adds one to the token. Times are the database's clock, so machines' clocks need not agree.
Every batch the ticket writer commits first reads the row `FOR SHARE` and refuses if the token is
no longer ours (`check`): a takeover's UPDATE waits for that batch, and no batch of the old holder
commits after it, whatever the old holder believes. A holder stopped inside a batch (SIGSTOP, a
stalled machine) would keep the row locked for as long as it stays stopped, and no standby could
take over (full run 6: a 15 s freeze, the standby's query cancelled on the lock six times): the
server ends such a batch once it sat idle for the lease connection's timeout, and a standby reads
the row without a lock, locking it only to take it.

SQLite (one machine): an exclusive `fcntl` lock on a file next to the database. The kernel drops
it when the process dies, so a standby on the same machine takes over at once; the token and the
holder are written into the file for the message a refused `ivr run` prints.

The methods are blocking (they run on a thread); `ivr.ha.runner` times them out.
"""

from __future__ import annotations

import contextlib
import dataclasses
import fcntl
import json
import os
import socket
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Protocol, cast

from sqlalchemy import Engine, Table, create_engine, insert, select, text, update
from sqlalchemy.engine import Connection, make_url
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from ivr.schema.tickets import EngineLease
from ivr.tickets.writer import Fenced

_TABLE = cast(Table, EngineLease.__table__)
__all__ = ["Fenced", "FileLease", "Holder", "Lease", "SqlLease", "lease_for"]


@dataclass(frozen=True)
class Holder:
    """Who holds (or last held) a lease."""

    host: str
    pid: int
    since: datetime | None
    token: int
    expires_at: datetime | None = None
    expired: bool = False  # past its expiry and not taken (a try_acquire told not to take it)

    def describe(self) -> str:
        since = f" since {self.since:%Y-%m-%d %H:%M:%S} UTC" if self.since else ""
        return f"{self.host} pid {self.pid}{since} (token {self.token})"

    def as_dict(self) -> dict[str, Any]:
        return {
            "host": self.host,
            "pid": self.pid,
            "since": self.since.isoformat() if self.since else None,
            "token": self.token,
            "expires_at": self.expires_at.isoformat() if self.expires_at else None,
        }


def me() -> tuple[str, int]:
    return socket.gethostname(), os.getpid()


class Lease(Protocol):
    name: str
    token: int | None  # ours while we hold it
    # True when the lease runs out by time (another engine may take it once not renewed): the
    # holder must count it lost when its own renewals are stale (ivr.ha.guard). False for a lock
    # the kernel holds for as long as the process lives.
    expires: bool

    def try_acquire(self, *, take_expired: bool = True) -> Holder | None:
        """Take the lease if free or expired: None when taken, else who holds it. Without
        `take_expired`, a lease that ran out without being released is left alone and its holder
        returned marked `expired` (its engine may be riding a store outage: ivr.ha.runner)."""
        ...

    def renew(self, *, after_expiry: bool = False) -> bool:
        """Extend our lease; False when it is no longer ours (expired, or taken). `after_expiry`:
        an expired lease nobody took (the token unchanged) is ours again; for an engine that went
        on acting past its lease on Asterisk's proof (ivr.ha.guard)."""
        ...

    def release(self) -> None:
        """Give the lease up at once (a clean stop), so a standby need not wait for the expiry."""
        ...

    def holder(self) -> Holder | None: ...

    def check(self, session: Session) -> None:
        """In the writer's transaction: raise Fenced unless the lease is still ours."""
        ...

    def lose(self) -> None:
        """Mark the lease lost here: every later check refuses without asking the database."""
        ...

    def close(self) -> None: ...


class SqlLease:
    """The lease row, on a connection of its own with short timeouts (renewal must not queue
    behind the ticket writer's batches, nor hang on a dead server)."""

    expires = True

    def __init__(self, url: str, name: str, ttl_s: float, *, timeout_s: float = 2.0) -> None:
        self.name = name
        self.ttl = timedelta(seconds=ttl_s)
        self.token: int | None = None
        self.lost = False
        self.host, self.pid = me()
        self._db = _lease_engine(url, timeout_s)
        self._pg = self._db.dialect.name == "postgresql"
        # A batch holding the row FOR SHARE (`check`) that sits idle this long is ended by the
        # server: its process is stopped, and a standby must be able to lock the row.
        self._batch_idle_ms = int(timeout_s * 1000)

    @property
    def _holder_text(self) -> str:
        return f"{self.host} {self.pid}"

    def _now(self, conn: Connection) -> datetime:
        if self._pg:
            value: datetime = conn.execute(text("SELECT clock_timestamp()")).scalar_one()
            return value.astimezone(UTC)
        return datetime.now(UTC)

    def _ensure_row(self) -> None:
        with self._db.begin() as conn:
            if conn.execute(select(_TABLE.c.name).where(_TABLE.c.name == self.name)).first() is not None:
                return
        with contextlib.suppress(IntegrityError), self._db.begin() as conn:  # another engine made it first
            conn.execute(insert(_TABLE).values(name=self.name, token=0))

    def try_acquire(self, *, take_expired: bool = True) -> Holder | None:
        self._ensure_row()
        with self._db.connect() as conn:  # a plain read: it never waits on the holder's batches
            refused, _ = self._verdict(conn, locked=False, take_expired=take_expired)
            conn.rollback()
        if refused is not None:
            return refused
        with self._db.begin() as conn:  # locked to take it; read again, it may have changed since
            refused, row = self._verdict(conn, locked=True, take_expired=take_expired)
            if refused is not None:
                return refused
            now = self._now(conn)
            mine = self._mine(row)
            token = row.token if mine else row.token + 1
            since = row.since if mine else now
            conn.execute(
                update(_TABLE)
                .where(_TABLE.c.name == self.name)
                .values(token=token, holder=self._holder_text, since=since, expires_at=now + self.ttl)
            )
        self.token, self.lost = token, False
        return None

    def _mine(self, row: Any) -> bool:
        return self.token is not None and row.token == self.token and row.holder == self._holder_text

    def _verdict(self, conn: Connection, *, locked: bool, take_expired: bool) -> tuple[Holder | None, Any]:
        """The row, and who keeps us from taking the lease (None: we may take it)."""
        query = select(_TABLE).where(_TABLE.c.name == self.name)
        row = conn.execute(query.with_for_update() if locked else query).one()
        now = self._now(conn)  # after the lock: it may have been waited for
        mine = self._mine(row)
        free = row.expires_at is None  # never held, or released by a clean stop
        ran_out = not free and _utc(row.expires_at) <= now
        if not (mine or free or ran_out):
            return _holder(row), row
        if ran_out and not mine and not take_expired:
            return dataclasses.replace(_holder(row), expired=True), row
        return None, row

    def renew(self, *, after_expiry: bool = False) -> bool:
        if self.token is None or self.lost:
            return False
        with self._db.begin() as conn:
            now = self._now(conn)
            ours = [_TABLE.c.name == self.name, _TABLE.c.token == self.token, _TABLE.c.holder == self._holder_text]
            if not after_expiry:
                ours.append(_TABLE.c.expires_at > now)
            done = conn.execute(update(_TABLE).where(*ours).values(expires_at=now + self.ttl))
        return done.rowcount == 1

    def release(self) -> None:
        if self.token is None:
            return
        with self._db.begin() as conn:
            conn.execute(
                update(_TABLE)
                .where(_TABLE.c.name == self.name, _TABLE.c.token == self.token)
                .values(expires_at=None)  # free, not run out: a standby takes it at once
            )
        self.token = None

    def holder(self) -> Holder | None:
        with self._db.connect() as conn:
            row = conn.execute(select(_TABLE).where(_TABLE.c.name == self.name)).first()
        return None if row is None or row.holder is None else _holder(row)

    def check(self, session: Session) -> None:
        if self.lost or self.token is None:
            raise Fenced(f"the lease of {self.name!r} is not held by this engine")
        if self._pg:  # for this transaction only: the writer's other work keeps the server's default
            session.execute(text(f"SET LOCAL idle_in_transaction_session_timeout = {self._batch_idle_ms}"))
        query = select(_TABLE.c.token).where(_TABLE.c.name == self.name).with_for_update(read=True)
        current = session.execute(query).scalar_one_or_none()
        if current != self.token:
            self.lost = True
            raise Fenced(f"the lease of {self.name!r} was taken by another engine (token {current})")

    def lose(self) -> None:
        self.lost = True

    def close(self) -> None:
        self._db.dispose()


class FileLease:
    """An exclusive lock on a file: one engine per machine, held for as long as the process lives."""

    expires = False

    def __init__(self, path: Path, name: str) -> None:
        self.path = path
        self.name = name
        self.token: int | None = None
        self.lost = False
        self._fd: int | None = None
        self.host, self.pid = me()

    def try_acquire(self, *, take_expired: bool = True) -> Holder | None:
        if self._fd is not None:
            return None
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return self._holder_written()
        previous = self._read()
        token = (previous.token if previous else 0) + 1
        record = {"host": self.host, "pid": self.pid, "since": datetime.now(UTC).isoformat(), "token": token}
        os.ftruncate(fd, 0)
        os.pwrite(fd, json.dumps(record).encode(), 0)
        os.fsync(fd)
        self._fd, self.token, self.lost = fd, token, False
        return None

    def _holder_written(self, wait_s: float = 1.0) -> Holder:
        """Who holds the lock: the holder writes its record right after taking it, so a record
        still empty (read between the holder's truncate and its write) is read again shortly."""
        deadline = time.monotonic() + wait_s
        while (found := self._read()) is None and time.monotonic() < deadline:
            time.sleep(0.02)
        return found or Holder("?", 0, None, 0)

    def _read(self) -> Holder | None:
        try:
            data = json.loads(self.path.read_text() or "null")
        except (OSError, ValueError):
            return None
        if not isinstance(data, dict):
            return None
        since = data.get("since")
        return Holder(
            str(data.get("host", "?")),
            int(data.get("pid", 0)),
            datetime.fromisoformat(since) if isinstance(since, str) else None,
            int(data.get("token", 0)),
        )

    def renew(self, *, after_expiry: bool = False) -> bool:
        """Still ours unless someone removed the file (then another engine could lock a new one)."""
        if self._fd is None or self.lost:
            return False
        try:
            return os.fstat(self._fd).st_ino == os.stat(self.path).st_ino
        except FileNotFoundError:
            return False

    def release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)  # closing the descriptor drops the lock
            self._fd, self.token = None, None

    def holder(self) -> Holder | None:
        return self._read()

    def check(self, session: Session) -> None:
        if self.lost or self._fd is None:
            raise Fenced(f"the lease of {self.name!r} is not held by this engine")

    def lose(self) -> None:
        self.lost = True

    def close(self) -> None:
        self.release()


def _lease_engine(url: str, timeout_s: float) -> Engine:
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        return create_engine(parsed, connect_args={"check_same_thread": False, "timeout": timeout_s})
    if parsed.drivername == "postgresql":
        parsed = parsed.set(drivername="postgresql+psycopg")
    ms = int(timeout_s * 1000)
    return create_engine(
        parsed,
        pool_size=1,
        max_overflow=2,
        pool_pre_ping=True,
        connect_args={
            "connect_timeout": max(1, int(timeout_s)),
            "options": f"-c statement_timeout={ms} -c lock_timeout={ms} -c idle_in_transaction_session_timeout={ms}",
        },
    )


def _utc(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _holder(row: Any) -> Holder:
    host, _, pid = str(row.holder or "? 0").rpartition(" ")
    return Holder(
        host or "?",
        int(pid) if pid.isdigit() else 0,
        _utc(row.since) if row.since else None,
        int(row.token),
        _utc(row.expires_at) if row.expires_at else None,
    )


def lease_for(database_url: str, name: str, ttl_s: float) -> Lease:
    """The lease that suits the store: a lock file beside a SQLite database, else the lease row."""
    parsed = make_url(database_url)
    if parsed.get_backend_name() == "sqlite":
        database = parsed.database or ""
        if database in ("", ":memory:"):
            raise ValueError("a lease needs a database file or a server")
        return FileLease(Path(database).with_name(Path(database).name + ".lock"), name)
    return SqlLease(database_url, name, ttl_s)
