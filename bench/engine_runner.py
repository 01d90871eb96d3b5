"""The engine in its own process for the capacity benchmark (so its CPU and memory are its own).

Builds Settings from config/nul.yaml plus the overrides the driver wrote, creates the bench's
operators (reached on outside numbers through the trunk, where SIPp answers), then runs
`build_engine(...).start()`. Instrumentation lives here, not in the product: every ARI REST
request is timed by wrapping `AriClient._request_once`, and event-loop lag is sampled.

    python bench/engine_runner.py RUN_DIR/engine.json

Signals: SIGUSR1 writes the figures gathered since the last SIGUSR1 to `stats_file` and starts
afresh; SIGTERM/SIGINT stops the engine.
"""

from __future__ import annotations

import asyncio
import json
import logging
import signal
import sys
import time
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import REPO, percentile
from ivr.acd.operators import OperatorDirectory
from ivr.app import build_engine
from ivr.command_table import install as install_commands
from ivr.settings import load_settings
from ivr.telephony.ari import AriClient
from ivr.tickets.db import make_engine, upgrade
from ivr.tickets.store import SqlTicketStore

log = logging.getLogger("bench.engine")


class AriTimings:
    """Latency of every ARI REST request as the engine sees it (queueing in the loop included)."""

    def __init__(self) -> None:
        self.samples: dict[str, list[float]] = defaultdict(list)
        self.errors = 0
        self.events: Counter[str] = Counter()
        self.ami_events: Counter[str] = Counter()

    def install(self) -> None:
        original = AriClient._request_once
        timings = self

        async def timed(client: AriClient, method: str, path: str, params: Any, body: Any) -> Any:
            start = time.perf_counter()
            try:
                return await original(client, method, path, params, body)
            except Exception:
                timings.errors += 1
                raise
            finally:
                timings.samples[_kind(method, path)].append(time.perf_counter() - start)

        AriClient._request_once = timed  # type: ignore[method-assign]

        original_dispatch = AriClient.dispatch

        def counted(client: AriClient, event: dict[str, Any]) -> None:
            timings.events[str(event.get("type"))] += 1
            original_dispatch(client, event)

        AriClient.dispatch = counted  # type: ignore[method-assign]

        from panoramisk import Manager

        original_ami = Manager.dispatch

        def ami_counted(manager: Any, event: Any, *args: Any, **kwargs: Any) -> Any:
            timings.ami_events[str(getattr(event, "event", "?"))] += 1
            return original_ami(manager, event, *args, **kwargs)

        Manager.dispatch = ami_counted

    def take(self) -> dict[str, Any]:
        every = [v for values in self.samples.values() for v in values]
        out = {
            "requests": len(every),
            "errors": self.errors,
            "events": sum(self.events.values()),
            "event_types": dict(self.events.most_common(12)),
            "ami_events": sum(self.ami_events.values()),
            "ami_event_types": dict(self.ami_events.most_common(8)),
            "p50_ms": _ms(percentile(every, 50)),
            "p99_ms": _ms(percentile(every, 99)),
            "max_ms": _ms(max(every) if every else None),
            "by_kind": {
                kind: {"n": len(v), "p50_ms": _ms(percentile(v, 50)), "p99_ms": _ms(percentile(v, 99))}
                for kind, v in sorted(self.samples.items(), key=lambda kv: -len(kv[1]))
            },
        }
        self.samples.clear()
        self.errors = 0
        self.events.clear()
        self.ami_events.clear()
        return out


def _kind(method: str, path: str) -> str:
    """`POST channels/{id}/play/{id}` from `POST channels/1700.12/play/ab12...`."""
    parts = path.strip("/").split("/")
    named = []
    for i, part in enumerate(parts):
        named.append(part if i % 2 == 0 or part in {"live", "stored", "PJSIP"} else "{id}")
    return f"{method} {'/'.join(named)}"


def _ms(value: float | None) -> float | None:
    return None if value is None else round(value * 1000, 2)


class LoopLag:
    """How late the event loop wakes a 50 ms sleeper: the engine's own queueing delay."""

    def __init__(self) -> None:
        self.samples: list[float] = []

    async def run(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            start = loop.time()
            await asyncio.sleep(0.05)
            self.samples.append(loop.time() - start - 0.05)

    def take(self) -> dict[str, Any]:
        out = {"p50_ms": _ms(percentile(self.samples, 50)), "p99_ms": _ms(percentile(self.samples, 99))}
        out["max_ms"] = _ms(max(self.samples) if self.samples else None)
        self.samples.clear()
        return out


async def create_operators(database_url: str, count: int, now: Any) -> None:
    db = make_engine(database_url)
    upgrade(db)
    install_commands()  # every write command the store may run (ivr.command_table)
    store = SqlTicketStore(db)
    directory = OperatorDirectory(store)
    try:
        known = {o.login for o in await directory.all(active_only=False)}
        for i in range(count):
            login = f"bench{i:04d}"
            if login not in known:
                await directory.add(login, f"Bench {i}", now=now, softphone=False, outside_number=f"3900{i:06d}")
            await directory.set_presence(login, "available", None, now)
    finally:
        await store.stop()
        db.dispose()


async def main(config_path: Path) -> None:
    config = json.loads(config_path.read_text())  # noqa: ASYNC240 (once, at start)
    settings = load_settings(
        REPO / "config" / "nul.yaml",
        environ={"IVR_SECRETS_FILE": str(Path(config["run_dir"]) / "no-secrets.yaml")},
        overrides=config["overrides"],
    )
    logging.basicConfig(
        level=logging.WARNING,
        filename=config["log_file"],
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    logging.getLogger("ivr").setLevel(settings.logging.level)
    timings = AriTimings()
    timings.install()
    lag = LoopLag()
    engine = build_engine(settings)
    await create_operators(settings.database_url, int(config["operators"]), engine.clock.now())
    await engine.start(connect_timeout=30)
    lag_task = asyncio.create_task(lag.run())
    stats_file = Path(config["stats_file"])
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()

    def dump() -> None:
        data = {
            "ari": timings.take(),
            "loop_lag": lag.take(),
            "active_calls": engine.dispatcher.active,
            "served": engine.dispatcher.served,
            "agents": {
                state: sum(1 for a in engine.distributor.agents.values() if str(a.state) == state)
                for state in ("available", "offered", "busy", "wrap_up", "paused", "logged_out")
            },
            "waiting": len(engine.distributor.waiting),
            "at": time.time(),
        }
        tmp = stats_file.with_suffix(".tmp")
        tmp.write_text(json.dumps(data))
        tmp.replace(stats_file)

    loop.add_signal_handler(signal.SIGUSR1, dump)
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    loop.add_signal_handler(signal.SIGINT, stop.set)
    Path(config["ready_file"]).write_text(str(len(engine.distributor.agents)))  # noqa: ASYNC240
    try:
        await stop.wait()
    finally:
        lag_task.cancel()
        await engine.stop(drain_s=2.0)


if __name__ == "__main__":
    asyncio.run(main(Path(sys.argv[1])))
