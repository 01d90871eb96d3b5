"""Each soak fault is really done to the part it names and undone after its time, also when the
soak is cancelled in the middle of it."""

from __future__ import annotations

import asyncio
import contextlib
import errno
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import pytest

from ivr.lab.link import FaultyLink
from ivr.lab.soak.faults import Fault, FaultKind
from ivr.lab.soak.inject import DiskFiller, Injector

NOW = datetime(2027, 3, 1, 9, 0, tzinfo=UTC)


@dataclass
class Line:
    ari_link: FaultyLink
    pg_link: FaultyLink
    data_dir: Path
    engine: subprocess.Popen[bytes]
    data_bytes: int = 16 * 1024 * 1024
    done: list[str] = field(default_factory=list)

    def active_engine_pid(self) -> int:
        return self.engine.pid

    async def engine_gone(self, pid: int) -> None:
        self.done.append(f"engine_gone {pid}")

    async def restart_asterisk(self) -> None:
        self.done.append("restart_asterisk")

    async def stop_postgres(self) -> None:
        self.done.append("stop_postgres")

    async def start_postgres(self) -> None:
        self.done.append("start_postgres")

    async def stop_smtp(self) -> None:
        self.done.append("stop_smtp")

    async def start_smtp(self) -> None:
        self.done.append("start_smtp")


async def _echo(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    while data := await reader.read(1024):
        writer.write(data)
        await writer.drain()
    writer.close()


@contextlib.contextmanager
def small_disk(folder: Path) -> Iterator[Path]:
    folder.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=3m", "tmpfs", str(folder)], capture_output=True)
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a small file system here: {mounted.stderr.decode().strip()}")
    try:
        yield folder
    finally:
        subprocess.run(["umount", str(folder)], check=True)


@pytest.fixture
async def line(tmp_path: Path) -> AsyncIterator[Line]:
    server = await asyncio.start_server(_echo, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    ari, pg = FaultyLink("127.0.0.1", port), FaultyLink("127.0.0.1", port)
    await ari.start()
    await pg.start()
    engine = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"])  # noqa: ASYNC220
    try:
        yield Line(ari, pg, tmp_path, engine)
    finally:
        engine.kill()
        engine.wait()
        await ari.stop()
        await pg.stop()
        server.close()


def _state(pid: int) -> str:
    return Path(f"/proc/{pid}/stat").read_text().split(")")[1].split()[0]


async def _echoes(link: FaultyLink) -> bool:
    try:
        reader, writer = await asyncio.open_connection("127.0.0.1", link.port)
        writer.write(b"ping")
        await writer.drain()
        data = await asyncio.wait_for(reader.read(4), 2)
        writer.close()
        return data == b"ping"
    except (ConnectionError, OSError, TimeoutError):
        return False


async def test_an_engine_kill_is_a_sigkill_and_a_new_standby(line: Line) -> None:
    injector = Injector(line, lambda: NOW)
    await injector.apply(Fault(kind=FaultKind.ENGINE_KILL, at_s=0, duration_s=0.1))
    assert line.engine.wait(5) == -9
    assert line.done == [f"engine_gone {line.engine.pid}"]
    assert [r.detail for r in injector.records] == [
        f"engine {line.engine.pid} killed",
        f"engine {line.engine.pid} replaced by a new standby",
    ]


async def test_a_freeze_stops_the_engine_for_its_time_and_resumes_it(line: Line) -> None:
    injector = Injector(line, lambda: NOW)
    task = asyncio.create_task(injector.apply(Fault(kind=FaultKind.ENGINE_FREEZE, at_s=0, duration_s=0.6)))
    await asyncio.sleep(0.3)
    assert _state(line.engine.pid) == "T"  # stopped
    await task
    assert _state(line.engine.pid) in ("S", "R", "D")  # running again (D: waiting on the disk, seen under load)
    assert line.done == [f"engine_gone {line.engine.pid}"]


@pytest.mark.parametrize("kind", [FaultKind.ARI_SOCKET_CUT, FaultKind.POSTGRES_LINK_CUT])
async def test_a_link_cut_refuses_connections_until_restored(line: Line, kind: FaultKind) -> None:
    link = line.ari_link if kind is FaultKind.ARI_SOCKET_CUT else line.pg_link
    other = line.pg_link if link is line.ari_link else line.ari_link
    assert await _echoes(link)
    task = asyncio.create_task(Injector(line, lambda: NOW).apply(Fault(kind=kind, at_s=0, duration_s=0.5)))
    await asyncio.sleep(0.1)
    assert not await _echoes(link) and await _echoes(other)
    await task
    assert await _echoes(link)


async def test_the_disk_is_full_for_the_faults_time_then_free(line: Line, tmp_path: Path) -> None:
    with small_disk(tmp_path / "data") as data:
        line.data_dir = data
        task = asyncio.create_task(
            Injector(line, lambda: NOW).apply(Fault(kind=FaultKind.DISK_FULL, at_s=0, duration_s=1))
        )
        await asyncio.sleep(0.5)
        with pytest.raises(OSError, match="No space left") as full:
            (data / "message.wav").write_bytes(b"\0" * 8192)
        assert full.value.errno == errno.ENOSPC
        await task
        (data / "message.wav").write_bytes(b"\0" * 8192)
        assert not (data / ".soak-disk-full").exists()


def test_a_real_disk_is_never_filled(tmp_path: Path) -> None:
    with pytest.raises(RuntimeError, match="not filling a real disk"):
        DiskFiller(tmp_path, limit=1024).fill()


@pytest.mark.parametrize(
    ("kind", "steps"),
    [
        (FaultKind.POSTGRES_STOP, ["stop_postgres", "start_postgres"]),
        (FaultKind.SMTP_DOWN, ["stop_smtp", "start_smtp"]),
    ],
)
async def test_a_stopped_service_is_started_again_even_when_the_soak_is_cancelled(
    line: Line, kind: FaultKind, steps: list[str]
) -> None:
    task = asyncio.create_task(Injector(line, lambda: NOW).apply(Fault(kind=kind, at_s=0, duration_s=60)))
    await asyncio.sleep(0.1)
    assert line.done == steps[:1]
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
    assert line.done == steps


async def test_an_asterisk_restart_is_asked_of_the_line(line: Line) -> None:
    await Injector(line, lambda: NOW).apply(Fault(kind=FaultKind.ASTERISK_RESTART, at_s=0, duration_s=0))
    assert line.done == ["restart_asterisk"]


async def test_each_fault_says_which_moments_it_touched(line: Line) -> None:
    moments = iter(NOW.replace(minute=m) for m in (0, 1, 2, 5))  # began, two notes, undone
    injector = Injector(line, lambda: next(moments))
    await injector.apply(Fault(kind=FaultKind.ASTERISK_RESTART, at_s=0, duration_s=0))
    assert injector.touching(NOW.replace(minute=4), NOW.replace(minute=9)) == ["asterisk_restart"]
    assert injector.touching(NOW.replace(minute=6), NOW.replace(minute=9)) == []
