"""A durable local outbox: the call path's writes while the ticket database is away.

A small SQLite file next to the engine, written with full synchronisation, so a write accepted
during an outage survives a crash too. Rows keep the order they were written in and the batch
they belonged to; each batch is replayed in one transaction of the ticket database together with
its token, so a batch is applied once even if the connection died during the original commit.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from ivr.tickets.commands import Command


def real_id(provisional: int, *known: Mapping[int, int]) -> int:
    """The row id a provisional one (negative, given during an outage) became once replayed,
    from the first of `known` that has it."""
    for ids in known:
        if provisional in ids:
            return ids[provisional]
    raise LookupError(f"provisional id {provisional} was never replayed")


@dataclass(frozen=True)
class Pending:
    row: int
    batch: str
    command: Command


class Outbox:
    def __init__(self, path: Path) -> None:
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")
        self._db.execute("PRAGMA secure_delete=ON")  # replayed writes hold caller data: overwrite, not unlink
        self._db.execute(
            "CREATE TABLE IF NOT EXISTS pending ("
            " row INTEGER PRIMARY KEY AUTOINCREMENT, batch TEXT NOT NULL, command TEXT NOT NULL)"
        )
        self._db.execute("CREATE TABLE IF NOT EXISTS refs (provisional INTEGER PRIMARY KEY, real INTEGER NOT NULL)")
        # Writes the database would not take (ivr.tickets.replay): kept for a person, never retried.
        self._db.execute(
            "CREATE TABLE IF NOT EXISTS rejected ("
            " row INTEGER PRIMARY KEY, batch TEXT NOT NULL, command TEXT NOT NULL,"
            " error TEXT NOT NULL, at TEXT NOT NULL)"
        )

    def append(self, batch: str, command: Command) -> int:
        """Keep one command; returns its row number (the provisional id is its negative)."""
        with self._lock:
            cursor = self._db.execute("INSERT INTO pending (batch, command) VALUES (?, ?)", (batch, command.dumps()))
            assert cursor.lastrowid is not None
            return int(cursor.lastrowid)

    def batches(self, first: int | None = None) -> tuple[list[list[Pending]], int]:
        """The `first` batches waiting (all when None), batch by batch in the order they were
        written, and how many batches wait in all. Only those batches' rows are read: a replay
        takes 50 batches at a time from an outbox an outage may have filled with thousands."""
        with self._lock:
            total = int(self._db.execute("SELECT COUNT(DISTINCT batch) FROM pending").fetchone()[0])
            if first is None:
                rows = self._db.execute("SELECT row, batch, command FROM pending ORDER BY row").fetchall()
            else:
                rows = self._db.execute(
                    "SELECT row, batch, command FROM pending WHERE batch IN"
                    " (SELECT batch FROM pending GROUP BY batch ORDER BY MIN(row) LIMIT ?) ORDER BY row",
                    (first,),
                ).fetchall()
        grouped: list[list[Pending]] = []
        for row, batch, text in rows:
            item = Pending(int(row), str(batch), Command.loads(text))
            if grouped and grouped[-1][0].batch == batch:
                grouped[-1].append(item)
            else:
                grouped.append([item])
        return grouped, total

    def done(self, items: list[Pending], refs: dict[int, int], rejected: Sequence[tuple[Pending, str]] = ()) -> None:
        """Batches reached the database: forget them, remember the ids they created, keep the
        writes it would not take (`rejected`, each with its error)."""
        at = datetime.now(UTC).isoformat()
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                self._db.executemany("INSERT OR REPLACE INTO refs VALUES (?, ?)", list(refs.items()))
                self._db.executemany(
                    "INSERT OR REPLACE INTO rejected VALUES (?, ?, ?, ?, ?)",
                    [(p.row, p.batch, p.command.dumps(), error, at) for p, error in rejected],
                )
                self._db.executemany("DELETE FROM pending WHERE row = ?", [(i.row,) for i in items])
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise

    def refs(self) -> dict[int, int]:
        with self._lock:
            return {int(p): int(r) for p, r in self._db.execute("SELECT provisional, real FROM refs")}

    def count(self) -> int:
        with self._lock:
            return int(self._db.execute("SELECT count(*) FROM pending").fetchone()[0])

    def rejected(self) -> list[tuple[Pending, str, str]]:
        """The writes set aside: each with its error and when."""
        with self._lock:
            rows = self._db.execute("SELECT row, batch, command, error, at FROM rejected ORDER BY row").fetchall()
        return [(Pending(int(r), str(b), Command.loads(c)), str(e), str(a)) for r, b, c, e, a in rows]

    def rejected_count(self) -> int:
        with self._lock:
            return int(self._db.execute("SELECT count(*) FROM rejected").fetchone()[0])

    def close(self) -> None:
        with self._lock:
            self._db.close()
