"""A batch's ticket events and updates, written as few plain statements.

A call makes about two dozen small writes (timeline events, column updates), and the single
writer gets them interleaved from every call in progress. Run one by one through the ORM they
cost most of the engine's CPU. Within a batch they commute with each other: an event does not
read the ticket's columns, and an update sets absolute values. So events are inserted together
(one executemany, in their order), a ticket's updates are merged into one row of an UPDATE
executemany, and both are written before any other command of the batch runs, which keeps
every other order as it was.

Statements are built once per shape and reused with parameters: building and caching a new
statement per write cost more than SQLite's own work.
"""

from __future__ import annotations

from functools import cache
from typing import Any

from sqlalchemy import Insert, Table, Update, bindparam, insert, update
from sqlalchemy.orm import Session

from ivr.schema.tickets import Ticket, TicketEvent

EVENTS: Table = TicketEvent.__table__  # type: ignore[assignment]
TICKETS: Table = Ticket.__table__  # type: ignore[assignment]
MERGED = frozenset({"ticket.event", "ticket.update"})
_INSERT_EVENTS: Insert = insert(EVENTS)


class Coalescer:
    def __init__(self, session: Session) -> None:
        self.session = session
        self.events: list[dict[str, Any]] = []
        self.updates: dict[int, dict[str, Any]] = {}

    def take(self, args: dict[str, Any], name: str) -> None:
        """`args`: the command's arguments with provisional ids already resolved."""
        if name == "ticket.event":
            self.events.append({"detail": None, **args})
        else:
            self.updates.setdefault(args["ticket_id"], {}).update(args["columns"])

    def flush(self) -> None:
        if self.session.new or self.session.dirty:
            self.session.flush()  # rows other commands added through the ORM keep their place
        if self.events:
            insert_events(self.session, self.events)
            self.events = []
        shapes: dict[tuple[str, ...], list[dict[str, Any]]] = {}
        for ticket_id, columns in self.updates.items():
            shapes.setdefault(tuple(sorted(columns)), []).append(_params(ticket_id, columns))
        for keys, rows in shapes.items():
            self.session.execute(_update(keys, only_open=False), rows)
        self.updates = {}


def insert_events(session: Session, rows: list[dict[str, Any]]) -> None:
    """Timeline rows (ticket_id, at, kind, detail), in their order."""
    session.execute(_INSERT_EVENTS, rows)


def update_columns(session: Session, ticket_id: int, columns: dict[str, Any], *, only_open: bool = False) -> int:
    """Set the ticket's columns; returns how many rows changed (0: no such ticket, or closed
    when `only_open`)."""
    result = session.execute(_update(tuple(sorted(columns)), only_open=only_open), _params(ticket_id, columns))
    return int(result.rowcount)  # type: ignore[attr-defined]


def _params(ticket_id: int, columns: dict[str, Any]) -> dict[str, Any]:
    return {"row_id": ticket_id, **{f"new_{k}": v for k, v in columns.items()}}


@cache
def _update(keys: tuple[str, ...], *, only_open: bool) -> Update:
    stmt = update(TICKETS).where(TICKETS.c.id == bindparam("row_id"))
    if only_open:
        stmt = stmt.where(TICKETS.c.open.is_(True))
    return stmt.values({k: bindparam(f"new_{k}", type_=TICKETS.c[k].type) for k in keys})
