"""Closing the line and opening it again: one path for the console and `ivr closure`.

A closure is the row (`RuntimeClosures`), the spoken message built into the folder Asterisk plays
from, and an audit entry naming who closed the line and from where. The console did all three and
the command line only the first two, each in its own way; both now go through `ClosureDesk`.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

from ivr.hours.closures import RuntimeClosures, media_name
from ivr.tickets.audit import Actor, AuditSink, record

BuildMessage = Callable[[str, str, Path], Path]  # (prompt name, text, folder) -> the file built
ConvertMessage = Callable[[str, Path, Path], Path]  # (prompt name, uploaded file, folder) -> the file built
NextOpening = Callable[[datetime], datetime | None]  # the calendar's next opening after a moment


class ClosureDesk:
    def __init__(
        self,
        closures: RuntimeClosures,
        build_message: BuildMessage,
        audit: AuditSink,
        next_opening: NextOpening | None = None,
    ) -> None:
        """`next_opening`: when a closure made now ends by itself (None: it lasts until ended)."""
        self.closures = closures
        self.build_message = build_message
        self.audit = audit
        self.next_opening = next_opening

    async def close_now(
        self, reason: str, message: str | None, *, at: datetime, by: Actor, until_ended: bool = False
    ) -> tuple[int, datetime | None]:
        """An emergency closure from now: it ends by itself at the calendar's next opening (the
        line does not stay shut because nobody remembered to open it), unless `until_ended`,
        when only an explicit end lifts it. Returns the closure and its end."""
        end = None if until_ended or self.next_opening is None else self.next_opening(at)
        return await self.add(at, end, reason, message, at=at, by=by), end

    async def add(
        self, start: datetime, end: datetime | None, reason: str, message: str | None, *, at: datetime, by: Actor
    ) -> int:
        """The closure, its message spoken to callers (built before the closure starts to be read
        with it), and its audit entry. Raises ValueError for an end before the start."""
        closure_id = await self.closures.add(start, end, reason, message, at, by.name)
        if message:
            await asyncio.to_thread(self.build_message, media_name(closure_id), message, self.closures.local_dir)
        await record(self.audit, by, "closure_add", at, "closure", closure_id, now=start <= at, reason=reason)
        return closure_id

    async def end(self, closure_id: int | None, *, at: datetime, by: Actor) -> int:
        """End one closure, or every one in effect (`closure_id` None); how many ended."""
        ended = await self.closures.end(closure_id, at)
        if ended:
            await record(self.audit, by, "closure_end", at, "closure", closure_id or "all", ended=ended)
        return ended
