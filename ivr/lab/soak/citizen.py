"""The citizen's phone for queued callbacks: the line dials the citizen back through the lab
carrier, and the soak answers as the citizen who asked for it.

The carrier delivers every call the engine places to an outside number on one queue
(`LabCarrier.phones`), which the simulated operators serve. `CallbackPhones` stands in for that
queue: a ring for a number a soak citizen is waiting on goes to that citizen, every other ring
goes on to the operators unchanged. It records every ring of a citizen's number, including a
second one while a leg is still up (answered as busy), so the checker can see "never two legs
at once" from the citizen's side of the line.

On an answered leg the citizen's phone records what it hears (ARI `record` on the carrier's
channel, which grows while the leg is up) and an `Ear` follows it: the callback notice, an
operator's voice, the questionnaire, answered with the journey's keys like after any call.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from ivr.lab.carrier import LabCarrier, LabPhoneCall
from ivr.lab.soak.ear import Ear, Heard, Spectra
from ivr.lab.soak.journal import CallbackLeg, HungUpBy, KeyPress
from ivr.lab.soak.key_press import KeyClock, Press
from ivr.telephony.errors import AriError, AriUnavailable, CallerHungUp

log = logging.getLogger(__name__)
OPERATOR = "operator:"  # references named operator:<login> are operators' voices
# A question cut short by a key is followed by the next one within moments; one asked again is
# heard alone for its whole length (the shortest question lasts longer than this).
CUT_S = 2.5


def national(number: str) -> str:
    """The number as the line dials it out: a caller id delivered as +39... or 0039... is dialled
    in its national form (measured in a soak: +393938354405 rang as 3938354405)."""
    for prefix in ("+39", "0039"):
        if number.startswith(prefix):
            return number[len(prefix) :]
    return number


def leg_recordings(folder: Path, number: str) -> list[Path]:
    """What the citizen's phone recorded on each answered leg to `number` (in `folder`, the
    carrier's recordings), for a person to listen to when a check names the citizen."""
    return sorted(folder.glob(f"citizen-{national(number)}-*.wav"))


class CallbackPhones(asyncio.Queue[LabPhoneCall]):
    """The carrier's `phones` queue with the citizens' numbers taken out.

    Rings that are no citizen's stay in the carrier's own queue, read through this one, so it
    can be installed at any time, even while an operator loop waits on the old queue."""

    def __init__(self, inner: asyncio.Queue[LabPhoneCall]) -> None:
        super().__init__()
        self.inner = inner
        self._boxes: dict[str, asyncio.Queue[LabPhoneCall]] = {}
        self._late: set[asyncio.Task[None]] = set()
        self._gone: set[str] = set()
        self.late_rings: list[tuple[str, datetime]] = []  # a citizen's number rang after they stopped waiting

    @classmethod
    def install(cls, carrier: LabCarrier) -> CallbackPhones:
        if isinstance(carrier.phones, CallbackPhones):
            return carrier.phones
        switch = cls(carrier.phones)
        carrier.phones = switch
        return switch

    def put_nowait(self, item: LabPhoneCall) -> None:
        box = self._boxes.get(national(item.number))
        if box is not None:
            box.put_nowait(item)
        elif national(item.number) in self._gone:
            self.late_rings.append((item.number, datetime.now(UTC)))
            log.warning("soak: the line rang %s after that citizen stopped waiting; not answered", item.number)
            task = asyncio.ensure_future(item.hangup())
            self._late.add(task)
            task.add_done_callback(self._late.discard)
        else:
            self.inner.put_nowait(item)

    async def get(self) -> LabPhoneCall:
        return await self.inner.get()

    def get_nowait(self) -> LabPhoneCall:
        return self.inner.get_nowait()

    def qsize(self) -> int:
        return self.inner.qsize()

    def empty(self) -> bool:
        return self.inner.empty()

    def expect(self, number: str) -> asyncio.Queue[LabPhoneCall]:
        """From now on the rings of `number` are the caller's (a soak's numbers are unique)."""
        self._gone.discard(national(number))
        return self._boxes.setdefault(national(number), asyncio.Queue())

    def stop_expecting(self, number: str) -> list[LabPhoneCall]:
        """The citizen stops waiting; returns rings delivered but not taken."""
        box = self._boxes.pop(national(number), None)
        self._gone.add(national(number))
        left: list[LabPhoneCall] = []
        while box is not None and not box.empty():
            left.append(box.get_nowait())
        return left


@dataclass(frozen=True)
class LegSounds:
    """What the citizen recognises on a callback leg (reference names in `refs`)."""

    refs: dict[str, np.ndarray]
    notices: frozenset[str]  # the line's "this is the callback you asked for", in each language
    survey_intros: frozenset[str]
    survey_questions: tuple[frozenset[str], ...]  # each question, in each language
    spectra: Spectra | None = None  # the references' transforms, shared with the soak's other ears
    windows: Mapping[str, float] = field(default_factory=dict)  # how long the line takes each key (key_windows)


