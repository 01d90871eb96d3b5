"""The line a soak runs: the test Asterisk pair with its lab carrier, a throwaway PostgreSQL, two
engines as their own processes (`ivr run --standby`: one takes the lease, the other waits), an
SMTP sink, and cuttable links in front of ARI and PostgreSQL. It is the `LineUnderSoak` the fault
injector acts on (`ivr.lab.soak.inject`).
"""

from __future__ import annotations

import asyncio
import contextlib
import email
import functools
import logging
import os
import re
import secrets
import shutil
import subprocess
import threading
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp
from aiosmtpd.controller import Controller

from ivr.acd.operators import OperatorDirectory
from ivr.asterisk.instance import free_port
from ivr.lab.link import FaultyLink
from ivr.lab.soak.desk_operator import DESK_WEBRTC
from ivr.lab.soak.evidence import AsteriskState, SinkMail
from ivr.tickets.db import make_engine, upgrade
from tests.harness.engine_process import EngineProcess
from tests.harness.pbx import ENGINE_HOST, PbxPair, start_pair
from tests.harness.postgres import PostgresError, PostgresServer

log = logging.getLogger(__name__)
RESTART_S = 2.0  # the engine unit's RestartSec (ivr.ops.services)
STRAY_GRACE_S, STRAY_EVERY_S = 60.0, 30.0  # the stray audio sweep, sooner than a day's default
# The engines' data file system: a soak's audio and logs, and a disk that can be filled. At least
# 1 GiB, and half a megabyte a call (recordings and messages): full run 3's 6,581 calls filled 1 GiB
# in its last quarter hour and 32 messages stayed on Asterisk as on a full disk, no fault injected.
DATA_MIN_BYTES = 1 << 30
DATA_PER_CALL_BYTES = 512 * 1024


def data_size(calls: int) -> int:
    return max(DATA_MIN_BYTES, calls * DATA_PER_CALL_BYTES)


TICKET_REF = re.compile(r"(?:pratica|richiesta|ticket)\D{0,12}(\d+)", re.IGNORECASE)


