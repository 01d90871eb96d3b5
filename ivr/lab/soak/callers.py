"""A soak caller: runs one `Journey` on the lab carrier and writes what the caller went through.

The engine is another process (another machine, in production), so the caller acts only on what
reaches it: the line's prompts, an operator's voice and the voicemail beep, recognised as they
are heard (`Ear`). The `CallRecord` it returns is made of those observations only, never of the
engine's store: it is the witness the soak's checker holds the store against.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from ivr.lab.carrier import CallNotAnswered, LabCall, LabCarrier
from ivr.lab.soak.ear import Ear, load_wav, opening, tone
from ivr.lab.soak.journal import CallRecord, HungUpBy
from ivr.lab.soak.model import Goal, Journey
from ivr.telephony.errors import CallerHungUp

log = logging.getLogger(__name__)

OPERATOR = "operator:"  # references named operator:<login> are operators' voices
BEEP = "beep"


@dataclass(frozen=True)
class LinePrompts:
    """Which of the line's prompts mark where a call is (names as in the prompt catalogue)."""

    consent: str = "consent_notice"
    menu: str = "menu_main"
    queue: str = "queue_enter"
    survey_intro: str = "survey_intro"
    survey_questions: tuple[str, ...] = ("survey_satisfaction", "survey_solved")
    leave_key: str = "9"

    def names(self) -> list[str]:
        return [self.consent, self.menu, self.queue, self.survey_intro, *self.survey_questions]


@dataclass
class CallerKit:
    """What every soak caller shares: the carrier, the line's number, the sounds to recognise."""

    carrier: LabCarrier
    did: str
    prompts_dir: Path  # the engine's built prompts (`prompts.build_dir`), 8 kHz WAVs
    operator_voices: dict[str, Path]  # login -> the WAV that operator's phone plays when talking
    speech: Path  # what a caller says into a voicemail (8 kHz mono WAV)
    line: LinePrompts = field(default_factory=LinePrompts)
    max_call_s: float = 180.0  # a caller left with nothing to do hangs up after this
    _refs: dict[str, np.ndarray] = field(default_factory=dict)
    _speech_media: str | None = None

    def references(self) -> dict[str, np.ndarray]:
        if not self._refs:
            for name in self.line.names():
                self._refs[name] = opening(load_wav(self.prompts_dir / f"{name}.wav"))
            for login, wav in self.operator_voices.items():
                self._refs[OPERATOR + login] = opening(load_wav(wav))
            self._refs[BEEP] = tone(700.0, 0.3)
        return self._refs

    def speech_media(self) -> str:
        if self._speech_media is None:
            self._speech_media = self.carrier.add_voice("soak-caller-speech", self.speech)
        return self._speech_media


class _Hangup(Exception):
    """The script hangs up now, in this state."""

    def __init__(self, state: str) -> None:
        self.state = state


class _HangupLater(Exception):
    """The journey's hangup state is reached: hang up after `hangup_after_s`."""

    def __init__(self, state: str) -> None:
        self.state = state