async def answer_survey(
    ear: Ear,
    press: Press,
    questions: tuple[frozenset[str], ...],
    keys: list[str],
    *,
    opening: Heard | None,
    mark: int,
    pressed: list[str],
    intros: frozenset[str] = frozenset(),
    clock: KeyClock | None = None,
    presses: list[KeyPress] | None = None,
) -> None:
    """A key for each question as it is asked (the first may cut the introduction short: then
    `opening` is the introduction heard); each key is added to `pressed` as it goes, so a hangup
    half-way keeps what was answered. A question asked again is answered again, as a person does:
    the line lost the key (run 5: one pressed while no engine was active; the standby asked the
    survey again from its start). With a `clock`, each press is timed into `presses` against the
    question it answered (`ivr.lab.soak.key_windows`): an ear behind the recording presses after
    the line has skipped the question (full run 6, ticket 100)."""
    if not keys or not questions:
        return
    heard = opening or await ear.wait(set(questions[0]), after=mark, timeout=20)
    if heard is None:
        return
    asked_any = set(intros).union(*questions)
    n = 0
    while n < len(keys):
        mark = len(ear.heard)
        await asyncio.sleep(0.3)
        if clock is None:
            await press(keys[n])
        else:
            after = 1 if heard.name in intros else n + 1  # the introduction's key answers the first question
            then = _like(questions[after], heard.name) if after < len(questions) else None
            timed = await clock.press(press, keys[n], heard, then)
            if presses is not None:
                presses.append(timed)
        pressed.append(keys[n])
        answered = 0 if heard.name in intros else n
        asked = await ear.wait(asked_any, after=mark, timeout=20)
        if asked is None:
            return
        if asked.name in questions[answered] and asked.name not in intros:
            # The question just answered, heard again: asked again (the line lost the key), or only
            # its first moment, cut by the key the line took as the question began, the next
            # question right behind it (an ear a little behind the line: CI with six workers).
            following = await ear.wait(asked_any, after=ear.heard.index(asked) + 1, timeout=CUT_S)
            if following is not None:
                asked = following
        heard = asked
        n = 0 if asked.name in intros else next(i for i, q in enumerate(questions) if asked.name in q)


def _like(names: frozenset[str], heard: str) -> str:
    """The one of `names` in the language of `heard` (`ivr.lab.soak.kit.named`: `<code>:` or none)."""
    code = heard.rpartition(":")[0]
    return next((n for n in sorted(names) if n.rpartition(":")[0] == code), min(names))


async def answer_leg(
    ring: LabPhoneCall, recordings: Path, sounds: LegSounds, survey_keys: list[str], max_s: float
) -> CallbackLeg:
    """Pick up, listen (the notice, an operator, the questionnaire), answer the survey, and stay
    until the line hangs up (or `max_s` passes: then the citizen hangs up)."""
    rang = ended = datetime.now(UTC)
    name = f"citizen-{national(ring.number)}-{uuid.uuid4().hex[:10]}"  # found again by `leg_recordings`
    ear = Ear(recordings / f"{name}.wav", sounds.refs, spectra=sounds.spectra)
    keys: list[str] = []
    presses: list[KeyPress] = []
    by = HungUpBy.ENGINE
    # Recorded from before the pick-up (`LabPhoneCall.answer_recorded`): joined just after the
    # answer, a loaded machine lost the notice's first words (the CI run of stop 32).
    try:
        clock = KeyClock(ear, asyncio.get_running_loop().time(), sounds.windows)  # before the recording began
        await ring.answer_recorded(name)
        ear.start()
        operators = {n for n in sounds.refs if n.startswith(OPERATOR)}
        try:
            leg = _Leg(keys, presses, operators, clock)
            await asyncio.wait_for(_listen(ring, ear, sounds, survey_keys, leg), max_s)
        except TimeoutError:
            by = HungUpBy.CALLER
    except (CallerHungUp, AriError, AriUnavailable) as exc:  # the line hung up on the citizen, or a fault
        log.info("soak: callback leg to %s ended: %s", ring.number, type(exc).__name__)
    finally:
        if not ring.channel.hung_up:
            with contextlib.suppress(AriError, AriUnavailable):
                await ring.hangup()
        # The leg is over here; reading the rest of its recording may wait on the ears' thread
        # (run 6: 12 to 17 s), which is no part of the leg.
        ended = datetime.now(UTC)
        with contextlib.suppress(AriError, AriUnavailable):
            await ring.stop_recording()
        await ear.stop()
    voices = [h.name.removeprefix(OPERATOR) for h in ear.heard if h.name.startswith(OPERATOR)]
    return CallbackLeg(
        number=ring.number,
        rang_at=rang,
        answered=True,
        ended_at=ended,
        heard_notice=any(h.name in sounds.notices for h in ear.heard),
        heard_operator=bool(voices),
        operator=voices[0] if voices else None,
        survey_keys=keys,
        hung_up_by=by,
        survey_presses=presses,
    )


