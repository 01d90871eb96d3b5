"""Faults done to the line under soak, each undone after its time: the soak's schedule
(`ivr.lab.soak.faults`) says when, this module does it and writes down when it was done and undone.

The line's parts are reached through `LineUnderSoak`, so the same injector drives the soak's own
line and a test's. Every fault is undone even when the soak is cancelled half-way through one:
a soak that leaves PostgreSQL stopped or an engine frozen would blame the next run for it.
"""

from __future__ import annotations

import asyncio
import errno
import logging
import os
import signal
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Protocol

from ivr.lab.soak.evidence import Fault as FaultRecord
from ivr.lab.soak.faults import Fault, FaultKind

log = logging.getLogger(__name__)

BALLAST = ".soak-disk-full"
MAX_FILL_BYTES = 2 * 1024**3  # never fill a real disk: the soak's data folder lives on a small mount


class Cuttable(Protocol):
    """A link that can be cut and restored (`ivr.lab.link.FaultyLink`, or one run on a thread of
    its own so the soak's own work never stalls the line)."""

    def cut(self) -> None: ...

    def restore(self) -> None: ...


class LineUnderSoak(Protocol):
    """What the injector needs of the running line."""

    @property
    def ari_link(self) -> Cuttable:
        """Between the active engine and Asterisk's ARI."""

    @property
    def pg_link(self) -> Cuttable:
        """Between the engines and PostgreSQL."""

    data_dir: Path  # on a small file system of its own (disk full)
    data_bytes: int  # that file system's size: the disk-full fault fills no more than that

    def active_engine_pid(self) -> int: ...

    async def engine_gone(self, pid: int) -> None:
        """The engine `pid` died or fenced itself: start a new standby in its place."""

    async def restart_asterisk(self) -> None: ...

    async def stop_postgres(self) -> None: ...

    async def start_postgres(self) -> None: ...

    async def stop_smtp(self) -> None: ...

    async def start_smtp(self) -> None: ...


class DiskFiller:
    """Fills the file system under `folder` with one ballast file, then removes it."""

    def __init__(self, folder: Path, limit: int = MAX_FILL_BYTES) -> None:
        self.path = folder / BALLAST
        self.limit = limit

    def fill(self) -> int:
        free = os.statvfs(self.path.parent)
        if free.f_bavail * free.f_frsize > self.limit:
            raise RuntimeError(f"{self.path.parent}: more than {self.limit} bytes free; not filling a real disk")
        written = 0
        fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            for size in (1 << 20, 65536, 4096, 512, 1):  # down to the last byte the disk has
                block = b"\0" * size
                while True:
                    try:
                        written += os.write(fd, block)
                    except OSError as exc:
                        if exc.errno != errno.ENOSPC:
                            raise
                        break
        finally:
            os.close(fd)
        return written

    def empty(self) -> None:
        self.path.unlink(missing_ok=True)


class Injector:
    def __init__(self, line: LineUnderSoak, now: Callable[[], datetime]) -> None:
        self.line = line
        self.now = now
        self.records: list[FaultRecord] = []
        self.windows: list[tuple[str, datetime, datetime]] = []  # kind, done, undone: the calls they touched

    def _note(self, fault: Fault, what: str) -> None:
        self.records.append(FaultRecord(at=self.now(), name=str(fault.kind), detail=what))
        log.info("soak fault %s: %s", fault.kind, what)

    async def apply(self, fault: Fault) -> None:
        """Do `fault`, hold it for its duration, undo it; noted at each step."""
        began = self.now()
        try:
            await self._apply(fault)
        finally:
            self.windows.append((str(fault.kind), began, self.now()))

    def touching(self, start: datetime, end: datetime) -> list[str]:
        """The faults that were on at some moment between `start` and `end`."""
        return [kind for kind, began, ended in self.windows if began <= end and ended >= start]

    async def _apply(self, fault: Fault) -> None:
        line = self.line
        match fault.kind:
            case FaultKind.ENGINE_KILL:
                pid = line.active_engine_pid()
                os.kill(pid, signal.SIGKILL)
                self._note(fault, f"engine {pid} killed")
                await asyncio.sleep(fault.duration_s)
                await line.engine_gone(pid)
                self._note(fault, f"engine {pid} replaced by a new standby")
            case FaultKind.ENGINE_FREEZE:
                pid = line.active_engine_pid()
                os.kill(pid, signal.SIGSTOP)
                self._note(fault, f"engine {pid} frozen")
                try:
                    await asyncio.sleep(fault.duration_s)
                finally:
                    os.kill(pid, signal.SIGCONT)
                self._note(fault, f"engine {pid} resumed")
                await line.engine_gone(pid)
            case FaultKind.ASTERISK_RESTART:
                self._note(fault, "Asterisk restarting")
                await line.restart_asterisk()
                await asyncio.sleep(fault.duration_s)
                self._note(fault, "Asterisk restarted")
            case FaultKind.POSTGRES_STOP:
                await line.stop_postgres()
                self._note(fault, "PostgreSQL stopped")
                try:
                    await asyncio.sleep(fault.duration_s)
                finally:
                    await line.start_postgres()
                self._note(fault, "PostgreSQL started")
            case FaultKind.SMTP_DOWN:
                await line.stop_smtp()
                self._note(fault, "SMTP server stopped")
                try:
                    await asyncio.sleep(fault.duration_s)
                finally:
                    await line.start_smtp()
                self._note(fault, "SMTP server started")
            case FaultKind.POSTGRES_LINK_CUT | FaultKind.ARI_SOCKET_CUT:
                link = line.pg_link if fault.kind is FaultKind.POSTGRES_LINK_CUT else line.ari_link
                link.cut()
                self._note(fault, "link cut")
                try:
                    await asyncio.sleep(fault.duration_s)
                finally:
                    link.restore()
                self._note(fault, "link restored")
            case FaultKind.DISK_FULL:
                filler = DiskFiller(line.data_dir, limit=line.data_bytes)
                written = await asyncio.to_thread(filler.fill)
                self._note(fault, f"data disk full ({written} bytes of ballast)")
                try:
                    await asyncio.sleep(fault.duration_s)
                finally:
                    await asyncio.to_thread(filler.empty)
                self._note(fault, "ballast removed")
