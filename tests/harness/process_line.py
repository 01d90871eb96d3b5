"""A line whose engine runs as its own process, for tests that kill or restart it (the in-process
`queue_line` cannot be SIGKILLed), with the test's own way into the engine's database: the same
ticket store and operator directory the engine uses, and readers for what the ticket says."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, TypeVar

import sqlalchemy
from sqlalchemy import select
from sqlalchemy.orm import Session

from ivr.acd.operators import OperatorDirectory
from ivr.schema.tickets import Ticket, TicketEvent
from ivr.tickets.db import make_engine, upgrade
from ivr.tickets.store import SqlTicketStore
from tests.harness.engine_process import EngineProcess
from tests.harness.pbx import OPEN_MOMENT, PbxPair

T = TypeVar("T")


class TicketReads:
    """What the tickets say, read from the engine's database by the test (`db`), never through
    the engine: it may be killed, frozen or away."""

    db: sqlalchemy.Engine

    def read(self, fn: Callable[[Session], T]) -> T:
        with Session(self.db) as session:
            return fn(session)

    def kinds(self) -> list[str]:
        """Every ticket event's kind, in the order written."""
        return self.read(lambda s: list(s.scalars(select(TicketEvent.kind).order_by(TicketEvent.id))))

    def events(self, kind: str) -> set[int]:
        """The tickets with an event of `kind`."""
        return self.read(lambda s: set(s.scalars(select(TicketEvent.ticket_id).where(TicketEvent.kind == kind))))

    def tickets(self) -> list[Ticket]:
        return self.read(lambda s: list(s.scalars(select(Ticket).order_by(Ticket.id))))

    def ticket(self) -> Ticket | None:
        """The test's only ticket (one call), or None before the call has one."""
        return self.read(lambda s: s.scalars(select(Ticket)).one_or_none())


@dataclass
class ProcessLine(TicketReads):
    engine: EngineProcess
    db: sqlalchemy.Engine
    store: SqlTicketStore
    directory: OperatorDirectory
    now: datetime  # the engine's clock at its start (OPEN_MOMENT)


@contextlib.asynccontextmanager
async def process_line(
    pbx: PbxPair,
    data_dir: Path,
    flow: str,
    config: dict[str, Any] | None = None,
    *,
    operators: dict[str, str] | None = None,
    presence: str = "available",
) -> AsyncIterator[ProcessLine]:
    """The engine configured with `flow` (YAML) and `config`, not started (the test starts it, to
    act before and between starts); `operators` (login -> outside number) added with `presence`.
    On exit the engine is stopped and the test's store flushed."""
    flow_file = data_dir / "flow.yaml"
    flow_file.write_text(flow)
    engine = EngineProcess(pbx, data_dir, {"callflow": str(flow_file), **(config or {})})
    db = make_engine(engine.database_url)
    upgrade(db)
    store = SqlTicketStore(db)
    line = ProcessLine(engine, db, store, OperatorDirectory(store), datetime.fromisoformat(OPEN_MOMENT))
    try:
        for login, number in (operators or {}).items():
            await line.directory.add(login, login, now=line.now, softphone=False, outside_number=number)
            await line.directory.set_presence(login, presence, None, line.now)
        yield line
    finally:
        engine.stop()
        await store.stop()
        db.dispose()
