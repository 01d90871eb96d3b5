"""An engine whose loop stood still past its lease (SIGSTOP, a stalled machine) and wakes before any
standby took the line (ivr.ha.runner with a fake lease and a fake engine; the freeze is the event
loop blocked, the guard's clock running on meanwhile).

Full run 6: the woken engine's calls asked Asterisk for their prompts, were refused ("its lease
was last known valid 12.4 s ago and Asterisk has not confirmed its app since") and left "to the
engine holding the line"; the StasisStart of every call placed during the freeze was dropped the
same way; one second later the engine renewed its lease on Asterisk's word and went on as the
active engine. No engine held those calls: 30 callers rang until the network gave up, dozens sat
in silence until the engine was killed a minute later. An engine that refused to act while its
lease was stale has left something to nobody: it must give the line up (and the lease at once,
so a standby takes it without waiting for the expiry) instead of renewing it.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from ivr.ha.guard import Fenced, LineGuard
from ivr.ha.lease import Holder
from ivr.ha.runner import EXIT_FENCED, LineRunner
from ivr.ha.state import LineRole
from ivr.settings import Settings
from tests.unit.test_ops import settings_for

TTL_S = 1.0  # valid 0.8 s after each renewal (less the margin)
HA = {"lease_ttl_s": TTL_S, "renew_every_s": 0.2, "standby_poll_s": 0.1, "app_proof_s": 0.5}


class FakeLease:
    """The lease row as seen by its holder: a renewal is a round trip of 0.1 s (longer than the
    0.05 s a renewal past the lease is given, as the real one was on waking in run 6), an
    ordinary renewal of a run-out lease fails, one after expiry succeeds while nobody took it."""

    name = "nul"
    expires = True

    def __init__(self) -> None:
        self.token: int | None = None
        self.expires_at = 0.0
        self.renewals: list[bool] = []  # after_expiry of each renewal that succeeded
        self.released = False
        self.lost = False

    def try_acquire(self, *, take_expired: bool = True) -> Holder | None:
        self.token, self.expires_at = 1, time.monotonic() + TTL_S
        return None

    def renew(self, *, after_expiry: bool = False) -> bool:
        time.sleep(0.1)
        if self.lost or (not after_expiry and time.monotonic() >= self.expires_at):
            return False
        self.expires_at = time.monotonic() + TTL_S
        self.renewals.append(after_expiry)
        return True

    def release(self) -> None:
        self.released = True

    def holder(self) -> Holder | None:
        return Holder("here", 1, datetime.now(UTC), 1)

    def check(self, session: Any) -> None:
        return None

    def lose(self) -> None:
        self.lost = True

    def close(self) -> None:
        return None


@dataclass
class FakeEngine:
    """Calls that ask the guard before each step, as ARI requests do."""

    guard: LineGuard
    calls: int
    line: LineRole = field(default_factory=LineRole)
    store: Any = field(default_factory=lambda: SimpleNamespace(writer=SimpleNamespace(guard=None)))
    dispatcher: Any = field(default_factory=lambda: SimpleNamespace(active=0))
    left: list[str] = field(default_factory=list)
    fenced: str | None = None
    tasks: list[asyncio.Task[None]] = field(default_factory=list)

    async def start(self) -> None:
        self.tasks = [asyncio.create_task(self._call(n)) for n in range(self.calls)]

    async def _call(self, n: int) -> None:
        try:
            while True:
                await asyncio.sleep(0.05)
                self.guard.check(f"ARI GET playbacks/call{n}")
        except Fenced as exc:
            self.left.append(str(exc))  # "left to the engine holding the line"

    async def stop(self) -> None:
        for task in self.tasks:
            task.cancel()

    async def fence(self, reason: str) -> None:
        self.fenced = reason
        await self.stop()


async def _freeze_then_wait(settings: Settings, calls: int) -> tuple[LineRunner, FakeLease, FakeEngine, int | None]:
    """Freeze the loop of an active engine with `calls` calls; its exit code if it ended within
    2 s of waking (None: still active, then stopped; the lease's `released` is as it was before)."""
    lease = FakeLease()
    built: list[FakeEngine] = []

    def build(guard: LineGuard) -> FakeEngine:
        built.append(FakeEngine(guard, calls))
        return built[0]

    runner = LineRunner(settings, lease, build, standby=False, kind="lease row")
    running = asyncio.ensure_future(runner.run())
    await asyncio.sleep(0.6)  # active, renewing
    assert built and not running.done()
    time.sleep(1.5)  # the whole process stands still, past the lease (0.8 s)
    done, _ = await asyncio.wait({running}, timeout=2.0)
    code = running.result() if done else None
    if not done:
        released = lease.released
        runner._stop.set()  # a clean stop releases the lease: not what is looked at
        assert await asyncio.wait_for(running, 3) == 0
        lease.released = released
    return runner, lease, built[0], code


async def test_an_engine_that_left_calls_while_stale_gives_the_line_up_instead_of_renewing(tmp_path: Path) -> None:
    runner, lease, engine, code = await _freeze_then_wait(settings_for(tmp_path, ha=HA), calls=3)
    assert len(engine.left) == 3 and all("fenced" in why for why in engine.left), engine.left
    print(f"exit {code}; renewals after expiry {lease.renewals.count(True)}; fenced: {engine.fenced}")
    assert code == EXIT_FENCED, "the engine went on with the calls it had left to nobody"
    assert engine.fenced is not None and "ARI GET playbacks/call" in engine.fenced
    assert lease.released, "the lease was kept to its expiry: a standby would wait for it"
    assert runner.guard.lost is not None  # nothing more from this engine


async def test_an_engine_that_left_nothing_rides_on_past_a_short_stall(tmp_path: Path) -> None:
    """Nothing asked to act while the lease was stale: the engine renews it and stays active."""
    _, lease, engine, code = await _freeze_then_wait(settings_for(tmp_path, ha=HA), calls=0)
    assert code is None and engine.fenced is None, engine.fenced
    assert True in lease.renewals and not lease.released  # renewed after the expiry, by its holder
