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

from sqlalchemy import Engine, select
from sqlalchemy.orm import sessionmaker

from ivr.telephony.ari import AriClient
from ivr.telephony.errors import AriError, AriUnavailable
from ivr.tickets.models import Recording

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


class RecordingStore:
    def __init__(self, engine: Engine, client: AriClient, root: Path) -> None:
        self._sessions = sessionmaker(engine, expire_on_commit=False)
        self.client = client
        self.root = root

    async def keep(self, name: str, fmt: str, *, ticket_id: int, kind: str, at: datetime) -> RecordingInfo:
        """Fetch Asterisk's stored recording `name`, keep it for the ticket, delete it there.

        Raises (AriError, AriUnavailable, OSError) when it cannot be kept; Asterisk's copy then
        stays where it is, so nothing is lost."""
        data = await self.client.download(f"recordings/stored/{name}/file")
        info = await asyncio.to_thread(self._write, data, name, fmt, ticket_id, kind, at)
        try:
            await self.client.delete(f"recordings/stored/{name}")
        except (AriError, AriUnavailable) as exc:
            log.warning("recording %s kept, but not removed from Asterisk: %s", name, exc)
        return info

    def _write(self, data: bytes, name: str, fmt: str, ticket_id: int, kind: str, at: datetime) -> RecordingInfo:
        folder = self.root / f"{at:%Y/%m/%d}"
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"{ticket_id}-{name}.{fmt}"
        tmp = path.with_suffix(".part")
        with tmp.open("wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        tmp.replace(path)
        digest = hashlib.sha256(data).hexdigest()
        duration = _duration(data) if fmt == "wav" else len(data) / (16000 if fmt == "sln" else 1650)
        with self._sessions.begin() as session:
            row = Recording(
                ticket_id=ticket_id,
                kind=kind,
                path=str(path),
                sha256=digest,
                bytes=len(data),
                duration_s=duration,
                created_at=at,
            )
            session.add(row)
            session.flush()
            return RecordingInfo(row.id, ticket_id, kind, path, digest, len(data), duration)

    def for_ticket(self, ticket_id: int) -> list[RecordingInfo]:
        with self._sessions() as session:
            rows = session.scalars(select(Recording).where(Recording.ticket_id == ticket_id).order_by(Recording.id))
            return [
                RecordingInfo(r.id, r.ticket_id, r.kind, Path(r.path), r.sha256, r.bytes, r.duration_s) for r in rows
            ]


def _duration(data: bytes) -> float:
    try:
        with wave.open(io.BytesIO(data)) as wav:
            return float(wav.getnframes()) / float(wav.getframerate())
    except (wave.Error, EOFError):
        return 0.0
