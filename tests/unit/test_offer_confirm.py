"""The outside-number confirmation on fake legs: what counts as an operator who answered."""

from __future__ import annotations

import asyncio
import contextvars
from typing import Any

import pytest

from ivr.acd.confirm import ConfirmingOfferer
from ivr.acd.offers import OFFERING, OfferFailed, Offering
from ivr.telephony.ports import CallChannel
from tests.fakes import FakeChannel, Script

HOME = "PJSIP/3470000001@carrier"
SOFTPHONE = "PJSIP/op-anna"


class Prompts:
    def media(self, name: str) -> str:
        return f"sound:{name}"

    def names(self) -> set[str]:
        return {"operator_offer", "operator_offer_citizens", "operator_offer_invalid"}


class OneLeg:
    def __init__(self, leg: FakeChannel) -> None:
        self.leg = leg

    async def dial(
        self, endpoint: str, *, caller_id: str | None, timeout: float, cancelled: asyncio.Event
    ) -> CallChannel:
        return self.leg


async def offer(
    leg: FakeChannel,
    endpoint: str = HOME,
    topic: str | None = "citizens",
    cancelled: asyncio.Event | None = None,
    queue_offer: bool = True,
) -> tuple[CallChannel, list[tuple[int, str, dict[str, Any]]]]:
    noted: list[tuple[int, str, dict[str, Any]]] = []

    async def note(ticket: int, kind: str, detail: dict[str, Any]) -> None:
        noted.append((ticket, kind, detail))

    offerer = ConfirmingOfferer(OneLeg(leg), Prompts(), 0.2, note)
    if queue_offer:
        OFFERING.set(Offering(7, topic, "ugo"))
    got = await offerer.dial(endpoint, caller_id=None, timeout=5, cancelled=cancelled or asyncio.Event())
    return got, noted


async def test_key_one_takes_the_call_after_hearing_the_topic() -> None:
    leg = FakeChannel("home", script=Script(keys_after_play={0: "1"}))
    got, noted = await offer(leg)
    assert got is leg and not leg.hung_up
    assert leg.played == [["sound:operator_offer_citizens"]]
    assert noted == [(7, "offer_confirmed", {"operator": "ugo", "key": "1", "attempts": 1})]


async def test_unknown_topic_gets_the_general_wording() -> None:
    leg = FakeChannel("home", script=Script(keys_after_play={0: "1"}))
    await offer(leg, topic="employers")
    assert leg.played == [["sound:operator_offer"]]


async def test_no_key_is_not_answered_and_the_leg_is_hung_up() -> None:
    leg = FakeChannel("home")  # an answering machine: it talks, it never presses anything
    with pytest.raises(OfferFailed) as failed:
        await offer(leg)
    assert failed.value.cause == "not_confirmed" and leg.hung_up


async def test_one_wrong_key_is_forgiven_two_are_not() -> None:
    leg = FakeChannel("home", script=Script(keys_after_play={0: "5", 1: "1"}))
    _, noted = await offer(leg)
    assert leg.played[1] == ["sound:operator_offer_invalid", "sound:operator_offer_citizens"]
    assert noted[0][2]["attempts"] == 2

    twice = FakeChannel("home", script=Script(keys_after_play={0: "5", 1: "#"}))
    with pytest.raises(OfferFailed) as failed:
        await offer(twice)
    assert failed.value.cause == "wrong_key" and twice.hung_up


async def test_hanging_up_instead_of_pressing_is_not_answered() -> None:
    leg = FakeChannel("home", script=Script(hangup_on_play=0))
    with pytest.raises(OfferFailed) as failed:
        await offer(leg)
    assert failed.value.cause == "hung_up_before_confirming"


async def test_caller_leaving_meanwhile_cancels_the_offer() -> None:
    leg = FakeChannel("home")
    gone = asyncio.Event()
    asyncio.get_running_loop().call_later(0.05, gone.set)
    with pytest.raises(OfferFailed) as failed:
        await offer(leg, cancelled=gone)
    assert failed.value.cause == "cancelled" and leg.hung_up


async def test_softphones_and_callbacks_are_not_asked() -> None:
    leg = FakeChannel("soft")
    got, noted = await offer(leg, endpoint=SOFTPHONE)
    assert got is leg and leg.played == [] and noted == []
    citizen = FakeChannel("citizen")  # a callback to a citizen: no queue offer in this task
    got, _ = await asyncio.create_task(offer(citizen, queue_offer=False), context=contextvars.Context())
    assert got is citizen and citizen.played == []