class SoakCaller:
    def __init__(self, kit: CallerKit, journey: Journey) -> None:
        if journey.goal == Goal.CALLBACK:
            raise ValueError(f"journey {journey.name}: callbacks are not driven by the soak caller yet")
        self.kit, self.j = kit, journey
        self.call: LabCall | None = None
        self.ear: Ear | None = None
        self.state = "dialling"
        self.topic: str | None = None
        self.consent_asked = False
        self.consent_key: str | None = None
        self.survey_keys: list[str] = []
        self.message_s = 0.0
        self.left_message = False
        self._mark = 0  # index in the ear's `heard` of the last sound the caller answered

    async def run(self) -> CallRecord:
        placed = datetime.now(UTC)
        number = self.j.caller or None
        try:
            self.call = await self.kit.carrier.call(self.kit.did, caller_number=number, answer_timeout=15)
        except CallNotAnswered:
            return CallRecord(
                caller=self.j.caller,
                carrier_channel="",
                journey=self.j.name,
                placed_at=placed,
                ended_at=datetime.now(UTC),
                language=self.j.language,
                hung_up_by=HungUpBy.NETWORK,
            )
        call = self.call
        self.ear = Ear(call.heard_path, self.kit.references(), {BEEP: 0.85}, gone=lambda: call.ended)
        self.ear.start()
        hung_up_by, where = HungUpBy.ENGINE, None
        try:
            await asyncio.wait_for(self._script(), self.kit.max_call_s)
            if not call.ended:
                await call.wait_ended(self.kit.max_call_s)
        except _Hangup as stop:
            hung_up_by, where = HungUpBy.CALLER, stop.state
        except CallerHungUp:
            pass  # the line ended the call while the caller was acting
        except TimeoutError:
            hung_up_by, where = HungUpBy.CALLER, f"{self.state}:gave-up"
        if hung_up_by == HungUpBy.CALLER and not call.ended:
            with contextlib.suppress(CallerHungUp):
                await call.hangup()
        ended = datetime.now(UTC)
        with contextlib.suppress(FileNotFoundError):
            await call.heard(timeout=10)
        await self.ear.stop()
        return self._record(placed, ended, hung_up_by, where)

    def _record(self, placed: datetime, ended: datetime, by: HungUpBy, where: str | None) -> CallRecord:
        assert self.call is not None and self.ear is not None
        operators = [h.name.removeprefix(OPERATOR) for h in self.ear.heard if h.name.startswith(OPERATOR)]
        return CallRecord(
            caller=self.j.caller,
            carrier_channel=self.call.channel.id,
            journey=self.j.name,
            placed_at=placed,
            ended_at=ended,
            answered=True,
            topic=self.topic,
            language=self.j.language,
            consent_asked=self.consent_asked,
            consent_key=self.consent_key,
            heard_operator=bool(operators),
            operator=operators[0] if operators else None,
            left_message=self.left_message,
            message_s=round(self.message_s, 2),
            survey_keys=self.survey_keys,
            hung_up_by=by,
            hangup_state=where,
        )

    # --- the script ----------------------------------------------------------------------------

    def _enter(self, state: str) -> None:
        self.state = state
        if self.j.goal == Goal.HANGUP and self.j.hangup_state == state:
            raise _HangupLater(state)

    async def _script(self) -> None:
        try:
            await self._steps()
        except _HangupLater as later:
            await asyncio.sleep(self.j.hangup_after_s)
            raise _Hangup(later.state) from None

    async def _steps(self) -> None:
        assert self.ear is not None and self.call is not None
        ear, line, j = self.ear, self.kit.line, self.j
        first = await ear.wait({line.consent, line.menu, BEEP}, timeout=30)
        if first is None:
            return  # no menu: the line said something else; listen to the end
        if first.name == BEEP:  # closed: the line takes a message straight away
            await self._voicemail(beeped=True)
            return
        if first.name == line.consent:
            self.consent_asked = True
            self._enter("consent")
            if j.consent_key:
                await asyncio.sleep(0.3)
                await self.call.press(j.consent_key)
                self.consent_key = j.consent_key
            first = await ear.wait(line.menu, after=len(ear.heard), timeout=30)
            if first is None:
                return
        self._enter("menu")
        await self._menu()
        await self._after_menu()

    async def _menu(self) -> None:
        """One key each time the menu is heard: a wrong key brings the menu back (after the
        line says the choice is not valid), and the next key answers that."""
        assert self.ear is not None and self.call is not None
        for n, key in enumerate(self.j.menu_keys):
            if n:
                again = await self.ear.wait(self.kit.line.menu, after=self._mark, timeout=30)
                if again is None:
                    return
            self._mark = len(self.ear.heard)
            await asyncio.sleep(0.3)  # a person reacts once the menu has begun (barge-in takes it)
            await self.call.press(key)
        if self.j.menu_keys:
            self.topic = self.j.topic

    async def _after_menu(self) -> None:
        assert self.ear is not None and self.call is not None
        ear, line, j = self.ear, self.kit.line, self.j
        operators = {n for n in ear.refs if n.startswith(OPERATOR)}
        patience = j.patience_s
        mark = len(ear.heard)
        if j.goal == Goal.VOICEMAIL:
            queued = await ear.wait(line.queue, after=mark, timeout=patience)
            if queued is None:
                return
            self._enter("queue")
            await asyncio.sleep(0.3)
            await self.call.press(line.leave_key)
            await self._voicemail()
            return
        # Waiting: an operator's voice, the queue's notice, the beep (the line sent the caller
        # to voicemail: nobody there, the cap), or the end of the call.
        loop = asyncio.get_running_loop()
        deadline = loop.time() + (patience if j.goal == Goal.ABANDON else self.kit.max_call_s)
        while True:
            left = deadline - loop.time()
            if left <= 0:
                raise _Hangup(self.state)  # patience ran out: the caller gives up
            heard = await ear.wait({line.queue, BEEP, *operators}, after=mark, timeout=left)
            if heard is None:
                if self.call.ended:
                    return  # the line ended the call while the caller waited
                continue
            mark = ear.heard.index(heard) + 1
            if heard.name == line.queue:
                self._enter("queue")
            elif heard.name == BEEP:
                await self._voicemail(beeped=True)
                return
            else:
                break
        self._enter("operator")
        survey = await ear.wait({line.survey_intro, *line.survey_questions}, after=mark, timeout=self.kit.max_call_s)
        if survey is None:
            return
        self._enter("survey")
        if j.survey_hangup:
            raise _Hangup("survey")
        await self._survey(survey.name)

    async def _survey(self, first: str) -> None:
        """A key for each question as it is asked (the first may cut the introduction short). A
        question asked again is answered again, as a person does: the line lost the key (run 5:
        pressed while no engine was active, the standby then asked the survey from its start)."""
        assert self.ear is not None and self.call is not None
        line, keys = self.kit.line, self.j.survey_keys
        n = 0 if first == line.survey_intro else line.survey_questions.index(first)
        while n < len(keys):
            self._mark = len(self.ear.heard)
            await asyncio.sleep(0.3)
            await self.call.press(keys[n])
            self.survey_keys.append(keys[n])
            asked = await self.ear.wait({line.survey_intro, *line.survey_questions}, after=self._mark, timeout=20)
            if asked is None:
                return
            n = 0 if asked.name == line.survey_intro else line.survey_questions.index(asked.name)

    async def _voicemail(self, beeped: bool = False) -> None:
        """After the beep the caller speaks for `message_s`, then hangs up (the engine keeps the
        message); a caller with nothing to say hangs up at the beep."""
        assert self.ear is not None and self.call is not None
        if not beeped and await self.ear.wait(BEEP, after=self._mark, timeout=40) is None:
            return
        self._enter("voicemail")
        if self.j.message_s > 0:
            loop = asyncio.get_running_loop()
            started = loop.time()
            speaking = asyncio.ensure_future(self.call.say([self.kit.speech_media()] * 4))
            try:
                await asyncio.sleep(self.j.message_s)
            finally:
                speaking.cancel()
                with contextlib.suppress(asyncio.CancelledError, CallerHungUp):
                    await speaking
            self.message_s = loop.time() - started
            self.left_message = not self.call.ended
        raise _Hangup("voicemail")


async def run_journeys(kit: CallerKit, journeys: list[Journey]) -> list[CallRecord]:
    """Each journey placed at its `at_s` after now, all running at once; records in plan order."""

    async def one(j: Journey) -> CallRecord:
        await asyncio.sleep(j.at_s)
        return await SoakCaller(kit, j).run()

    return list(await asyncio.gather(*(one(j) for j in journeys)))
