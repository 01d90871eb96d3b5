"""Owned background tasks and subscriber lists: what the engine's stop and its notifications rely on."""

from __future__ import annotations

import asyncio

import pytest

from ivr.subscribers import Subscribers
from ivr.tasks import OTHER, TaskSupervisor, tasks_by_coroutine, top_coroutines


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


class _Waiter:
    async def wait_gone(self, gone: asyncio.Event) -> None:
        await gone.wait()


async def test_tasks_are_counted_by_what_they_run_not_by_their_unique_names() -> None:
    """Five per-call waiters named after their calls add up under one coroutine, the name a report
    can say grew; the commonest few are kept and the rest summed, so a metric's labels stay few."""
    gone = asyncio.Event()
    waiters = [asyncio.create_task(_Waiter().wait_gone(gone), name=f"call-{n}") for n in range(5)]
    other = asyncio.create_task(asyncio.sleep(30), name="one-off")
    try:
        counts = tasks_by_coroutine()
        assert counts["_Waiter.wait_gone"] == 5 and counts["sleep"] == 1
        assert tasks_by_coroutine(waiters) == {"_Waiter.wait_gone": 5}
        top = top_coroutines(counts, 1)
        assert top == {"_Waiter.wait_gone": 5, OTHER: sum(counts.values()) - 5}
        assert top_coroutines(tasks_by_coroutine(waiters), 3) == {"_Waiter.wait_gone": 5}  # nothing left over
    finally:
        gone.set()
        other.cancel()
        await asyncio.gather(*waiters, other, return_exceptions=True)
