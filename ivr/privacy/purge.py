"""The purge: remove what is past its retention period, kind by kind, in short transactions.

Files go "first-safe": a batch clears or deletes the rows and writes the paths to `purge_files`
in one transaction; the files are deleted after it commits. A crash in between leaves files
nobody points at, listed for the next run to delete; a file that cannot be deleted stays listed,
is retried by every run and shown in its report. A row never points at a deleted file.

Unlike the repositories (ivr.tickets.repository), the purge keeps its own synchronous sessions and
runs whole in a worker thread (`asyncio.to_thread` in the nightly job, plainly in
`ivr privacy purge`): it is a long batch of many short transactions and file deletions, kept off
the event loop and out of the store's one writer, so the calls' writes never queue behind it.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

from sqlalchemy import Engine, select
from sqlalchemy.orm import Session, sessionmaker

from ivr.privacy.asterisk_files import AsteriskDirs, logs_due, spool_due
from ivr.privacy.config import RetentionSettings
from ivr.privacy.holds import held_tickets
from ivr.privacy.kinds import KIND_NAMES, KINDS, Kind, count
from ivr.recordings.paths import inside
from ivr.schema.console import AuditEntry
from ivr.schema.privacy import PurgeFile, PurgeRun
from ivr.schema.tickets import TicketEvent
from ivr.tickets.events import EventKind

log = logging.getLogger(__name__)
FILE_KINDS = ("spool_audio", "asterisk_logs")  # files on Asterisk's side, no rows
ALL_KINDS = KIND_NAMES + FILE_KINDS
__all__ = ["ALL_KINDS", "AsteriskDirs", "PurgeResult", "Purger"]


@dataclass
class KindResult:
    items: int = 0
    files: int = 0


@dataclass
class PurgeResult:
    dry_run: bool
    cutoffs: dict[str, datetime]
    kinds: dict[str, KindResult] = field(default_factory=lambda: {k: KindResult() for k in ALL_KINDS})
    run_id: int | None = None
    files_deleted: int = 0
    failed_files: list[tuple[str, str]] = field(default_factory=list)  # (path, error), still pending
    held_tickets: int = 0
    files_due: list[str] = field(default_factory=list)  # the dry run: Asterisk's files that would go

    @property
    def items(self) -> int:
        return sum(k.items for k in self.kinds.values())


def cutoffs(settings: RetentionSettings, now: datetime) -> dict[str, datetime]:
    days = {
        "recordings": settings.recordings_days,
        "voicemail_audio": settings.voicemail_audio_days,
        "transcripts": settings.transcripts_days,
        "caller_data": settings.caller_data_days,
        "survey_answers": settings.survey_answers_days,
        "sessions": settings.sessions_days,
        "operator_time": settings.operator_time_days,
        "audit": settings.audit_days,
        "spool_audio": settings.spool_audio_days,
        "asterisk_logs": settings.asterisk_logs_days,
    }
    return {kind: now - timedelta(days=days[kind]) for kind in ALL_KINDS}


class Purger:
    def __init__(
        self,
        engine: Engine,
        settings: RetentionSettings,
        asterisk: AsteriskDirs | None = None,
        *,
        audio_dirs: Sequence[Path] = (),
    ) -> None:
        """`asterisk`: the spool and log dirs of the engine's Asterisk (none: not purged here).
        `audio_dirs`: the folders the line keeps audio in (`ivr.recordings.paths.audio_dirs`); a
        listed file anywhere else is never deleted, whatever the database says."""
        self._sessions = sessionmaker(engine, expire_on_commit=False)
        self.settings = settings
        self.asterisk = asterisk or AsteriskDirs()
        extra = (d for d in (self.asterisk.spool, self.asterisk.logs) if d is not None)
        self._deletable = (*audio_dirs, *extra)

    def _asterisk_files(self, session: Session, cuts: dict[str, datetime]) -> dict[str, list[Path]]:
        return {
            "spool_audio": spool_due(session, self.asterisk.spool, cuts),
            "asterisk_logs": logs_due(self.asterisk.logs, cuts["asterisk_logs"]),
        }

    def due(self, now: datetime) -> PurgeResult:
        """What a purge at `now` would remove, per kind; changes nothing (the dry run, the report)."""
        result = PurgeResult(dry_run=True, cutoffs=cutoffs(self.settings, now))
        with self._sessions() as session:
            for kind in KINDS:
                query = kind.due(result.cutoffs[kind.name])
                ids = list(session.scalars(query))
                result.kinds[kind.name] = KindResult(len(ids), len(_chunked_files(session, kind, ids)))
            result.held_tickets = count(session, held_tickets())
            for name, paths in self._asterisk_files(session, result.cutoffs).items():
                result.kinds[name] = KindResult(len(paths), len(paths))
                result.files_due.extend(str(p) for p in paths)
            pending = session.scalars(select(PurgeFile).order_by(PurgeFile.id))
            result.failed_files = [(f.path, f.last_error or "not yet tried") for f in pending]
        return result

    def run(self, now: datetime, *, trigger: str = "command", by: str | None = None) -> PurgeResult:
        """Purge what is older than each kind's period at `now` (the engine's clock)."""
        began = time.monotonic()
        result = PurgeResult(dry_run=False, cutoffs=cutoffs(self.settings, now))
        with self._sessions.begin() as session:
            run = PurgeRun(
                started_at=now,
                trigger=trigger,
                by=by,
                counts={},
                cutoffs={k: v.isoformat() for k, v in result.cutoffs.items()},
                files_deleted=0,
                files_failed=0,
            )
            session.add(run)
            session.flush()
            result.run_id = run_id = run.id
            result.held_tickets = count(session, held_tickets())
        for kind in KINDS:
            self._purge_kind(kind, run_id, now, result)
        self._purge_asterisk_files(run_id, now, result)
        self._delete_files(now, result)
        with self._sessions.begin() as session:
            row = session.get(PurgeRun, run_id)
            assert row is not None
            row.counts = {k: {"items": v.items, "files": v.files} for k, v in result.kinds.items()}
            row.files_deleted, row.files_failed = result.files_deleted, len(result.failed_files)
            row.finished_at = now + timedelta(seconds=time.monotonic() - began)
            session.add(
                AuditEntry(
                    at=now,
                    login=by,
                    action="privacy_purge",
                    object_kind="purge_run",
                    object_id=str(run_id),
                    detail={"items": {k: v.items for k, v in result.kinds.items()}, "trigger": trigger},
                )
            )
        return result

    def _purge_kind(self, kind: Kind, run_id: int, now: datetime, result: PurgeResult) -> None:
        query = kind.due(result.cutoffs[kind.name])
        seen: set[int] = set()
        while True:
            with self._sessions.begin() as session:
                ids = list(session.scalars(query.limit(self.settings.batch)))
                if not ids:
                    return
                if seen.issuperset(ids):  # nothing changed: never loop on a row that will not clear
                    log.error("privacy purge: %s items %s did not clear; stopping this kind", kind.name, ids[:5])
                    return
                seen.update(ids)
                applied = kind.apply(session, ids)
                for path in applied.files:
                    session.add(PurgeFile(run_id=run_id, kind=kind.name, path=path, attempts=0))
                for ticket_id in sorted(applied.tickets):
                    detail = {"what": kind.name, "run": run_id}
                    session.add(TicketEvent(ticket_id=ticket_id, at=now, kind=EventKind.PRIVACY_PURGED, detail=detail))
            result.kinds[kind.name].items += applied.items
            result.kinds[kind.name].files += len(applied.files)
            self._delete_files(now, result, run_id=run_id)

    def _purge_asterisk_files(self, run_id: int, now: datetime, result: PurgeResult) -> None:
        """Listed like every purged file (so a failure is retried and reported), then deleted."""
        with self._sessions.begin() as session:
            listed = set(session.scalars(select(PurgeFile.path)))
            for name, paths in self._asterisk_files(session, result.cutoffs).items():
                fresh = [p for p in paths if str(p) not in listed]
                for path in fresh:
                    session.add(PurgeFile(run_id=run_id, kind=name, path=str(path), attempts=0))
                result.kinds[name].items += len(fresh)
                result.kinds[name].files += len(fresh)
        self._delete_files(now, result, run_id=run_id)

    def _delete_files(self, now: datetime, result: PurgeResult, run_id: int | None = None) -> None:
        """Delete the listed files; with `run_id`, only this run's fresh ones (the final pass,
        without, also retries what earlier runs could not delete)."""
        with self._sessions() as session:
            query = select(PurgeFile).order_by(PurgeFile.id)
            if run_id is not None:
                query = query.where(PurgeFile.run_id == run_id, PurgeFile.attempts == 0)
            pending = list(session.scalars(query))
        failed: list[tuple[str, str]] = []
        done: list[int] = []
        errors: dict[int, str] = {}
        for item in pending:
            if not inside(Path(item.path), self._deletable):
                errors[item.id] = "refused: outside the audio folders (a database that names it was tampered with)"
                failed.append((item.path, errors[item.id]))
                continue
            try:
                Path(item.path).unlink(missing_ok=True)
            except OSError as exc:
                errors[item.id] = f"{type(exc).__name__}: {exc.strerror or exc}"
                failed.append((item.path, errors[item.id]))
            else:
                done.append(item.id)
        with self._sessions.begin() as session:
            for file_id in done:
                row = session.get(PurgeFile, file_id)
                if row is not None:
                    session.delete(row)
            for file_id, error in errors.items():
                row = session.get(PurgeFile, file_id)
                if row is not None:
                    row.attempts, row.last_error, row.last_try_at = row.attempts + 1, error[:2000], now
        result.files_deleted += len(done)
        if run_id is None:
            result.failed_files = failed
        for path, error in failed:
            log.warning("privacy purge: could not delete %s (%s); retried at the next run", path, error)


def _chunked_files(session: Session, kind: Kind, ids: list[int]) -> list[str]:
    files: list[str] = []
    for start in range(0, len(ids), 500):
        files.extend(kind.files(session, ids[start : start + 500]))
    return files
