"""The stuck-teardown report names the line a task waits on, through an async generator (a
fixture's teardown) down to the future it awaits."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

from tests.harness.stuck import awaiting


async def _fixture_like(gate: asyncio.Event) -> AsyncIterator[None]:
    yield
    await gate.wait()  # the teardown waits here


async def test_the_report_follows_an_async_generator_to_the_future_it_waits_on() -> None:
    gate = asyncio.Event()
    gen = _fixture_like(gate)
    await gen.__anext__()

    async def finalizer() -> None:
        with contextlib.suppress(StopAsyncIteration):
            await gen.__anext__()

    task = asyncio.create_task(finalizer())
    await asyncio.sleep(0.01)
    chain = awaiting(task.get_coro())
    assert any("in finalizer" in line for line in chain)
    assert any("test_stuck_report.py" in line and "in _fixture_like" in line for line in chain)
    assert chain[-1].startswith("  waiting on <Future pending")
    gate.set()
    await task
