"""Closures set at run time (`ivr closure ...`, the console's admin page), kept in the store.

The engine asks for them on every call, so they are cached for a couple of seconds: flipping the
"closed now" switch takes effect for the next calls without a restart, and a burst of calls does
not become a burst of queries.
"""

from __future__ import annotations

import logging
from datetime import datetime

from sqlalchemy import or_, select, update
from sqlalchemy.orm import Session

from ivr.hours.calendar import Closure
from ivr.hours.spoken import SpokenRows
from ivr.schema.tickets import ClosureRow

log = logging.getLogger(__name__)


def media_name(closure_id: int) -> str:
    """Prompt file name of a run-time closure's own message."""
    return f"closure_rt_{closure_id}"


class RuntimeClosures(SpokenRows[Closure]):
    """The closures aggregate, on the ticket store's readers and writer."""

    # --- administration (CLI and console) ------------------------------------------------------

    async def add(
        self,
        start: datetime,
        end: datetime | None,
        reason: str,
        message: str | None,
        created_at: datetime,
        created_by: str | None = None,
    ) -> int:
        if end is not None and end <= start:
            raise ValueError("the closure must end after it starts")

        def op(session: Session) -> int:
            row = ClosureRow(
                starts_at=start,
                ends_at=end,
                reason=reason,
                message=message,
                created_at=created_at,
                created_by=created_by,
            )
            session.add(row)
            session.flush()
            return row.id

        return await self._write(op)

    async def end(self, closure_id: int | None, at: datetime) -> int:
        """End one closure (or every one in effect when `closure_id` is None) at `at`."""

        def op(session: Session) -> int:
            query = update(ClosureRow).where(
                ClosureRow.starts_at <= at, or_(ClosureRow.ends_at.is_(None), ClosureRow.ends_at > at)
            )
            if closure_id is not None:
                query = query.where(ClosureRow.id == closure_id)
            result = session.execute(query.values(ends_at=at))
            return int(result.rowcount)  # type: ignore[attr-defined]

        return await self._write(op)

    async def rows(self, since: datetime | None = None) -> list[ClosureRow]:
        """The stored rows by start (detached: their columns only)."""

        def fn(session: Session) -> list[ClosureRow]:
            query = select(ClosureRow).order_by(ClosureRow.starts_at)
            if since is not None:
                query = query.where(or_(ClosureRow.ends_at.is_(None), ClosureRow.ends_at > since))
            return list(session.scalars(query))

        return await self._read(fn)

    # --- what the calendar needs --------------------------------------------------------------

    async def current(self, now: datetime) -> list[Closure]:
        return await self._read(lambda session: [self._closure(r) for r in self._not_over(session, now)])

    def _not_over(self, session: Session, now: datetime) -> list[ClosureRow]:
        query = select(ClosureRow).where(or_(ClosureRow.ends_at.is_(None), ClosureRow.ends_at > now))
        return list(session.scalars(query))

    def _closure(self, row: ClosureRow) -> Closure:
        name = media_name(row.id)
        has_audio = row.message is not None and (self.local_dir / f"{name}.wav").exists()
        return Closure(
            id=f"rt-{row.id}",
            start=row.starts_at,
            end=row.ends_at,
            reason=row.reason,
            media=f"sound:{self.asterisk_dir}/{name}" if has_audio else None,
            source="runtime",
        )

    async def active(self, now: datetime) -> list[Closure]:
        """Closures not over yet (in effect or coming), cached for a short while."""
        return await self._through_cache(now, self.current, "run-time closures")
