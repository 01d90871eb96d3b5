"""Simulated operators on outside numbers: the engine rings their home phone through the lab
carrier, and the soak answers as a person (or an answering machine) would.

A person picks up, hears the offer, presses 1, then speaks in their own recognisable voice (so
the caller's ear can tell an operator was really reached) and hangs up after a talk time drawn
from a seeded random, so a soak can be replayed. An answering machine picks up, plays its
greeting and presses nothing: the engine must give up on it and offer the call to someone else.
An operator at a softphone (`SoftphoneOperator`, baresip answering by itself) speaks and hangs
up the same way.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from ivr.lab.carrier import LabCarrier, LabPhoneCall
from ivr.lab.softphone import LabSoftphone
from ivr.telephony.errors import CallerHungUp

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class OutsideOperator:
    login: str
    number: str  # the outside number the engine dials (the operator's `outside_number`)
    voice: Path  # 8 kHz mono WAV played while talking (again if it ends): the caller's ear knows it
    answering_machine: bool = False
    talk_s: tuple[float, float] = (3.0, 6.0)  # talk time range, drawn per call
    confirm_after_s: float = 1.0  # the offer begins, the person presses 1


@dataclass
class Leg:
    """One ring of an operator's phone, as the phone saw it."""

    login: str
    rang_at: datetime
    confirmed: bool = False
    talk_s: float = 0.0
    ended_at: datetime | None = None
    hung_up_by_operator: bool = False


@dataclass
class OutsideOperators:
    carrier: LabCarrier
    operators: list[OutsideOperator]
    seed: int = 0
    legs: list[Leg] = field(default_factory=list)
    talks: Iterator[float] = field(default_factory=lambda: iter(()))  # shared with the other phones
    _rng: random.Random = field(init=False)
    _media: dict[str, str] = field(default_factory=dict)
    _task: asyncio.Task[None] | None = None
    _calls: set[asyncio.Task[None]] = field(default_factory=set)

    def __post_init__(self) -> None:
        self._rng = random.Random(self.seed)
        self._by_number = {o.number: o for o in self.operators}
        for o in self.operators:
            self._media[o.login] = self.carrier.add_voice(f"soak-operator-{o.login}", o.voice)

    def start(self) -> None:
        self._task = asyncio.ensure_future(self._serve())

    async def stop(self) -> None:
        for task in [*self._calls, *([self._task] if self._task else [])]:
            task.cancel()
        for task in [*self._calls, *([self._task] if self._task else [])]:
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def _serve(self) -> None:
        while True:
            ring = await self.carrier.phones.get()
            operator = self._by_number.get(ring.number)
            if operator is None:
                log.warning("soak: the engine rang %s, which no simulated operator has; hanging up", ring.number)
                await ring.hangup()
                continue
            task = asyncio.ensure_future(self._answer(operator, ring))
            self._calls.add(task)
            task.add_done_callback(self._calls.discard)

    async def _answer(self, operator: OutsideOperator, ring: LabPhoneCall) -> None:
        leg = Leg(operator.login, datetime.now(UTC))
        self.legs.append(leg)
        try:
            if operator.answering_machine:
                await ring.answer()
                await ring.channel.play([self._media[operator.login]])
                await ring.channel.wait_gone()  # records until the engine gives up
                return
            planned = next(self.talks, None)  # the plan's conversations, taken in turn (DeskStep.talk_s)
            leg.talk_s = planned if planned is not None else round(self._rng.uniform(*operator.talk_s), 2)
            await ring.take_offer(after_s=operator.confirm_after_s)
            leg.confirmed = True
            # A moment for the engine to connect the caller, then the voice the caller knows.
            await ring.channel.sleep(operator.confirm_after_s + 1.5)
            # The voice while the talk lasts, as a person keeps talking (a talking voice says its
            # phrase again and again, `ivr.lab.soak.kit.talking_voice`): a caller joining late (a
            # queued callback's citizen, after the notices) or a hold over the first greeting
            # still hears who answered. Cut where the talk ends, mid-phrase as a person is.
            loop = asyncio.get_running_loop()
            until = loop.time() + leg.talk_s
            while loop.time() < until:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(ring.channel.play([self._media[operator.login]]), until - loop.time())
            leg.hung_up_by_operator = True
            await ring.hangup()
        except CallerHungUp:
            pass  # the engine ended the leg (the caller left, the offer ran out)
        finally:
            leg.ended_at = datetime.now(UTC)


@dataclass
class SoftphoneOperator:
    """An operator at a softphone that answers by itself (the engine bridges on answer: no key),
    speaks its voice from the start of each call and hangs up after a seeded talk time."""

    phone: LabSoftphone
    talk_s: tuple[float, float] = (3.0, 6.0)
    seed: int = 0
    legs: list[Leg] = field(default_factory=list)
    talks: Iterator[float] = field(default_factory=lambda: iter(()))  # shared with the other phones
    _task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.ensure_future(self._serve())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _serve(self) -> None:
        rng = random.Random(self.seed)
        hangup: asyncio.Task[None] | None = None
        async for event in self.phone.events():
            kind = event.get("type")
            if kind == "CALL_ESTABLISHED":
                planned = next(self.talks, None)
                talk_s = planned if planned is not None else round(rng.uniform(*self.talk_s), 2)
                leg = Leg(self.phone.login, datetime.now(UTC), confirmed=True, talk_s=talk_s)
                self.legs.append(leg)
                hangup = asyncio.ensure_future(self._hang_up_after(leg))
            elif kind == "CALL_CLOSED" and self.legs and self.legs[-1].ended_at is None:
                self.legs[-1].ended_at = datetime.now(UTC)
                if hangup is not None and not hangup.done():
                    hangup.cancel()  # the caller (or the engine) ended it first

    async def _hang_up_after(self, leg: Leg) -> None:
        await asyncio.sleep(leg.talk_s)
        leg.hung_up_by_operator = True
        await self.phone.hangup()
