"""The ticket store's single writer: batches, and the durable outbox when the database is away.

Calls never wait on each other for the database: writes from all calls are queued and committed
in batches by one thread, which keeps SQLite (one writer at a time) fast under hundreds of
concurrent calls and keeps the event loop free. When the database cannot be reached the call
path's commands go to the outbox instead and the calls go on; the writer probes the database
and replays the outbox, in order and exactly once, as soon as it answers.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import insert
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError
from sqlalchemy.orm import Session, sessionmaker

from ivr.ha.guard import Fenced as LineFenced
from ivr.schema.tickets import StoreBatch
from ivr.tickets.coalesce import MERGED, Coalescer
from ivr.tickets.commands import Command
from ivr.tickets.outbox import Outbox, real_id
from ivr.tickets.replay import Replayer

log = logging.getLogger(__name__)
_INSERT_BATCH = insert(StoreBatch.__table__)  # type: ignore[arg-type]


class _Barrier:
    """An item that writes nothing: once it is through, everything queued before it is too."""


BARRIER = _Barrier()
Item = Command | Callable[[Session], Any] | _Barrier


class StoreUnavailable(Exception):
    """The ticket database is away and this write cannot wait for it."""


class Fenced(StoreUnavailable, LineFenced):
    """This engine no longer holds the line's lease (ivr.ha): it must not write any more. Also
    the guard's Fenced, so whoever lets a database outage pass (StoreUnavailable) still stops
    on this one when it catches ivr.ha.guard.Fenced first."""


def unavailable(exc: BaseException) -> bool:
    """A fault of the connection (server down, network), not of the data."""
    if isinstance(exc, (OperationalError, InterfaceError)):
        return True
    return isinstance(exc, DBAPIError) and bool(exc.connection_invalidated)


def database_away(exc: BaseException) -> bool:
    """The database cannot answer now (work waits and is tried again), as opposed to a fenced
    engine, which must stop, or a fault of the data, which must be seen."""
    return not isinstance(exc, Fenced) and (isinstance(exc, StoreUnavailable) or unavailable(exc))


@dataclass(frozen=True)
class _Failure:
    error: Exception


class BatchWriter:
    def __init__(
        self,
        sessions: sessionmaker[Session],
        *,
        batch_max: int,
        outbox: Outbox | None,
        probe_every_s: float = 2.0,
        linger_s: float = 0.02,
    ) -> None:
        """`linger_s`: how long a batch of writes nobody waits for may wait for more. Calls
        write a few rows each, one at a time: without it most transactions carry one write,
        and the per-transaction cost (begin, commit, the outbox token) is most of the work."""
        self._sessions = sessions
        self._batch_max = batch_max
        self._linger = linger_s
        self._wake: asyncio.Event | None = None  # set when a write someone waits for is queued
        self.outbox = outbox
        self._probe_every = probe_every_s
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="ticket-writer")
        self._pending: asyncio.Queue[tuple[Item, asyncio.Future[Any], bool]] | None = None
        self._task: asyncio.Task[None] | None = None
        self._refs: dict[int, int] = outbox.refs() if outbox else {}
        self._replayer = Replayer(sessions, outbox, self._refs, unavailable) if outbox else None
        self.degraded = bool(outbox and outbox.count())  # left over from a previous run
        self.outages = 0
        self._posted = 0  # writes queued without waiting, not through yet
        self.batches = 0  # transactions (or outbox appends) so far
        # Run first in every transaction (the lease's check, ivr.ha.lease): raises Fenced when
        # another engine holds the line, so no batch of a fenced engine ever commits.
        self.guard: Callable[[Session], None] | None = None
        self.fenced: str | None = None  # why every write is refused from now on (lease lost)
        self._replaying: asyncio.Event | None = None  # set once a replay under way ends

    def fence(self, reason: str) -> None:
        """Refuse every write from now on, to the database and to the outbox alike."""
        self.fenced = reason

    async def start(self) -> None:
        if self._task is None:
            self._pending = asyncio.Queue()
            self._task = asyncio.create_task(self._loop(), name="ticket-writer")

    async def stop(self) -> None:
        """Flush what is queued (to the database, or to the outbox), then stop."""
        if self._task is not None and self._pending is not None:
            await self._pending.join()
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        if self._replaying is not None:  # no reader is left waiting for a replay that stopped
            self._replaying.set()
            self._replaying = None
        self._executor.shutdown(wait=True)

    async def submit(self, item: Item) -> Any:
        return await self._enqueue(item, awaited=True)

    def post(self, item: Item) -> None:
        """Queue a write without waiting for it: a call goes on talking while its ticket is
        written. Order is kept (one writer); a failure is logged; reads wait for it (barrier)."""
        fut = self._enqueue(item, awaited=False)
        self._posted += 1
        fut.add_done_callback(self._posted_done)

    def _posted_done(self, fut: asyncio.Future[Any]) -> None:
        self._posted -= 1
        if not fut.cancelled() and fut.exception() is not None:
            log.error("ticket write lost: %s", fut.exception())

    async def barrier(self) -> None:
        """Return once every write posted so far has gone through (read-your-writes). While the
        outbox is being replayed the writes accepted so far may still be in it: a read waits for
        the replay, as it did when the replay held the writer."""
        if self._posted:
            await self._enqueue(BARRIER, awaited=True)
        if self._replaying is not None:
            await self._replaying.wait()

    def _enqueue(self, item: Item, *, awaited: bool) -> asyncio.Future[Any]:
        if self._pending is None:
            self._pending = asyncio.Queue()
            self._task = asyncio.create_task(self._loop(), name="ticket-writer")
        fut: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._pending.put_nowait((item, fut, awaited))
        if (awaited or self._pending.qsize() >= self._batch_max) and self._wake is not None:
            self._wake.set()
        return fut

    def real_id(self, ref: int) -> int:
        """A row id; provisional ids (negative, given during an outage) once replayed."""
        return self._refs.get(ref, ref) if ref < 0 else ref

    # --- the loop -----------------------------------------------------------------------------

    async def _loop(self) -> None:
        assert self._pending is not None
        loop = asyncio.get_running_loop()
        next_probe = loop.time()  # while degraded: when the database is tried again
        while True:
            if self.degraded:
                # On schedule, busy or not: waiting for a quiet moment, a busy line's writer
                # stayed on its outbox for good after an outage (the soak: a minute's link cut,
                # 90 s later still degraded, and the engine taking over knew none of its calls).
                wait = next_probe - loop.time()
                if wait <= 0:
                    more = await self._recover(loop)
                    # A replay goes on group by group, with what was queued meanwhile taken in
                    # between (to the outbox, behind it): replayed whole, it kept every new call
                    # from its ticket, and so from being answered, for 26 s (full run 6).
                    next_probe = loop.time() + (0.0 if more else self._probe_every)
                    if self._pending.empty():
                        continue
                    first = self._pending.get_nowait()
                else:
                    try:
                        first = await asyncio.wait_for(self._pending.get(), wait)
                    except TimeoutError:
                        continue
            else:
                first = await self._pending.get()
                next_probe = loop.time() + self._probe_every  # if this batch finds it away
            batch = [first]
            await self._gather(batch)
            self.batches += 1
            results = await self._run(loop, [item for item, _, _ in batch])
            for (_, fut, _), result in zip(batch, results, strict=True):
                if not fut.done():
                    if isinstance(result, _Failure):
                        fut.set_exception(result.error)
                    else:
                        fut.set_result(result)
                self._pending.task_done()

    async def _gather(self, batch: list[tuple[Item, asyncio.Future[Any], bool]]) -> None:
        """Add what is queued to the batch; if nobody waits for any of it, linger a moment for
        more (cut short as soon as a write someone waits for arrives, or the batch is full)."""
        assert self._pending is not None
        if self._wake is None:
            self._wake = asyncio.Event()
        self._wake.clear()  # before draining: a write queued from now on wakes the wait below
        self._drain(batch)
        if self._linger > 0 and len(batch) < self._batch_max and not any(awaited for _, _, awaited in batch):
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self._linger)
            self._drain(batch)

    def _drain(self, batch: list[tuple[Item, asyncio.Future[Any], bool]]) -> None:
        assert self._pending is not None
        while len(batch) < self._batch_max and not self._pending.empty():
            batch.append(self._pending.get_nowait())

    async def _run(self, loop: asyncio.AbstractEventLoop, items: list[Item]) -> list[Any]:
        token = uuid.uuid4().hex
        if self.fenced is not None:
            return [_Failure(Fenced(self.fenced))] * len(items)
        if self.degraded:
            return await loop.run_in_executor(self._executor, self._to_outbox, items, token)
        try:
            return await loop.run_in_executor(self._executor, self._apply, items, token)
        except Fenced as exc:
            self.fence(str(exc))
            log.error("ticket writes refused: %s", exc)
            return [_Failure(exc)] * len(items)
        except Exception as exc:
            if unavailable(exc):
                if self.outbox is None:
                    return [_Failure(StoreUnavailable(str(exc)))] * len(items)
                self.degraded = True
                self.outages += 1
                log.error("ticket database unavailable (%s): writes go to the outbox %s", exc, self.outbox.path)
                return await loop.run_in_executor(self._executor, self._to_outbox, items, token)
            if len(items) == 1:
                log.error("ticket write failed: %s", exc)
                return [_Failure(exc)]
            log.warning("ticket batch of %d failed (%s); retrying singly", len(items), exc)
            return [(await self._run(loop, [item]))[0] for item in items]

    # --- in the writer thread -----------------------------------------------------------------

    def _apply(self, items: list[Item], token: str) -> list[Any]:
        with self._sessions.begin() as session:  # one transaction; rows flush at commit
            if self.guard is not None:
                self.guard(session)
            merged = Coalescer(session)
            results: list[Any] = []
            for item in items:
                if isinstance(item, Command) and item.name in MERGED:
                    merged.take(item.resolved(self._ref), item.name)
                    results.append(None)
                elif isinstance(item, _Barrier):
                    results.append(None)
                else:
                    merged.flush()  # what came before goes first
                    results.append(item.run(session, self._ref) if isinstance(item, Command) else item(session))
            merged.flush()
            if self.outbox is not None:
                session.execute(_INSERT_BATCH, {"token": token, "at": datetime.now(UTC)})
            return results

    def _ref(self, provisional: int) -> int:
        return real_id(provisional, self._refs)

    def _to_outbox(self, items: list[Item], token: str) -> list[Any]:
        assert self.outbox is not None and self._replayer is not None
        self._replayer.mine.add(token)  # this run's own: replayed as written (ivr.tickets.replay)
        results: list[Any] = []
        for item in items:
            if isinstance(item, _Barrier):
                results.append(None)
            elif isinstance(item, Command):
                row = self.outbox.append(token, item)
                results.append(-row if item.spec.creates else None)
            else:
                results.append(_Failure(StoreUnavailable("the ticket database is unavailable; try again shortly")))
        return results

    async def _recover(self, loop: asyncio.AbstractEventLoop) -> bool:
        """Replay the next group of the outbox; True when the database took it and more is left."""
        more = False
        try:
            more = await self._replay_next(loop)
        finally:
            if not more and self._replaying is not None:
                self._replaying.set()  # over, or stopped by a fault: readers go on
                self._replaying = None
        return more

    async def _replay_next(self, loop: asyncio.AbstractEventLoop) -> bool:
        if self.fenced is not None:
            return False  # left for this engine's next run, which replays it as an earlier run's
        try:
            left = await loop.run_in_executor(self._executor, self._replay)
        except Fenced as exc:
            self.fence(str(exc))
            log.error("outbox not replayed, this engine lost the line's lease: %s (left in %s)", exc, self.outbox)
            return False
        except Exception as exc:
            if not unavailable(exc):
                log.exception("outbox replay failed; will try again")
            return False
        if left == 0:
            self.degraded = False
            log.info("ticket database back: outbox replayed, writes go straight to it again")
            return False
        if self._replaying is None:
            self._replaying = asyncio.Event()
        return True

    def _replay(self) -> int:
        """The next group of the outbox (ivr.tickets.replay); returns how many batches are left."""
        assert self._replayer is not None
        return self._replayer.next_group(self.guard)
