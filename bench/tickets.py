"""Ticket store throughput: tickets written and closed per second on SQLite and PostgreSQL, with
many concurrent calls each writing its ticket the way the engine's flow does.

Each simulated call is an asyncio task that makes the store calls a real call makes on the
line's usual path (open, answered, hours, welcome, consent, menu, queue, operator, close: 24
writes, the same as `bench/capacity.py` sees per call), back to back with no pauses, so the
figure is the store's ceiling, not the line's rate. The "short" profile is open + one event +
close (3 writes).

    .venv/bin/python bench/tickets.py                        # SQLite and PostgreSQL
    .venv/bin/python bench/tickets.py --backends sqlite --concurrency 10,100,500 --calls 5000
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import REPO, fmt, machine, percentile, save_json, tree_state
from ivr.command_table import install as install_commands
from ivr.tickets.db import make_engine, upgrade
from ivr.tickets.outbox import Outbox
from ivr.tickets.store import CallClosing, NewCall, SqlTicketStore

BASE = datetime(2026, 2, 10, 9, 0, tzinfo=UTC)


class Timer:
    def __init__(self) -> None:
        self.samples: list[float] = []

    async def __call__(self, coro: Any) -> Any:
        start = time.perf_counter()
        try:
            return await coro
        finally:
            self.samples.append(time.perf_counter() - start)


async def full_call(store: SqlTicketStore, uid: str, t: Timer) -> None:
    """The writes of a call that goes welcome -> consent (refused) -> menu -> operator -> hangup."""
    now = BASE + timedelta(seconds=hash(uid) % 30000)
    tid = await t(store.open_call(NewCall(uid, now, "3331234567", None, "800000039")))
    await t(store.update(tid, answered_at=now))
    await t(store.update(tid, last_state="hours:hours"))
    await t(store.update(tid, line_state="open", closure_id=None))
    await t(store.record(tid, "line_status", now, {"state": "open", "local_time": now.isoformat()}))
    await t(store.update(tid, last_state="play:welcome"))
    await t(store.update(tid, last_state="consent:consent"))
    await t(store.update(tid, campaign="bench", consent_prompt="consent_notice@2026-11-24.1#abcdef"))
    await t(store.update(tid, consent="refused", consent_at=now))
    await t(store.record(tid, "consent", now, {"choice": "refused", "key": "2", "campaign": "bench"}))
    await t(store.update(tid, last_state="menu:menu"))
    await t(store.update(tid, topic="citizens"))
    await t(store.record(tid, "menu_choice", now, {"next": "queue", "key": "1", "topic": "citizens"}))
    await t(store.update(tid, last_state="queue:queue"))
    await t(store.update(tid, queue_result="waiting", queued_at=now))
    await t(store.record(tid, "queue_admitted", now, {"topic": "citizens"}))
    await t(store.record(tid, "offer", now, {"operator": "bench0001", "via": "phone"}))
    await t(store.update(tid, wait_s=0.21))
    await t(store.update(tid, queue_result="answered", operator_id=None, operator_answered_at=now))
    await t(store.record(tid, "operator_answered", now, {"operator": "bench0001"}))
    await t(store.update(tid, operator_ended_at=now, handle_s=4.2))
    await t(store.record(tid, "operator_call_ended", now, {"ended_by": "caller", "recorded": False}))
    end = now + timedelta(seconds=10)
    await t(store.close_call(tid, CallClosing(end, "caller_hangup", "caller_hangup_in_queue", "queue:queue", now)))


async def short_call(store: SqlTicketStore, uid: str, t: Timer) -> None:
    now = BASE + timedelta(seconds=hash(uid) % 30000)
    tid = await t(store.open_call(NewCall(uid, now, "3331234567", None, "800000039")))
    await t(store.record(tid, "line_status", now, {"state": "open"}))
    await t(store.close_call(tid, CallClosing(now, "caller_hangup", "caller_hangup_in_play", "play:welcome", now)))


PROFILES = {"full": (full_call, 24), "short": (short_call, 3)}


def durable_postgres() -> Any:
    """The test suite's throwaway server, but with PostgreSQL's default durability (fsync on):
    the suite turns fsync off for speed, which a production server never does."""
    from tests.harness import postgres as pg

    class Server(pg.PostgresServer):
        def start(self) -> None:
            import os
            import pwd

            if os.geteuid() == 0:
                entry = pwd.getpwnam(self.user)
                os.chown(self.dir, entry.pw_uid, entry.pw_gid)
            result = self._as_user(
                pg._bin("initdb"), "-D", str(self.data), "-A", "trust", "-U", "postgres", "-E", "UTF8"
            )
            if result.returncode != 0:
                raise pg.PostgresError(f"initdb failed: {result.stderr.strip()}")
            options = f"-p {self.port} -k {self.dir} -c listen_addresses=127.0.0.1 -c max_connections=200"
            log = str(self.dir / "server.log")
            result = self._as_user(pg._bin("pg_ctl"), "-D", str(self.data), "-o", options, "-l", log, "-w", "start")
            if result.returncode != 0:
                raise pg.PostgresError(f"pg_ctl start failed: {result.stderr.strip()} {self.log_tail()}")
            self.started = True

    return Server()


async def measure(
    url: str, profile: str, concurrency: int, calls: int, tag: str, outbox: Path | None
) -> dict[str, Any]:
    db = make_engine(url)
    upgrade(db)
    # As the engine builds it (ivr/app.py): with the durable outbox unless database.outbox is off.
    install_commands()  # every write command the store may run (ivr.command_table)
    store = SqlTicketStore(db, outbox=Outbox(outbox) if outbox is not None else None)
    await store.start()
    make, writes = PROFILES[profile]
    timer = Timer()
    next_call = 0
    done = 0

    async def worker() -> None:
        nonlocal next_call, done
        while next_call < calls:
            n = next_call
            next_call += 1
            await make(store, f"{tag}-{n}", timer)
            done += 1

    start = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    elapsed = time.perf_counter() - start
    await store.stop()
    db.dispose()
    return {
        "profile": profile,
        "concurrency": concurrency,
        "calls": done,
        "writes": done * writes,
        "seconds": round(elapsed, 2),
        "tickets_closed_per_s": round(done / elapsed, 1),
        "writes_per_s": round(done * writes / elapsed, 1),
        "op_p50_ms": round((percentile(timer.samples, 50) or 0) * 1000, 2),
        "op_p99_ms": round((percentile(timer.samples, 99) or 0) * 1000, 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--backends", default="sqlite,postgres")
    parser.add_argument("--concurrency", default="10,100,300")
    parser.add_argument("--profiles", default="full,short")
    parser.add_argument("--calls", type=int, default=2000, help="calls per measurement")
    parser.add_argument("--no-outbox", action="store_true", help="without the outbox (database.outbox: false)")
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    out = (args.out or REPO / "var" / "bench" / time.strftime("tickets-%Y%m%d-%H%M%S")).resolve()
    out.mkdir(parents=True, exist_ok=True)
    info = {"machine": machine(), "commit": tree_state(), "args": {k: str(v) for k, v in vars(args).items()}}
    print(info["machine"], flush=True)
    results = []
    print("backend   profile conc  calls  seconds  closed/s  writes/s  op p50/p99 ms", flush=True)
    for backend in args.backends.split(","):
        server = None
        tmp = Path(tempfile.mkdtemp(prefix="nul-bench-tickets-"))
        try:
            if backend == "postgres":
                server = durable_postgres()
                server.start()
            for profile in args.profiles.split(","):
                for conc in [int(c) for c in args.concurrency.split(",")]:
                    name = f"b{profile}{conc}"
                    if backend == "sqlite":
                        url = f"sqlite:///{tmp / (name + '.db')}"
                    else:
                        assert server is not None
                        url = server.create_database(name)
                    outbox = None if args.no_outbox else tmp / f"{name}-outbox.db"
                    r = asyncio.run(measure(url, profile, conc, args.calls, name, outbox))
                    r["backend"] = backend
                    results.append(r)
                    print(
                        f"{backend:9} {profile:7} {conc:4} {r['calls']:6} {r['seconds']:8} "
                        f"{r['tickets_closed_per_s']:9} {r['writes_per_s']:9} "
                        f"{fmt(r['op_p50_ms'], 2)}/{fmt(r['op_p99_ms'], 2)}",
                        flush=True,
                    )
        finally:
            if server is not None:
                server.stop()
            shutil.rmtree(tmp, ignore_errors=True)
    save_json(out / "results.json", {**info, "results": results})
    print(f"results: {out / 'results.json'}")


if __name__ == "__main__":
    main()
