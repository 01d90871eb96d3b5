"""Service notices: what a supervisor types in the console is synthesised at once and said to
every caller after the welcome until the time they set ("il portale è fuori servizio, riprovi
domani"), so the line answers the day's common question before anyone waits for it.

Like run-time closures the engine asks for them on every call, through a cache of a couple of
seconds; a database away keeps the last known notices in force. The notice, its spoken file and
the audit entry go through `NoticeDesk`, one path."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from ivr.hours.closing import BuildMessage, ConvertMessage
from ivr.hours.spoken import SpokenRows
from ivr.schema.tickets import ServiceNoticeRow
from ivr.tickets.audit import Actor, AuditSink, record

log = logging.getLogger(__name__)
LONGEST_TEXT = 500
LONGEST_RECORDING_S = 60.0  # a notice is a sentence or two: callers wait through it before the menu
STAGED = "notice_upload_"  # a recording converted, before its notice exists


def media_name(notice_id: int) -> str:
    return f"notice_rt_{notice_id}"


@dataclass(frozen=True)
class Notice:
    id: int
    media: str  # what Asterisk plays ("sound:<dir>/<name>")


class ServiceNotices(SpokenRows[Notice]):
    async def add(self, text: str, start: datetime, end: datetime, created_at: datetime, by: str | None) -> int:
        if end <= start:
            raise ValueError("l'avviso deve finire dopo l'inizio")

        def op(session: Session) -> int:
            row = ServiceNoticeRow(text=text, starts_at=start, ends_at=end, created_at=created_at, created_by=by)
            session.add(row)
            session.flush()
            return row.id

        self.forget()
        return await self._write(op)

    async def end(self, notice_id: int, at: datetime, by: str | None) -> int:
        """Lift a notice still in force or coming; how many were lifted (0 or 1)."""

        def op(session: Session) -> int:
            query = update(ServiceNoticeRow).where(ServiceNoticeRow.id == notice_id, ServiceNoticeRow.ends_at > at)
            done = session.execute(query.values(ends_at=at, ended_by=by))
            return int(done.rowcount)  # type: ignore[attr-defined]

        self.forget()
        return await self._write(op)

    async def rows(self, limit: int = 30) -> list[ServiceNoticeRow]:
        """The newest notices, in force or not."""
        query = select(ServiceNoticeRow).order_by(ServiceNoticeRow.id.desc()).limit(limit)
        return await self._read(lambda s: list(s.scalars(query)))

    async def current(self, now: datetime) -> list[Notice]:
        def fn(session: Session) -> list[Notice]:
            query = (
                select(ServiceNoticeRow.id)
                .where(ServiceNoticeRow.starts_at <= now, ServiceNoticeRow.ends_at > now)
                .order_by(ServiceNoticeRow.id)
            )
            return [self._notice(i) for i in session.scalars(query)]

        found = await self._read(fn)
        return [n for n in found if (self.local_dir / f"{media_name(n.id)}.wav").exists()]  # spoken ones only

    def _notice(self, notice_id: int) -> Notice:
        return Notice(notice_id, f"sound:{self.asterisk_dir}/{media_name(notice_id)}")

    async def active(self, now: datetime) -> list[Notice]:
        """The notices in force, cached for a short while; the last known while the store is away."""
        return await self._through_cache(now, self.current, "service notices")


class NoticeDesk:
    """A notice set or lifted, from the console: the row, its spoken file, the audit entry."""

    def __init__(
        self,
        notices: ServiceNotices,
        build_message: BuildMessage,
        audit: AuditSink,
        convert_message: ConvertMessage | None = None,
    ) -> None:
        self.notices = notices
        self.build_message = build_message
        self.audit = audit
        self.convert_message = convert_message  # a supervisor's own recording (None: typed notices only)

    async def add(self, text: str, until: datetime, *, at: datetime, by: Actor, recording: Path | None = None) -> int:
        """In force from now until `until`; spoken before it is read with the notices in force
        (the row is written first and the file after: a call in between finds no file and says
        nothing, rather than a notice with no sound). With `recording` (an uploaded file) the
        callers hear that voice, and `text` says what it says (the console's list, the audit);
        it is converted first, so a file that is no audio leaves no notice behind."""
        text = " ".join(text.split())
        if not text or len(text) > LONGEST_TEXT:
            raise ValueError(f"il testo dell'avviso va da 1 a {LONGEST_TEXT} caratteri")
        staged: Path | None = None
        if recording is not None:
            if self.convert_message is None:
                raise ValueError("gli avvisi registrati non sono attivi su questa linea")
            staged = await asyncio.to_thread(
                self.convert_message, f"{STAGED}{recording.stem}", recording, self.notices.local_dir
            )
        try:
            notice_id = await self.notices.add(text, at, until, at, by.name)
        except BaseException:
            if staged is not None:
                staged.unlink(missing_ok=True)
            raise
        target = self.notices.local_dir / f"{media_name(notice_id)}.wav"
        if staged is not None:
            staged.replace(target)
        else:
            await asyncio.to_thread(self.build_message, media_name(notice_id), text, self.notices.local_dir)
        self.notices.forget()  # said from the next call on
        how = "recorded" if staged is not None else "synthesised"
        await record(self.audit, by, "notice_add", at, "notice", notice_id, until=until.isoformat(), voice=how)
        return notice_id

    async def end(self, notice_id: int, *, at: datetime, by: Actor) -> int:
        ended = await self.notices.end(notice_id, at, by.name)
        if ended:
            await record(self.audit, by, "notice_end", at, "notice", notice_id)
        return ended
