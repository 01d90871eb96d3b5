"""The lab carrier's rings are taken by number: a ring never goes to the wrong taker, and a ring
nobody asked for waits for its own (ivr.lab.rings)."""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass

import pytest

from ivr.lab.rings import Rings


@dataclass(frozen=True)
class Ring:
    number: str


async def test_a_ring_goes_to_the_taker_of_its_number_whoever_asked_first() -> None:
    rings: Rings[Ring] = Rings()
    operator = asyncio.ensure_future(rings.get("3470000001"))
    citizen = asyncio.ensure_future(rings.get("3471110003"))
    await asyncio.sleep(0)
    rings.put_nowait(Ring("3471110003"))
    assert await asyncio.wait_for(citizen, 1) == Ring("3471110003")
    assert not operator.done()
    rings.put_nowait(Ring("+393470000001"))  # the same number in international form
    assert await asyncio.wait_for(operator, 1) == Ring("+393470000001")


async def test_a_ring_nobody_asked_for_waits_for_its_own_taker_and_any_taker_gets_the_oldest() -> None:
    rings: Rings[Ring] = Rings()
    rings.put_nowait(Ring("111"))
    rings.put_nowait(Ring("222"))
    assert await rings.get("222") == Ring("222")
    assert await rings.get() == Ring("111")
    assert rings.empty()
    with pytest.raises(asyncio.QueueEmpty):
        rings.get_nowait("333")


async def test_a_taker_that_gave_up_gets_nothing_and_the_ring_waits() -> None:
    rings: Rings[Ring] = Rings()
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(rings.get("111"), 0.05)
    rings.put_nowait(Ring("111"))
    assert not rings.empty()
    dropped: list[Ring] = []
    assert rings.drop(dropped.append) == 1 and dropped == [Ring("111")] and rings.empty()
