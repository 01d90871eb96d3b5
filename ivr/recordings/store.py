"""Recordings kept for tickets: fetched from Asterisk, written with a checksum, then removed
from Asterisk. A file is only dropped on Asterisk's side once it is safely on ours."""

from __future__ import annotations

import asyncio
import hashlib
import io
import logging
import os
import wave
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from ivr.ha.guard import UNLEASED, LineGuard
from ivr.schema.tickets import Recording
from ivr.telephony.errors import AriError, AriUnavailable, NotFound
from ivr.telephony.ports import StoredRecordings
from ivr.tickets.store import LineStore
from ivr.tickets.writer import database_away

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RecordingInfo:
    id: int
    ticket_id: int
    kind: str
    path: Path
    sha256: str
    bytes: int
    duration_s: float


def recording_by_path(session: Session, *, path: str, **_: Any) -> int | None:
    return session.scalar(select(Recording.id).where(Recording.path == path))


def add_recording(
    session: Session,
    *,
    ticket_id: int,
    kind: str,
    path: str,
    sha256: str,
    bytes: int,
    duration_s: float,
    created_at: datetime,
) -> int:
    """One row per file: written again (an earlier run's outbox replayed) it is the same row."""
    existing = recording_by_path(session, path=path)
    if existing is not None:
        return existing
    row = Recording(
        ticket_id=ticket_id,
        kind=kind,
        path=path,
        sha256=sha256,
        bytes=bytes,
        duration_s=duration_s,
        created_at=created_at,
    )
    session.add(row)
    session.flush()
    return row.id


