"""The soak's watch on its own event loop: a step that holds the loop (the caller spinning on its
ear in runs 8 and 9) is a failed `soak_loop` check whose stacks name the step; a loop that keeps
time passes, and a short hitch is only a note."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime
from pathlib import Path

from ivr.lab.soak.loop_watch import LoopWatch


def spin_like_a_deaf_caller(seconds: float) -> None:
    """Holds the loop without yielding, as `_after_menu` did on an ended call."""
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        pass


async def test_a_step_that_holds_the_loop_fails_the_check_and_its_stack_is_kept(tmp_path: Path) -> None:
    stacks = tmp_path / "loop-stacks.txt"
    watch = LoopWatch(lambda: datetime.now(UTC), stacks, every_s=0.05, note_s=0.3, fail_s=0.6)
    watching = asyncio.ensure_future(watch.run())
    await asyncio.sleep(0.2)
    spin_like_a_deaf_caller(1.0)
    await asyncio.sleep(0.2)
    watching.cancel()
    await asyncio.gather(watching, return_exceptions=True)
    result = watch.result()
    assert not result.passed and "stood still" in result.violations[0].detail
    assert "spin_like_a_deaf_caller" in stacks.read_text(), "the stack names what held the loop"


async def test_a_loop_that_keeps_time_passes(tmp_path: Path) -> None:
    stacks = tmp_path / "loop-stacks.txt"
    watch = LoopWatch(lambda: datetime.now(UTC), stacks, every_s=0.02, note_s=5.0)
    watching = asyncio.ensure_future(watch.run())
    for _ in range(10):
        await asyncio.sleep(0.01)
    watching.cancel()
    await asyncio.gather(watching, return_exceptions=True)
    assert watch.result().passed and watch.stalls == []
    assert not stacks.exists(), "no stall, no stacks file"


def test_a_short_hitch_is_a_note_a_long_stall_a_violation() -> None:
    watch = LoopWatch(lambda: datetime(2027, 3, 1, tzinfo=UTC))
    watch.beat(0.5)  # within the soak's normal work: not written down
    watch.beat(3.0)
    watch.beat(178.8)  # run 8
    result = watch.result()
    assert len(result.notes) == 1 and "3.0 s" in result.notes[0]
    assert [v.detail.split(" until")[0] for v in result.violations] == ["stood still 178.8 s"]