@dataclass(frozen=True)
class _Leg:
    """What the citizen listens for on a leg and what it writes down of its answers."""

    keys: list[str]  # the survey keys pressed
    presses: list[KeyPress]  # and when
    operators: set[str]
    clock: KeyClock


async def _listen(ring: LabPhoneCall, ear: Ear, sounds: LegSounds, survey_keys: list[str], leg: _Leg) -> None:
    """Follow the leg until the line hangs up; what the citizen does meanwhile is `_script`."""
    script = asyncio.ensure_future(_script(ring, ear, sounds, survey_keys, leg))
    gone = asyncio.ensure_future(ring.channel.wait_gone())
    try:
        await asyncio.wait([script, gone], return_when=asyncio.FIRST_COMPLETED)
        if script.done():
            script.result()  # an error of the script goes on up
            await gone
    finally:
        for task in (script, gone):
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, CallerHungUp):
                await task


async def _script(ring: LabPhoneCall, ear: Ear, sounds: LegSounds, survey_keys: list[str], leg: _Leg) -> None:
    intros = set(sounds.survey_intros)
    first_questions = set(sounds.survey_questions[0]) if sounds.survey_questions else set()
    voice = await ear.wait(leg.operators, timeout=3600)
    if voice is None or not survey_keys:
        return
    survey = await ear.wait(intros | first_questions, after=ear.heard.index(voice) + 1, timeout=3600)
    if survey is None:
        return

    async def press(key: str) -> None:
        await ring.channel.send_dtmf(key)

    await answer_survey(
        ear,
        press,
        sounds.survey_questions,
        survey_keys,
        opening=survey,  # the introduction or the first question: either is answered at once
        mark=len(ear.heard),
        pressed=leg.keys,
        intros=frozenset(intros),
        clock=leg.clock,
        presses=leg.presses,
    )


async def busy(ring: LabPhoneCall) -> CallbackLeg:
    """A second ring while a leg to the same number is up: a real phone is busy."""
    rang = datetime.now(UTC)
    with contextlib.suppress(AriError, AriUnavailable):
        await ring.hangup()
    return CallbackLeg(number=ring.number, rang_at=rang, busy=True, ended_at=datetime.now(UTC))


async def wait_for_callback(
    phones: CallbackPhones, number: str, answer: Callable[[LabPhoneCall], Awaitable[CallbackLeg]], wait_s: float
) -> tuple[list[CallbackLeg], float]:
    """Answer each ring of `number` (with `answer`) until an operator was heard on a leg, or
    `wait_s` passes; a ring while a leg is up is answered as busy. A leg is up while its channel
    is: once the line has hung it up the phone is free, though the leg's recording may still be
    being read (full run 6 refused rings as busy, and dated legs' ends, 12 to 17 s after the line
    had hung them up, while the ears' thread caught up). Returns the legs in the order they rang
    and how long the citizen waited."""
    box = phones.expect(number)
    loop = asyncio.get_running_loop()
    started = loop.time()
    deadline = started + wait_s
    legs: list[CallbackLeg] = []
    answering: dict[asyncio.Future[CallbackLeg], LabPhoneCall] = {}
    try:
        while answering or not (any(leg.heard_operator for leg in legs) or loop.time() >= deadline):
            waiting = asyncio.ensure_future(box.get())
            timeout = None if answering else deadline - loop.time()
            watched: list[asyncio.Future[Any]] = [waiting, *answering]
            await asyncio.wait(watched, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
            for task in [t for t in answering if t.done()]:
                del answering[task]
                legs.append(task.result())
            if not waiting.done():
                waiting.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await waiting
            if waiting.cancelled():
                continue
            ring = waiting.result()
            up = any(not other.channel.hung_up for other in answering.values())
            if up or any(leg.heard_operator for leg in legs) or loop.time() >= deadline:
                legs.append(await busy(ring))  # two legs at once; or nobody waits for it any more
            else:
                answering[asyncio.ensure_future(answer(ring))] = ring
    finally:
        waited = loop.time() - started
        for task in answering:  # only when the wait itself was cancelled
            task.cancel()
        for ring in phones.stop_expecting(number):
            legs.append(await busy(ring))
    return sorted(legs, key=lambda x: x.rang_at), waited