class RecordingStore:
    def __init__(self, pbx: StoredRecordings, root: Path, store: LineStore, guard: LineGuard = UNLEASED) -> None:
        """`pbx`: where finished recordings wait to be fetched. `store`: the row goes through
        the ticket store's writer, so it waits in the outbox with the rest of the call's writes
        when the database is away; the rows are read on its readers. `guard`: a fenced engine
        writes no file (the engine that took over keeps the recording, from Asterisk's copy)."""
        self.guard = guard
        self.pbx = pbx
        self.root = root
        self.store = store
        self.failures = 0  # files that could not be written here (full disk...): shown by the health API
        self.last_error: str | None = None

    async def keep(self, name: str, fmt: str, *, ticket_id: int, kind: str, at: datetime) -> RecordingInfo:
        """Fetch Asterisk's stored recording `name`, keep it for the ticket, delete it there.

        Raises (AriError, AriUnavailable, OSError) when it cannot be kept; Asterisk's copy then
        stays where it is, so nothing is lost."""
        data = await self.pbx.fetch(name)
        try:
            path, digest, duration = await asyncio.to_thread(self._write, data, name, fmt, ticket_id, at)
        except OSError as exc:
            self.failures += 1
            self.last_error = f"{name}: {exc.strerror or exc}"
            raise
        row_id: int = await self.store.execute(
            "recordings.add",
            ticket_id=ticket_id,
            kind=kind,
            path=str(path),
            sha256=digest,
            bytes=len(data),
            duration_s=duration,
            created_at=at,
        )
        info = RecordingInfo(row_id, ticket_id, kind, path, digest, len(data), duration)
        if row_id < 0 or not self.guard.allowed():
            # The row waits in the outbox (or this engine was just fenced): it may never reach
            # the database, and the engine that took over fetches from Asterisk. Its copy stays
            # (full run 3 lost a message so: deleted here, the row never replayed).
            log.warning("recording %s kept here; Asterisk keeps its copy until the row is stored", name)
            return info
        try:
            await self.pbx.delete(name)
        except (AriError, AriUnavailable) as exc:
            log.warning("recording %s kept, but not removed from Asterisk: %s", name, exc)
        return info

    def _write(self, data: bytes, name: str, fmt: str, ticket_id: int, at: datetime) -> tuple[Path, str, float]:
        """The file, synced to disk before anything points at it."""
        self.guard.check(f"write recording {name}")
        folder = self.root / f"{at:%Y/%m/%d}"
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"{ticket_id}-{name}.{fmt}"
        tmp = path.with_suffix(".part")
        try:
            with tmp.open("wb") as handle:
                handle.write(data)
                handle.flush()
                os.fsync(handle.fileno())
        except OSError:
            tmp.unlink(missing_ok=True)  # a full disk keeps no half file
            raise
        tmp.replace(path)
        duration = _duration(data) if fmt == "wav" else len(data) / (16000 if fmt == "sln" else 1650)
        return path, hashlib.sha256(data).hexdigest(), duration

    async def keep_or_find(self, name: str, fmt: str, *, ticket_id: int, kind: str, at: datetime) -> RecordingInfo:
        """`keep`, or when Asterisk no longer has the recording, the copy this line already keeps
        (`kept`): an engine killed between keeping it and saying so left it for the engine going on
        with the call. Raises NotFound when neither has it, or while the database cannot say (the
        caller's retry looks again)."""
        try:
            return await self.keep(name, fmt, ticket_id=ticket_id, kind=kind, at=at)
        except NotFound:
            try:
                found = await self.kept(name, fmt, ticket_id=ticket_id, kind=kind)
            except Exception as exc:
                if not database_away(exc):
                    raise
                log.warning("recording %s: a copy kept earlier not looked for, database unavailable (%s)", name, exc)
                found = None
            if found is None:
                raise
            log.info("recording %s: kept before the engine going on with the call came", name)
            return found

    async def kept(self, name: str, fmt: str, *, ticket_id: int, kind: str) -> RecordingInfo | None:
        """Asterisk's recording `name` as this line already keeps it for the ticket, its file
        intact; None if it does not. An engine stopped after keeping a recording (Asterisk's copy
        removed once the row was in the database) and before anything pointed at it left it
        here: the engine going on with the call finds it so (full run 6, ticket 579). The file is
        known by Asterisk's name alone (unique per recording): its prefix is the ticket id the
        keeping engine knew, which for a call begun in a database outage is the provisional one
        (the medium soak after run 6: ticket 64's audio kept as -392-vm--392-...wav and marked lost)."""
        suffix = f"-{name}.{fmt}"
        real = self.store.real_id(ticket_id)

        def fn(session: Session) -> RecordingInfo | None:
            query = select(Recording).where(
                Recording.ticket_id == real, Recording.kind == kind, Recording.path.endswith(suffix, autoescape=True)
            )
            r = session.scalars(query.order_by(Recording.id)).first()
            if r is None:
                return None
            return RecordingInfo(r.id, r.ticket_id, r.kind, Path(r.path), r.sha256, r.bytes, r.duration_s)

        info = await self.store.run_read(fn)
        if info is None:
            return None
        if not await asyncio.to_thread(_intact, info):
            log.warning("recording %s kept at %s, but its file is missing or altered", name, info.path)
            return None
        return info

    async def for_ticket(self, ticket_id: int) -> list[RecordingInfo]:
        def fn(session: Session) -> list[RecordingInfo]:
            rows = session.scalars(select(Recording).where(Recording.ticket_id == ticket_id).order_by(Recording.id))
            return [
                RecordingInfo(r.id, r.ticket_id, r.kind, Path(r.path), r.sha256, r.bytes, r.duration_s) for r in rows
            ]

        return await self.store.run_read(fn)


def _intact(info: RecordingInfo) -> bool:
    try:
        data = info.path.read_bytes()
    except FileNotFoundError:
        return False
    return hashlib.sha256(data).hexdigest() == info.sha256


def _duration(data: bytes) -> float:
    try:
        with wave.open(io.BytesIO(data)) as wav:
            return float(wav.getnframes()) / float(wav.getframerate())
    except (wave.Error, EOFError):
        return 0.0
