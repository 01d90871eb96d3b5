"""Replaying the outbox into the ticket database: in order, once, and never stuck on one write.

Two things can make a waiting write wrong to apply as it was written, and both happened on the
soak (full run 8): an engine fenced while it served calls on its outbox, started again, and on its
next turn as the active engine replayed writes about calls the other engine had taken over
meanwhile; one of them (a second message for a ticket that had one) failed, and the replay tried
that group again every two seconds for the rest of the run while every new call's ticket waited
behind it: 146 calls and 281 messages never reached the store. So:

- **Writes of an earlier run of the engine** (an outbox found at start, whether this engine was
  stopped, killed or fenced) may describe calls another engine has since served. The commands are
  idempotent where a fact can only happen once (a call's ticket by its call id, a ticket's message,
  an admission per ticket, a survey answer per question, a recording by its file), and a command may
  name a `stale` variant for such writes: a ticket update fills in what a closed ticket left unknown
  and overwrites nothing the engine that closed it wrote.
- **A write that cannot be applied** (a fault of the data, not of the connection) is set aside in
  the outbox's `rejected` table with its error, for a person to look at (`ivr health`, the metrics),
  and everything else of its group is applied around it, one write at a time in savepoints. A
  connection fault still stops the replay, to be tried again.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from ivr.ha.guard import Fenced
from ivr.schema.tickets import StoreBatch
from ivr.tickets.commands import UnknownCommand
from ivr.tickets.outbox import Outbox, Pending, real_id

log = logging.getLogger(__name__)
REPLAY_GROUP = 50  # outbox batches replayed per transaction, new writes taken in between


@dataclass
class _Group:
    created: dict[int, int] = field(default_factory=dict)  # provisional id -> real id
    rejected: list[tuple[Pending, str]] = field(default_factory=list)
    stale: int = 0  # batches of an earlier run


class Replayer:
    """Replays an outbox group by group. `refs` is shared with the writer (provisional ids already
    replayed); `mine` holds the batches this process wrote: any other is an earlier run's.
    `connection_fault` tells a fault of the connection (stop, try again later) from one of the data."""

    def __init__(
        self,
        sessions: sessionmaker[Session],
        outbox: Outbox,
        refs: dict[int, int],
        connection_fault: Callable[[BaseException], bool],
    ) -> None:
        self._sessions = sessions
        self.outbox = outbox
        self.refs = refs
        self._fault = connection_fault
        self.mine: set[str] = set()

    def next_group(self, guard: Callable[[Session], None] | None) -> int:
        """Replay the next `REPLAY_GROUP` waiting batches in one transaction (each batch with its
        own token, so each is applied once) and one write of the outbox; returns how many batches
        are left. One transaction and one synced outbox write per batch cost 33 ms each on the
        soak's loaded machine. A group a write of which cannot be applied is done again one write
        at a time, that write set aside."""
        group, waiting = self.outbox.batches(REPLAY_GROUP)
        if not group:
            return 0
        try:
            done = self._group(group, guard, careful=False)
        except Exception as exc:
            if self._fault(exc) or isinstance(exc, Fenced | UnknownCommand):
                raise
            first = group[0][0].batch[:8]
            log.warning("outbox: a write of group %s cannot be applied (%s): one write at a time", first, exc)
            done = self._group(group, guard, careful=True)
        self.refs.update(done.created)
        self.outbox.done([pending for batch in group for pending in batch], done.created, done.rejected)
        writes = sum(len(batch) for batch in group)
        log.info(
            "outbox: %d batch(es) replayed (%d write(s), first %s)%s",
            len(group),
            writes,
            group[0][0].batch[:8],
            f", {done.stale} of an earlier run" if done.stale else "",
        )
        for pending, error in done.rejected:
            command = pending.command
            log.error("outbox: write set aside in %s: %s %s: %s", self.outbox.path, command.name, command.args, error)
        return waiting - len(group)

    def _group(self, group: list[list[Pending]], guard: Callable[[Session], None] | None, *, careful: bool) -> _Group:
        result = _Group()

        def ref(provisional: int) -> int:
            return real_id(provisional, result.created, self.refs)

        with self._sessions.begin() as session:
            if guard is not None:
                guard(session)
            tokens = [batch[0].batch for batch in group]
            done = set(session.scalars(select(StoreBatch.token).where(StoreBatch.token.in_(tokens))))
            for batch in group:
                token = batch[0].batch
                stale = token not in self.mine
                result.stale += stale
                if token in done:  # committed before the connection died: only learn the ids it made
                    for pending in batch:
                        self._learn(session, pending, ref, result)
                    continue
                for pending in batch:
                    if careful:
                        self._carefully(session, pending, ref, stale, result)
                    else:
                        self._apply(session, pending, ref, stale, result)
                session.add(StoreBatch(token=token, at=datetime.now(UTC)))
        return result

    @staticmethod
    def _learn(session: Session, pending: Pending, ref: Callable[[int], int], result: _Group) -> None:
        spec = pending.command.spec
        if spec.creates and spec.lookup is not None:
            found = pending.command.run_lookup(session, ref)
            if found is not None:
                result.created[-pending.row] = found

    @staticmethod
    def _apply(session: Session, pending: Pending, ref: Callable[[int], int], stale: bool, result: _Group) -> None:
        made: Any = pending.command.run(session, ref, stale=stale)
        session.flush()
        if pending.command.spec.creates:
            result.created[-pending.row] = int(made)

    def _carefully(
        self, session: Session, pending: Pending, ref: Callable[[int], int], stale: bool, result: _Group
    ) -> None:
        try:
            with session.begin_nested():
                self._apply(session, pending, ref, stale, result)
        except Exception as exc:
            if self._fault(exc) or isinstance(exc, Fenced | UnknownCommand):
                raise
            cause = getattr(exc, "orig", None) or exc  # the database's own words, not the ORM's note
            result.rejected.append((pending, f"{type(exc).__name__}: {cause}".splitlines()[0]))
