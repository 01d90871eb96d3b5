"""Owned background tasks and subscriber lists: what the engine's stop and its notifications rely on."""

from __future__ import annotations

import asyncio

import pytest

from ivr.subscribers import Subscribers
from ivr.tasks import TaskSupervisor


async def test_stop_lets_short_work_finish_and_ends_the_rest() -> None:
    tasks = TaskSupervisor()
    finished: list[str] = []
    ended = asyncio.Event()

    async def short() -> None:
        await asyncio.sleep(0)
        finished.append("short")

    async def endless() -> None:
        try:
            await asyncio.Event().wait()
        finally:
            ended.set()

    quick, stuck = tasks.spawn(short(), name="short"), tasks.spawn(endless(), name="endless")
    await tasks.stop(grace_s=0.2)
    assert finished == ["short"] and quick.done()
    assert stuck.cancelled() and ended.is_set()  # its cleanup ran before stop returned
    assert tasks.running == 0


async def test_a_failed_task_is_logged_not_kept(caplog: pytest.LogCaptureFixture) -> None:
    tasks = TaskSupervisor()

    async def broken() -> None:
        raise RuntimeError("boom")

    task = tasks.spawn(broken(), name="broken")
    await asyncio.gather(task, return_exceptions=True)
    await asyncio.sleep(0)  # the done callback
    assert tasks.running == 0 and "background task broken failed: RuntimeError('boom')" in caplog.text
    await tasks.stop()


def test_a_second_subscriber_adds_to_the_first() -> None:
    heard: list[tuple[str, int]] = []
    changed: Subscribers[[int]] = Subscribers()
    assert not changed
    changed.subscribe(lambda n: heard.append(("live", n)))
    changed.subscribe(lambda n: heard.append(("audit", n)))
    changed(7)
    assert heard == [("live", 7), ("audit", 7)] and len(changed) == 2


async def test_a_task_that_ignores_cancellation_cannot_hang_the_stop(caplog: pytest.LogCaptureFixture) -> None:
    tasks = TaskSupervisor()
    release = asyncio.Event()

    async def stubborn() -> None:
        while not release.is_set():
            try:
                await asyncio.sleep(10)
            except asyncio.CancelledError:
                continue  # the bug this guards against: cancellation swallowed

    task = tasks.spawn(stubborn(), name="stubborn")
    await asyncio.wait_for(tasks.stop(grace_s=0.05, cancel_wait_s=0.2), 5)
    assert tasks.running == 0 and not task.done()
    assert "task stubborn did not end when cancelled" in caplog.text
    release.set()
    task.cancel()
    await asyncio.wait({task}, timeout=1)
    assert task.done()
