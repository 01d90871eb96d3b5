"""Audio files no row names: what an engine stopped between writing a file and storing its row
left in the line's audio folders.

Asterisk removes its copy of a recording only once a row for it is stored, so the engine that goes
on with the call keeps the recording again, and the stopped engine's file is a second copy (the
suite's three-minute soak: ticket 45's recording, written by engine a killed before its row, kept
again by engine b). Nobody points at a second copy: the console never shows it and the purge never
reaches it, so it would stay past every retention period. The sweep removes a file no row names
when a row names another copy of the same recording (the file's name without the ticket id it
begins with: a call begun in a database outage is written under its provisional id), and a half
written one (`.part`). A file no row names under any name may be the only copy of something: it
is kept and named in the log, for a person to look at.

Only files older than a grace period are looked at: a file is written before its row, and the row
of a file kept in a database outage waits in the outbox until the database is back.
"""

from __future__ import annotations

import asyncio
import logging
import os
import re
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from ivr import jobs
from ivr.ha.guard import UNLEASED, LineGuard
from ivr.schema.tickets import Recording

log = logging.getLogger(__name__)
JOB_ID = "stray-audio"
_TICKET_PREFIX = re.compile(r"^-?[0-9]+-")


def recording_key(file_name: str) -> str | None:
    """Asterisk's name of the recording with the file's format (`vm-12-...wav`), the same for
    every copy whatever ticket id the keeping engine knew; None for a name the line never writes."""
    found = _TICKET_PREFIX.match(file_name)
    return file_name[found.end() :] if found else None


def _half_written(path: Path) -> bool:
    return path.suffix == ".part" or ".part." in path.name


@dataclass
class Strays:
    removed: list[Path] = field(default_factory=list)  # second copies and half-written files
    unowned: list[Path] = field(default_factory=list)  # no row names them under any name: kept
    failed: list[tuple[Path, str]] = field(default_factory=list)


def sweep_strays(
    engine: Engine, dirs: Sequence[Path], *, grace_s: float, now_ts: float | None = None, delete: bool = True
) -> Strays:
    """Look through `dirs` for files older than `grace_s` (real seconds, by their modification
    time) that no row names; remove the second copies and half-written files (unless `delete`
    is false: then they are only listed as removable)."""
    now_ts = time.time() if now_ts is None else now_ts
    candidates = [
        p
        for d in dirs
        if d.is_dir()
        for p in sorted(d.rglob("*"))
        if p.is_file() and not p.is_symlink() and not p.name.startswith(".") and now_ts - p.stat().st_mtime > grace_s
    ]
    found = Strays()
    if not candidates:
        return found
    with Session(engine) as session:
        named = [p for row in session.execute(select(Recording.path, Recording.web_path)) for p in row if p]
    known = set(named) | {str(Path(p).resolve()) for p in named}
    copies: dict[str, list[str]] = {}
    for p in named:
        key = recording_key(Path(p).name)
        if key is not None:
            copies.setdefault(key, []).append(p)
    for path in candidates:
        if str(path) in known or str(path.resolve()) in known:
            continue
        key = recording_key(path.name)
        if _half_written(path) or (key is not None and _another_copy(path, copies.get(key, []))):
            found.removed.append(path)
        else:
            found.unowned.append(path)
    if delete:
        for path in list(found.removed):
            try:
                path.unlink(missing_ok=True)
            except OSError as exc:
                found.removed.remove(path)
                found.failed.append((path, exc.strerror or str(exc)))
    return found


def _another_copy(path: Path, others: list[str]) -> bool:
    """A row names another file holding the same recording, and that file is there: a second copy
    is removed only while the first can be seen (a folder both engines reach under different
    names must not look like a missing copy)."""
    for other in others:
        try:
            if Path(other).is_file() and not os.path.samefile(other, path):
                return True
        except OSError:
            continue
    return False


class StraySweeper:
    """The engine's periodic sweep: off the event loop, never by a fenced engine."""

    def __init__(self, engine: Engine, dirs: Sequence[Path], grace_s: float, guard: LineGuard = UNLEASED) -> None:
        self.engine = engine
        self.dirs = tuple(dirs)
        self.grace_s = grace_s
        self.guard = guard
        self._reported: set[Path] = set()

    def run(self) -> Strays:
        self.guard.check("remove stray audio")
        found = sweep_strays(self.engine, self.dirs, grace_s=self.grace_s)
        for path in found.removed:
            log.warning("stray audio removed (a second copy, or half written, that no row names): %s", path)
        for path, error in found.failed:
            log.warning("stray audio not removed (retried at the next sweep): %s: %s", path, error)
        for path in found.unowned:
            if path not in self._reported:
                log.error("audio file no row names, kept for a person to look at: %s", path)
        self._reported = set(found.unowned)
        return found


async def sweep_job() -> None:
    sweeper = jobs.running("strays")
    if sweeper is None:
        return
    try:
        await asyncio.to_thread(sweeper.run)
    except Exception:  # the next sweep tries again; calls go on
        log.exception("stray audio sweep failed")


def schedule_stray_sweep(scheduler: Any, sweeper: StraySweeper, every_s: float) -> None:
    jobs.register("strays", sweeper)
    scheduler.add_job(sweep_job, "interval", seconds=every_s, id=JOB_ID, replace_existing=True)