class LinkThread:
    """The cuttable links on an event loop and thread of their own: the soak's loop does heavy
    work (every caller's ear, speech synthesis), and a link served by it would stall with it,
    which the engines would see as a database or ARI fault nobody injected."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, name="soak-links", daemon=True)
        self.thread.start()

    def link(self, host: str, port: int) -> ThreadedLink:
        link = FaultyLink(host, port)
        asyncio.run_coroutine_threadsafe(link.start(), self.loop).result(10)
        return ThreadedLink(self, link)

    def call(self, fn: Callable[[], None]) -> None:
        async def run() -> None:
            fn()

        asyncio.run_coroutine_threadsafe(run(), self.loop).result(10)

    def stop(self, links: list[ThreadedLink]) -> None:
        for link in links:
            asyncio.run_coroutine_threadsafe(link.inner.stop(), self.loop).result(10)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)


@dataclass
class ThreadedLink:
    owner: LinkThread
    inner: FaultyLink

    @property
    def port(self) -> int:
        return self.inner.port

    def cut(self) -> None:
        self.owner.call(self.inner.cut)

    def restore(self) -> None:
        self.owner.call(self.inner.restore)


@dataclass
class Sink:
    """Every mail the engines send, as `SinkMail` (the checker counts each sent once)."""

    mails: list[SinkMail] = field(default_factory=list)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        message = email.message_from_bytes(envelope.content)
        subject = str(message.get("Subject", ""))
        found = TICKET_REF.search(subject)
        self.mails.append(
            SinkMail(
                recipients=list(envelope.rcpt_tos),
                message_id=str(message.get("Message-ID", "")),
                subject=subject,
                ticket=int(found.group(1)) if found else None,
            )
        )
        return "250 OK"


class SoakLine:
    def __init__(self, work: Path, engine_extra: dict[str, Any], *, data_bytes: int = DATA_MIN_BYTES) -> None:
        self.work = work
        self.data_bytes = data_bytes  # the data file system's size (`data_size`)
        self.engine_extra = engine_extra
        self.prompts = work / "prompts"
        self.data_dir = work / "data"  # the engines' data folders live below (disk full fills it)
        self.sink = Sink()
        self.smtp_port = free_port()
        self._smtp: Controller | None = None
        self.engines: list[EngineProcess] = []
        self.pbx: PbxPair
        self.pg: PostgresServer
        self.ari_link: ThreadedLink
        self.pg_link: ThreadedLink
        self.url = ""
        self.clock_offset_s = 0.0
        self.clock_file = work / "clock-offset"  # every engine's `clock.offset_file`
        self.sip_passwords: dict[str, str] = {}  # softphone operators' SIP accounts
        self._mounted = False
        self._supervisor: asyncio.Task[None] | None = None
        self.restarts: list[str] = []  # engines the supervisor started again, for the report
        self.last_exit = 0.0  # when (time.monotonic) an engine process last ended: killed, fenced
        self._spawned: dict[int, tuple[EngineProcess, subprocess.Popen[bytes]]] = {}  # every pid started

    async def start(self, operators: dict[str, str | None], when: datetime) -> None:
        """Everything up, `operators` (login -> outside number, None for a softphone) available,
        one engine active."""
        self.prompts.mkdir(parents=True)
        self.data_dir.mkdir(parents=True)
        self._mount_data()
        name = f"soak{secrets.token_hex(3)}"
        self.pbx = await asyncio.to_thread(start_pair, self.prompts, 3, ENGINE_HOST, name, 20.0)  # a takeover rings
        await self.pbx.carrier.connect()
        self.pg = PostgresServer()
        await asyncio.to_thread(self.pg.start)
        direct = self.pg.create_database("soak")
        self.db_url = direct
        db = make_engine(direct)
        upgrade(db)
        db.dispose()
        self.links = LinkThread()
        self.pg_link = self.links.link("127.0.0.1", self.pg.port)
        self.url = direct.replace(f":{self.pg.port}/", f":{self.pg_link.port}/")
        self.ari_link = self.links.link(ENGINE_HOST, self.pbx.engine_ports.http[1])
        await self.start_smtp()
        await self._add_operators(operators, when)
        shared_voicemail = self.data_dir / "voicemail"
        # Both engines keep conversations' recordings in one folder too, as a deployment with a
        # standby must (the console plays what either kept); a second copy an engine killed
        # before its row left there is swept within a couple of minutes, before the checker looks.
        shared_recordings = self.data_dir / "recordings"
        for name in ("a", "b"):
            folder = self.data_dir / name
            folder.mkdir()
            extra: dict[str, Any] = {
                "database": {"url": self.url},
                "ha": {"lease_ttl_s": 5.0, "renew_every_s": 1.0, "standby_poll_s": 0.3},
                "console": {"port": free_port()},
                "asterisk": {"ari": {"port": self.ari_link.port}, "webrtc": DESK_WEBRTC},  # the browser desk
                "mail": {"host": "127.0.0.1", "port": self.smtp_port, "tls": "none", "sender": "nul@example.it"},
                "voicemail": {"dir": str(shared_voicemail)},
                "paths": {"recordings_dir": str(shared_recordings)},
                "retention": {"stray_audio_grace_s": STRAY_GRACE_S, "stray_audio_every_s": STRAY_EVERY_S},
                # A soak's service day lasts minutes: the commitments are checked every minute, as
                # every 15 minutes of a real day (a day of 12 minutes was never checked at all).
                "sla": {"check_every_s": 60.0},
            }
            from ivr.configfile import deep_merge

            deep_merge(extra, self.engine_extra)
            self.engines.append(EngineProcess(self.pbx, folder, extra))
        first, second = self.engines
        self.set_clock(when)
        self._spawn(first)
        await first.wait_role("active", timeout=90)
        self._spawn(second)
        await second.wait_role("standby", timeout=90)
        self._supervisor = asyncio.ensure_future(self._supervise())

    async def _add_operators(self, operators: dict[str, str | None], when: datetime) -> None:
        from ivr.command_table import install as install_commands
        from ivr.tickets.store import SqlTicketStore

        db = make_engine(self.db_url)
        install_commands()  # every write command the store may run (ivr.command_table)
        store = SqlTicketStore(db)
        directory = OperatorDirectory(store)
        for login, number in operators.items():
            _, password = await directory.add(
                login, login.title(), now=when, softphone=number is None, outside_number=number
            )
            if password is not None:
                self.sip_passwords[login] = password
            await directory.set_presence(login, "available", None, when)
        await store.stop()
        db.dispose()

    def _mount_data(self) -> None:
        """The engines' data folders on a file system of their own (tmpfs, `data_bytes`), so the
        disk-full fault fills it and nothing else on the machine."""
        size = f"size={self.data_bytes},mode=0755"
        done = subprocess.run(
            ["mount", "-t", "tmpfs", "-o", size, "nul-soak-data", str(self.data_dir)],
            capture_output=True,
            text=True,
            check=False,
        )
        if done.returncode:
            raise RuntimeError(f"cannot mount the soak's data folder {self.data_dir}: {done.stderr.strip()}")
        self._mounted = True

    def keep_logs(self, out: Path) -> None:
        """The engines' logs into the run folder (the data folder goes with its mount), and the
        restarts the supervisor made."""
        for found in sorted(self.data_dir.glob("*/engine-*.log")):
            shutil.copyfile(found, out / f"{found.parent.name}-{found.name}")
        (out / "restarts.txt").write_text("".join(line + "\n" for line in self.restarts))
        try:  # the store as the checker judged it, to look into a finding afterwards
            if getattr(self, "pg", None) is not None:
                self.pg.dump("soak", out / "store.sql.gz")
        except (OSError, PostgresError) as exc:
            log.warning("the store was not dumped: %s", exc)

    def set_clock(self, moment: datetime) -> None:
        """Every engine's simulated time reads `moment` now (they read the file again within a
        second); written whole and renamed, so no engine reads half an offset."""
        self.clock_offset_s = (moment - datetime.now(UTC)).total_seconds()
        part = self.clock_file.with_suffix(".part")
        part.write_text(f"{self.clock_offset_s:.3f}\n")
        os.replace(part, self.clock_file)

    def _spawn(self, engine: EngineProcess) -> None:
        """Every engine runs on one simulated time, whenever it boots (`clock.offset_file`)."""
        import yaml

        engine.config["clock"] = {"offset_file": str(self.clock_file)}
        engine.path.write_text(yaml.safe_dump(engine.config, allow_unicode=True))
        proc = engine.spawn("--standby")
        self._spawned[proc.pid] = (engine, proc)

    def now(self) -> datetime:
        """The engines' simulated time."""
        return datetime.fromtimestamp(time.time() + self.clock_offset_s, UTC)

    def metrics_urls(self) -> list[str]:
        return [f"http://127.0.0.1:{e.config['console']['port']}/metrics" for e in self.engines]

    def active(self) -> EngineProcess:
        for engine in self.engines:
            health = engine.health()
            if engine.proc is not None and health and health.get("role") == "active":
                return engine
        raise RuntimeError("no engine is active")

    # --- LineUnderSoak -----------------------------------------------------------------------------

    def active_engine_pid(self) -> int:
        proc = self.active().proc
        assert proc is not None
        return proc.pid

    async def engine_gone(self, pid: int) -> None:
        """The engine `pid` was killed, or frozen and woken (it fences itself and exits, or kept
        the lease and goes on): the supervisor starts an exited one again; wait until it is up,
        in whatever role the lease gave it."""
        engine, proc = self._spawned[pid]  # the supervisor may have started it again already
        try:
            await asyncio.to_thread(proc.wait, 60)
        except subprocess.TimeoutExpired:
            # A woken engine that refused nothing while it slept and renewed its lease before a
            # standby took it keeps the line and its calls (ivr.ha.runner): the line is whole.
            # Killing it (as full run 6 did) made a second takeover the soak's, not the line's.
            health = await asyncio.to_thread(engine.health)
            if health and health.get("role") == "active":
                log.info("soak line: engine %s (pid %d) kept the line after waking", engine.data_dir.name, pid)
                return
            proc.kill()  # up a minute after waking, yet not serving: the line would wait for ever
            await asyncio.to_thread(proc.wait, 10)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 90
        while loop.time() < deadline:
            health = await asyncio.to_thread(engine.health) if engine.proc not in (None, proc) else None
            if health and health.get("role") in ("standby", "active"):
                return
            await asyncio.sleep(0.2)
        raise RuntimeError(f"engine {engine.data_dir.name} not back 90 s after {pid} ended:\n{engine.log()[-3000:]}")

    async def _supervise(self) -> None:
        """What systemd's Restart=on-failure does for the line's engines (ivr.ops.services): an
        engine process that exited, fenced after losing its lease or killed, is started again
        and waits as a standby. Without it a link cut that fenced the active engine left the
        line with one engine, and the next kill with none (the medium soak's first run)."""
        while True:
            for engine in self.engines:
                proc = engine.proc
                if proc is not None and proc.poll() is not None:
                    self.restarts.append(f"{datetime.now(UTC).isoformat()} engine {engine.data_dir.name} "
                                         f"(pid {proc.pid}) exited with {proc.returncode}: started again")  # fmt: skip
                    log.info("soak line: %s", self.restarts[-1])
                    self.last_exit = time.monotonic()
                    engine.proc = None
                    await asyncio.sleep(RESTART_S)
                    self._spawn(engine)
            await asyncio.sleep(0.5)

    async def restart_asterisk(self) -> None:
        await asyncio.to_thread(self.pbx.restart_engine_asterisk)

    async def stop_postgres(self) -> None:
        await asyncio.to_thread(self.pg.pause)

    async def start_postgres(self) -> None:
        await asyncio.to_thread(self.pg.resume)

    async def stop_smtp(self) -> None:
        if self._smtp is not None:
            await asyncio.to_thread(self._smtp.stop)
            self._smtp = None

    async def start_smtp(self) -> None:
        self._smtp = Controller(self.sink, hostname="127.0.0.1", port=self.smtp_port)
        await asyncio.to_thread(self._smtp.start)

    # --- after the run ---------------------------------------------------------------------------------

    async def asterisk_state(self) -> AsteriskState:
        """Channels and bridges left in the engine's Asterisk (read past the cuttable link)."""
        a = self.pbx.overrides["asterisk"]
        auth = aiohttp.BasicAuth("nul", a["ari"]["password"])
        base = f"http://{ENGINE_HOST}:{self.pbx.engine_ports.http[1]}/ari"
        async with aiohttp.ClientSession(auth=auth) as http:
            counts = []
            for what in ("channels", "bridges"):
                async with http.get(f"{base}/{what}") as response:
                    response.raise_for_status()
                    counts.append(len(await response.json()))
        return AsteriskState(channels=counts[0], bridges=counts[1])

    async def stop(self) -> None:
        """Every part stopped, each whatever the one before it did: full run 4 ended on an
        exception and left its PostgreSQL running. The failures are raised together at the end."""
        failures: list[Exception] = []
        for what, step in self._stop_steps():
            try:
                await step()
            except Exception as exc:
                log.exception("soak line: stopping %s failed", what)
                failures.append(exc)
        if failures:
            raise ExceptionGroup("the soak line did not stop cleanly", failures)

    def _stop_steps(self) -> list[tuple[str, Callable[[], Awaitable[object]]]]:
        """In order: the engines (none started again), the SMTP sink, the links, PostgreSQL, both
        Asterisks, the data file system; only what was started."""
        steps: list[tuple[str, Callable[[], Awaitable[object]]]] = []
        if self._supervisor is not None:  # first: an engine being stopped is not started again
            steps.append(("the engines' supervisor", self._stop_supervisor))
        steps += [(f"engine {e.data_dir.name}", functools.partial(asyncio.to_thread, e.stop)) for e in self.engines]
        if self._smtp is not None:
            steps.append(("the SMTP sink", functools.partial(asyncio.to_thread, self._smtp.stop)))
        if hasattr(self, "links"):
            made = [link for link in (getattr(self, "ari_link", None), getattr(self, "pg_link", None)) if link]
            steps.append(("the cuttable links", functools.partial(asyncio.to_thread, self.links.stop, made)))
        if hasattr(self, "pg"):
            steps.append(("PostgreSQL", functools.partial(asyncio.to_thread, self.pg.stop)))
        if hasattr(self, "pbx"):
            steps.append(("the lab carrier's client", self.pbx.carrier.close))
            steps.append(("the Asterisk pair", functools.partial(asyncio.to_thread, self.pbx.stop)))
        if self._mounted:
            steps.append(("the data file system", self._unmount))
        return steps

    async def _stop_supervisor(self) -> None:
        assert self._supervisor is not None
        self._supervisor.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._supervisor

    async def _unmount(self) -> None:
        await asyncio.to_thread(subprocess.run, ["umount", "-l", str(self.data_dir)], check=False)
        self._mounted = False
