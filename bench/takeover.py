"""Takeover time: kill -9 of the active engine to the first new call served by the standby.

Starts the test Asterisk pair and a throwaway PostgreSQL, two engines (`ivr run --standby`) on the
same database, then, each round: kills the active one, places a call every 0.2 s from the lab
carrier, and measures until the standby (a) holds the lease and says it is ready, (b) has written
the ticket of a new call (that call was answered and is in the flow). The killed engine is started
again as the new standby. Prints the figures; asserts nothing.

    PYTHONPATH=. .venv/bin/python bench/takeover.py [--rounds 3] [--ttl 5]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

from bench.common import REPO

sys.path.insert(0, str(REPO))

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from ivr.asterisk.instance import free_port
from ivr.schema.tickets import Ticket
from ivr.tickets.db import make_engine, upgrade
from tests.harness.engine_process import EngineProcess
from tests.harness.pbx import start_pair
from tests.harness.postgres import PostgresServer


def tickets(url: str) -> int:
    db = make_engine(url)
    try:
        with Session(db) as session:
            return int(session.scalar(select(func.count(Ticket.id))) or 0)
    finally:
        db.dispose()


async def main(rounds: int, ttl: float) -> None:
    work = Path(tempfile.mkdtemp(prefix="nul-takeover-"))
    prompts = work / "prompts"
    prompts.mkdir()
    pbx = await asyncio.to_thread(start_pair, prompts)
    await pbx.carrier.connect()
    server = PostgresServer()
    await asyncio.to_thread(server.start)
    engines: list[EngineProcess] = []
    try:
        url = server.create_database("takeover")
        upgrade(make_engine(url))
        ha = {"lease_ttl_s": ttl, "renew_every_s": min(1.0, ttl / 3), "standby_poll_s": 0.3}
        for name in ("a", "b"):
            (work / name).mkdir()
            extra = {"database": {"url": url}, "ha": ha, "console": {"port": free_port()}}
            engines.append(EngineProcess(pbx, work / name, extra))
        active, standby = engines
        active.spawn("--standby")
        await active.wait_role("active")
        standby.spawn("--standby")
        await standby.wait_role("standby")
        ready_s: list[float] = []
        served_s: list[float] = []
        for n in range(rounds):
            before = tickets(url)
            killed = time.monotonic()
            active.kill()
            calls = []
            ready_at = served_at = None
            while served_at is None and time.monotonic() - killed < 120:
                calls.append(await pbx.carrier.call("800000039", caller_number=f"3400000{n:02d}{len(calls):03d}"))
                if ready_at is None and (standby.health() or {}).get("ready"):
                    ready_at = time.monotonic() - killed
                if tickets(url) > before:
                    served_at = time.monotonic() - killed
                await asyncio.sleep(0.2)
            for call in calls:
                await call.hangup()
            if served_at is None:
                print(f"round {n + 1}: no call served within 120 s")
                break
            ready_s.append(ready_at if ready_at is not None else served_at)
            served_s.append(served_at)
            print(
                f"round {n + 1}: standby ready after {ready_s[-1]:.2f} s, first new call served after "
                f"{served_at:.2f} s ({len(calls)} calls placed meanwhile)"
            )
            active.spawn("--standby")  # the killed engine comes back, as systemd would start it
            await active.wait_role("standby")
            active, standby = standby, active
        if served_s:
            print(
                f"\nlease_ttl_s {ttl:g}, {len(served_s)} rounds: kill -9 -> first call served "
                f"median {statistics.median(served_s):.2f} s, max {max(served_s):.2f} s; "
                f"-> ready median {statistics.median(ready_s):.2f} s"
            )
    finally:
        for engine in engines:
            engine.stop()
        await asyncio.to_thread(server.stop)
        await pbx.carrier.close()
        pbx.stop()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--ttl", type=float, default=5.0, help="ha.lease_ttl_s")
    args = parser.parse_args()
    os.chdir(REPO)
    asyncio.run(main(args.rounds, args.ttl))
