"""Asterisk's pongs as proof the Stasis app is still ours (ivr.telephony.app_proof)."""

from __future__ import annotations

import asyncio

from ivr.ha.guard import LineGuard
from ivr.telephony.app_proof import AppProof


class Clock:
    def __init__(self) -> None:
        self.t = 100.0

    def __call__(self) -> float:
        return self.t


class Socket:
    def __init__(self, clock: Clock) -> None:
        self.clock = clock
        self.pings: list[bytes] = []
        self.three = asyncio.Event()

    async def ping(self, message: bytes = b"") -> None:
        self.pings.append(message)
        self.clock.t += 0.5
        if len(self.pings) == 3:
            self.three.set()


async def test_each_pong_proves_its_own_pings_time_and_nothing_after_a_replacement() -> None:
    clock = Clock()
    guard = LineGuard(monotonic=clock, app_proof_s=2.0)
    proof = AppProof(guard, every_s=0.0)
    ws = Socket(clock)
    task = asyncio.create_task(proof.run(ws))
    await asyncio.wait_for(ws.three.wait(), 5)
    task.cancel()
    assert ws.pings[:3] == [b"1", b"2", b"3"]  # pings sent at 100.0, 100.5, 101.0
    proof.pong(b"")  # the heartbeat's own ping: no proof
    assert guard.app_proven_at is None
    proof.pong(b"2")
    assert guard.app_proven_at == 100.5
    proof.pong(b"1")  # older than one answered already: forgotten, proves nothing newer
    assert guard.app_proven_at == 100.5
    proof.app_replaced()
    assert guard.app_proven_at is None
    proof.pong(b"3")  # answered after the replacement on this socket: proves nothing
    assert guard.app_proven_at is None and proof.replaced
