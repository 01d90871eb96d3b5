"""How an aggregate's repository (operators, closures, the daily cap...) reaches the database.

There is one way in: the ticket store's reader pool and its one batching writer. A read runs on
the store's readers after every write queued before it (read-your-writes); a write runs in the
writer's next batch, so no second writer contends for SQLite, the event loop never blocks on SQL,
and callers simply `await` (the console needs no `asyncio.to_thread`, the CLI runs the same
methods through `asyncio.run`).

A write that refuses (an unknown login, a duplicate) must not fail the batch it rode in with
other calls' writes: its operation checks before it changes anything, and the refusal comes back
as a value and is raised in the caller's task.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ClassVar, Generic, Protocol, TypeVar

from sqlalchemy.orm import Session

T = TypeVar("T")


class Database(Protocol):
    """What a repository needs of the ticket store (`SqlTicketStore` is one)."""

    async def run_read(self, fn: Callable[[Session], T]) -> T: ...

    async def run_write(self, op: Callable[[Session], T]) -> T: ...

    def real_id(self, ref: int) -> int: ...

    async def execute(self, name: str, **args: Any) -> Any: ...


@dataclass(frozen=True)
class _Done(Generic[T]):
    value: T


@dataclass(frozen=True)
class _Refused:
    error: Exception


class Repository:
    """Base of the async repositories: `_read` and `_write` on the store, refusals raised here."""

    refusals: ClassVar[tuple[type[Exception], ...]] = ()

    def __init__(self, db: Database) -> None:
        self.db = db

    async def _read(self, fn: Callable[[Session], T]) -> T:
        return await self.db.run_read(fn)

    def _real(self, ticket_id: int) -> int:
        """The ticket's id in the database. A call that began while the database was away holds
        a provisional (negative) id for the rest of its life; the id it got once the outbox was
        replayed is known from then on. Call it inside the read or write function, where any
        replay has already happened (the writer's own thread, or a read past its barrier)."""
        real = self.db.real_id(ticket_id)
        if real < 0:
            raise LookupError(f"ticket {ticket_id} is still waiting in the outbox")
        return real

    async def _write(self, op: Callable[[Session], T]) -> T:
        refusals = self.refusals

        def guarded(session: Session) -> _Done[T] | _Refused:
            try:
                return _Done(op(session))
            except refusals as exc:
                if session.new or session.dirty or session.deleted:
                    raise  # it changed something first: only rolling the batch back is safe
                return _Refused(exc)

        outcome = await self.db.run_write(guarded)
        if isinstance(outcome, _Refused):
            raise outcome.error
        return outcome.value
