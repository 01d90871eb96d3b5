"""A soak caller: runs one `Journey` on the lab carrier and writes what the caller went through.

The engine is another process (another machine, in production), so the caller acts only on what
reaches it: the line's prompts, an operator's voice and the voicemail beep, recognised as they
are heard (`Ear`). The `CallRecord` it returns is made of those observations only, never of the
engine's store: it is the witness the soak's checker holds the store against.

A caller of another language presses its key when the line offers it at the welcome, and knows
the prompts of both languages until one is heard (the record says which). A caller asking for a
queued callback presses the key when the queue offers it, confirms the number read back or types
another (a refused one is typed again), hears it booked, and then waits as the citizen for the
line to dial back (`ivr.lab.soak.citizen`): each ring of the citizen's phone is a leg of the record.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from datetime import UTC, datetime

from ivr.lab.carrier import CallNotAnswered, LabCall
from ivr.lab.soak.citizen import OPERATOR, LegSounds, answer_leg, answer_survey, wait_for_callback
from ivr.lab.soak.ear import Ear, Heard
from ivr.lab.soak.journal import SOAK_ERROR, CallbackLeg, CallRecord, HungUpBy, KeyPress
from ivr.lab.soak.key_press import KeyClock
from ivr.lab.soak.kit import BEEP, CallerKit, LinePrompts, language_of, named
from ivr.lab.soak.model import Goal, Journey
from ivr.telephony.errors import AriError, AriUnavailable, CallerHungUp

__all__ = ["CallerKit", "LinePrompts", "SoakCaller", "language_of", "named", "run_journeys"]
log = logging.getLogger(__name__)
# A message spoken this long is one the line keeps as a message, not as empty (voicemail's
# `min_message_s` 1.5 s, `min_speech_s` 0.4 s); the plan's messages last 3 s or more.
SPOKEN_S = 2.0


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
        self.kit, self.j = kit, journey
        self.call: LabCall | None = None
        self.ear: Ear | None = None
        self.state = "dialling"
        self.topic: str | None = None
        self.consent_asked = False
        self.consent_key: str | None = None
        self.consent_press: KeyPress | None = None
        self.language_press: KeyPress | None = None
        self.survey_keys: list[str] = []
        self.survey_presses: list[KeyPress] = []
        self.message_s = 0.0
        self.left_message = False
        self.service = kit.service_language
        self.lang = journey.language  # the prompts' language, once one is heard
        self.language_heard: str | None = None
        self.language_key: str | None = None
        self.callback_offered = False
        self.callback_requested = False
        self.callback_number: str | None = None
        self.callback_not_booked = False
        self.callback_unsaid = False
        self.refused_numbers: list[str] = []
        self.legs: list[CallbackLeg] = []
        self.callback_waited_s = 0.0
        self._mark = 0  # index in the ear's `heard` of the last sound the caller answered
        self._answered = 0.0  # loop time the line answered
        self._answered_after_s: float | None = None  # how long the caller's phone rang first

    def _languages(self) -> list[str]:
        return list(dict.fromkeys([self.service, self.j.language]))

    def _n(self, prompt: str) -> str:
        """The reference name of `prompt` in the language the line speaks to this caller."""
        return named(self.lang, prompt, self.service)

    def _all(self, prompt: str) -> set[str]:
        return {named(code, prompt, self.service) for code in self._languages()}

    def _prompts(self) -> list[str]:
        line, codes = self.kit.line, self._languages()
        wanted = [named(c, p, self.service) for c in codes for p in line.names()]
        if self.j.language_key and self.j.language != self.service:
            wanted += [line.welcome, named(self.j.language, line.language_offer, self.service)]
        if self.j.goal == Goal.CALLBACK:
            wanted += [named(c, p, self.service) for c in codes for p in line.dialogue()]
        return wanted

    def _heard_language(self, name: str) -> None:
        """The line spoke in `name`'s language: the caller follows it and stops listening for the
        other languages' prompts."""
        assert self.ear is not None
        self.lang = self.language_heard = language_of(name, self.service)
        line = self.kit.line
        keep = {self._n(p) for p in [*line.names(), *line.dialogue()]}
        self.ear.forget({n for n in self.ear.refs if n != BEEP and not n.startswith(OPERATOR) and n not in keep})

    def _elapsed(self) -> float:
        return asyncio.get_running_loop().time() - self._answered

    def _clock(self) -> KeyClock:
        assert self.ear is not None
        return KeyClock(self.ear, self._answered, self.kit.windows)

    async def _press(self, key: str, heard: Heard) -> KeyPress:
        """Press `key` in answer to `heard`, and say how late (`ivr.lab.soak.key_press`): full
        run 6's callers pressed up to 15 s after the consent notice began."""
        assert self.ear is not None and self.call is not None
        ear = self.ear
        press = await self._clock().press(self.call.press, key, heard)
        pressed = asyncio.get_running_loop().time()
        log.info(
            "journey %s: %s pressed %.1f-%.1f s after %s began (the line takes it for %s s); at %.1f s of the "
            "call, %.1f s recorded",
            self.j.name, key, press.at_least_s, press.at_most_s, heard.name,
            "?" if press.window_s is None else f"{press.window_s:.1f}", pressed - self._answered, ear.seconds_heard(),
        )  # fmt: skip
        return press

    async def _first_after(self, names: set[str], since: int) -> Heard | None:
        """The first of `names` heard that began at sample `since` or later. After a language key,
        a prompt that had begun before it (in the recording read when it was pressed) was said
        before the line could switch, and tells nothing of the language the line now speaks: run
        6's callers who pressed late heard the Italian notice begun before their key, took the
        line for Italian, and missed the English replay the key brought (tickets 446, 609)."""
        assert self.ear is not None
        mark = 0
        while True:
            heard = await self.ear.wait(names, after=mark, timeout=30)
            if heard is None or heard.at_sample >= since:
                return heard
            mark = self.ear.heard.index(heard) + 1

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
        self._answered = asyncio.get_running_loop().time()
        self._answered_after_s = (datetime.now(UTC) - placed).total_seconds()
        self.ear = Ear(
            call.heard_path,
            self.kit.references(self._prompts()),
            {BEEP: 0.85},
            gone=lambda: call.ended,
            spectra=self.kit.spectra,
        )
        self.ear.start()
        try:  # whatever escapes, the ear stops (one left reading held its call's audio for good)
            hung_up_by, where = await self._follow_line(call)
            ended = datetime.now(UTC)
            with contextlib.suppress(FileNotFoundError):
                await call.heard(timeout=10)
        finally:
            await self.ear.stop()
        if self.callback_requested:
            await self._wait_callback()
        return self._record(placed, ended, hung_up_by, where)

    async def _follow_line(self, call: LabCall) -> tuple[HungUpBy, str | None]:
        """Act on what is heard until the line ends the call or the caller does; who hung up, and
        where the caller did."""
        hung_up_by, where = HungUpBy.ENGINE, None
        try:
            await asyncio.wait_for(self._until_line_ends(), self.kit.max_call_s)
            if not call.ended:
                await call.wait_ended(self.kit.max_call_s)
        except _Hangup as stop:
            hung_up_by, where = HungUpBy.CALLER, stop.state
        except CallerHungUp:
            pass  # the line ended the call while the caller was acting
        except TimeoutError:
            hung_up_by, where = HungUpBy.CALLER, f"{self.state}:gave-up"
        if hung_up_by == HungUpBy.CALLER and not call.ended:
            try:
                await call.hangup()
            except CallerHungUp:
                pass
            except (AriError, AriUnavailable) as exc:  # the carrier's own ARI, slow under load:
                # the call ends when the line ends it (full run 4: one such timeout, uncaught, ended
                # the whole two-hour soak without a report)
                log.warning("journey %s: the carrier could not hang up (%s)", self.j.name, exc)
        return hung_up_by, where

    def failed(self, placed: datetime, exc: BaseException) -> CallRecord:
        """The record of a call whose caller failed (the soak's own fault, not the line's): kept in
        the journal, so the checker reports it instead of the soak ending without a report."""
        said = (str(exc).splitlines() or [""])[0][:120]
        return CallRecord(
            caller=self.j.caller,
            carrier_channel=self.call.channel.id if self.call is not None else "",
            journey=self.j.name,
            placed_at=placed,
            ended_at=datetime.now(UTC),
            answered=self.call is not None,
            answered_after_s=self._answered_after_s,
            language=self.j.language,
            hung_up_by=HungUpBy.CALLER,
            hangup_state=f"{SOAK_ERROR}:{type(exc).__name__}: {said}",
        )

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
            answered_after_s=self._answered_after_s,
            topic=self.topic,
            language=self.j.language,
            consent_asked=self.consent_asked,
            consent_key=self.consent_key,
            consent_press=self.consent_press,
            language_press=self.language_press,
            heard_operator=bool(operators),
            operator=operators[0] if operators else None,
            left_message=self.left_message,
            message_s=round(self.message_s, 2),
            callback_requested=self.callback_requested,
            survey_keys=[*self.survey_keys, *(k for leg in self.legs for k in leg.survey_keys)],
            survey_presses=self._survey_presses(),
            hung_up_by=by,
            hangup_state=where,
            language_heard=self.language_heard,
            language_key=self.language_key,
            callback_offered=self.callback_offered,
            callback_number=self.callback_number,
            refused_numbers=self.refused_numbers,
            callback_legs=self.legs,
            callback_waited_s=round(self.callback_waited_s, 2),
            callback_not_booked=self.callback_not_booked,
            callback_unsaid=self.callback_unsaid,
        )

    def _survey_presses(self) -> list[KeyPress]:
        """Each survey key's timing, in `survey_keys`' order; none when a key went untimed (the
        checker then judges the keys as it did before timings were kept)."""
        parts = [(self.survey_keys, self.survey_presses), *((g.survey_keys, g.survey_presses) for g in self.legs)]
        if any(len(keys) != len(presses) for keys, presses in parts):
            return []
        return [p for _, presses in parts for p in presses]

    # --- the script ----------------------------------------------------------------------------

    def _enter(self, state: str) -> None:
        self.state = state
        if self.j.goal == Goal.HANGUP and self.j.hangup_state == state:
            raise _HangupLater(state)

    async def _until_line_ends(self) -> None:
        """The script, cut short when the line ends the call (a caller waiting to hear something
        stops waiting then: nothing more will come)."""
        assert self.call is not None
        script = asyncio.ensure_future(self._script())
        gone = asyncio.ensure_future(self.call.channel.wait_gone())
        try:
            await asyncio.wait([script, gone], return_when=asyncio.FIRST_COMPLETED)
            if not script.done() and self.ear is not None:
                # The line hung up: what it said last may not be recognised yet (the ear reads
                # every 0.15 s, later on a busy machine): a last read and a moment to react.
                await self.ear.read()
                await asyncio.wait([script], timeout=1.0)
        finally:
            for task in (script, gone):
                if not task.done():
                    task.cancel()
                    with contextlib.suppress(asyncio.CancelledError):
                        await task
                elif not task.cancelled():
                    task.exception()  # seen here when this caller is cancelled with it (run 6's log)
        if not script.cancelled():
            script.result()  # the caller's own hangup (_Hangup) and errors go on up

    async def _script(self) -> None:
        try:
            await self._steps()
        except _HangupLater as later:
            await asyncio.sleep(self.j.hangup_after_s)
            raise _Hangup(later.state) from None

    async def _steps(self) -> None:
        assert self.ear is not None and self.call is not None
        ear, line, j = self.ear, self.kit.line, self.j
        since = 0  # prompts that began before this sample were said before any key of the caller's
        if j.language_key and j.language != self.service:
            # The key works during the welcome and the offers, and only a moment after them
            # (ivr.callflows.language): pressed as soon as the welcome (or one's own offer) is
            # heard, so a recording read late does not put it past that moment.
            offer = named(j.language, line.language_offer, self.service)
            heard = await ear.wait({line.welcome, offer}, timeout=30)
            if heard is not None:
                since = len(ear.audio)
                self.language_press = await self._press(j.language_key, heard)
                self.language_key = j.language_key
        first = await self._first_after(self._all(line.consent) | self._all(line.menu) | {BEEP}, since)
        if first is None:
            return  # no menu: the line said something else; listen to the end
        if first.name == BEEP:  # closed: the line takes a message straight away
            await self._voicemail(beeped=True)
            return
        self._heard_language(first.name)
        if first.name == self._n(line.consent):
            self.consent_asked = True
            self._enter("consent")
            # Asked again, answered again, as a person does: a standby that resumed the call at
            # the notice lost the key pressed before the takeover and plays the notice anew.
            while first is not None and first.name == self._n(line.consent):
                if j.consent_key:
                    await asyncio.sleep(0.3)
                    self.consent_press = await self._press(j.consent_key, first)
                    self.consent_key = j.consent_key
                first = await ear.wait({self._n(line.menu), self._n(line.consent)}, after=len(ear.heard), timeout=30)
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
                again = await self.ear.wait(self._n(self.kit.line.menu), after=self._mark, timeout=30)
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
        queue = self._n(line.queue)
        if j.goal == Goal.VOICEMAIL:
            queued = await ear.wait(queue, after=mark, timeout=patience)
            if queued is None:
                return
            self._enter("queue")
            await asyncio.sleep(0.3)
            await self.call.press(line.leave_key)
            await self._voicemail()
            return
        # Waiting: an operator's voice, the queue's notice, the beep (the line sent the caller
        # to voicemail: nobody there, the cap), the callback offer, or the end of the call.
        loop = asyncio.get_running_loop()
        deadline = loop.time() + (patience if j.goal == Goal.ABANDON else self.kit.max_call_s)
        offer = self._n(line.callback_offer)
        while True:
            left = deadline - loop.time()
            if left <= 0:
                raise _Hangup(self.state)  # patience ran out: the caller gives up
            wanted = {queue, BEEP, *operators}
            if j.goal == Goal.CALLBACK:
                wanted.add(offer)
            heard = await ear.wait(wanted, after=mark, timeout=left)
            if heard is None:
                if self.call.ended:
                    # The line ended the call (an Asterisk restart ends them all): the ear says
                    # so at once, without yielding, and asking it again spun the soak's whole
                    # event loop until this caller's patience ran out (finding 10: 3 minutes).
                    return
                continue
            mark = ear.heard.index(heard) + 1
            if heard.name == queue:
                self._enter("queue")
            elif heard.name == offer:
                self.callback_offered = True
                self._enter("queue")
                await asyncio.sleep(0.3)
                await self.call.press(line.callback_key)
                booked, mark = await self._give_number(mark, {queue, BEEP, *operators})
                if booked:
                    return  # the line says so and hangs up
            elif heard.name == BEEP:
                await self._voicemail(beeped=True)
                return
            else:
                break
        self._enter("operator")
        questions = (self._n(q) for q in line.survey_questions)
        survey = await ear.wait({self._n(line.survey_intro), *questions}, after=mark, timeout=self.kit.max_call_s)
        if survey is None:
            return
        self._enter("survey")
        if j.survey_hangup:
            raise _Hangup("survey")
        await self._survey(survey if survey.name == self._n(line.survey_intro) else None)

    async def _give_number(self, mark: int, elsewhere: set[str]) -> tuple[bool, int]:
        """The callback-number dialogue after the key: confirm the caller id read back, or say
        "another" and type the journey's numbers, one each time the line asks (a refused one is
        asked again). Returns (booked, where to listen on from): booked once the line says so;
        not when the key was not taken (an operator was being rung: one of `elsewhere` is heard,
        or nothing of the dialogue) or the line gave up on the number."""
        assert self.ear is not None and self.call is not None
        line, ear = self.kit.line, self.ear
        typed = list(self.j.typed_numbers)
        dialogue = {self._n(p) for p in line.dialogue()} - {self._n(line.callback_offer)}
        candidate: str | None = None  # the number the line is reading back, when the caller typed it
        confirmed = False
        while True:
            heard = await ear.wait(dialogue | elsewhere, after=mark, timeout=30)
            if heard is None:
                self.callback_unsaid = confirmed and not self.call.ended  # a number given, then silence
                self._forget_number()
                return False, len(ear.heard)
            if heard.name in elsewhere:
                self._forget_number()
                return False, ear.heard.index(heard)  # the waiting loop hears it again
            mark = ear.heard.index(heard) + 1
            name = heard.name
            if name == self._n(line.number_confirm):
                await asyncio.sleep(0.3)
                if candidate is None and typed:  # the caller id, but the caller wants another
                    await self.call.press(line.change_key)
                    continue
                await self.call.press(line.confirm_key)
                confirmed = True
                self.callback_number = candidate or self.j.caller
                if self.kit.phones is not None:  # the line may dial back within seconds of booking
                    self.kit.phones.expect(self.callback_number)
            elif name == self._n(line.number_enter):
                if not typed:
                    continue  # nothing (more) to type: the line gives up on the number by itself
                candidate = typed.pop(0)
                await asyncio.sleep(0.5)
                await self.call.press(candidate + "#")
            elif name == self._n(line.number_invalid):
                if candidate is not None:
                    self.refused_numbers.append(candidate)
                candidate = None
            elif name == self._n(line.callback_booked):
                self.callback_requested = True
                return True, mark
            elif name == self._n(line.callback_not_booked):
                self.callback_not_booked = True
                self._forget_number()
                return False, mark
            else:  # no usable number: back to waiting
                self._forget_number()
                return False, mark

    def _forget_number(self) -> None:
        if self.callback_number is not None and self.kit.phones is not None:
            for ring in self.kit.phones.stop_expecting(self.callback_number):
                self.kit.phones.put_nowait(ring)  # a ring delivered meanwhile: hung up as late
        self.callback_number = None

    async def _wait_callback(self) -> None:
        """As the citizen: each ring of the number confirmed, until an operator is heard on one
        or `callback_wait_s` passes (`ivr.lab.soak.citizen.wait_for_callback`)."""
        assert self.kit.phones is not None
        if self.callback_number is None:
            log.warning("journey %s: callback booked, but no number was confirmed by ear", self.j.name)
            return
        sounds, recordings = self._leg_sounds(), self.kit.recordings_dir()
        self.legs, self.callback_waited_s = await wait_for_callback(
            self.kit.phones,
            self.callback_number,
            lambda ring: answer_leg(ring, recordings, sounds, self.j.survey_keys, self.kit.max_call_s),
            self.kit.callback_wait_s,
        )

    def _leg_sounds(self) -> LegSounds:
        """On the callback the line speaks the language of the queue entry (the caller's, when
        an operator speaks it, else the service's): both are listened for."""
        line, codes = self.kit.line, self._languages()
        names = [named(c, p, self.service) for c in codes for p in (line.callback_notice,)]
        refs = self.kit.references(names)
        keep = {n for n in refs if n.startswith(OPERATOR)} | set(names)
        keep |= {named(c, p, self.service) for c in codes for p in (line.survey_intro, *line.survey_questions)}
        return LegSounds(
            refs={n: r for n, r in refs.items() if n in keep},
            notices=frozenset(names),
            survey_intros=frozenset(named(c, line.survey_intro, self.service) for c in codes),
            survey_questions=tuple(frozenset(named(c, q, self.service) for c in codes) for q in line.survey_questions),
            spectra=self.kit.spectra,
            windows=self.kit.windows,
        )

    async def _survey(self, opening: Heard | None) -> None:
        """A key for each question as it is asked (the first may cut the introduction short)."""
        assert self.ear is not None and self.call is not None
        questions = tuple(frozenset({self._n(q)}) for q in self.kit.line.survey_questions)
        await answer_survey(
            self.ear,
            self.call.press,
            questions,
            self.j.survey_keys,
            opening=opening,
            mark=self._mark,
            pressed=self.survey_keys,
            intros=frozenset({self._n(self.kit.line.survey_intro)}),
            clock=self._clock(),
            presses=self.survey_presses,
        )

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
                # What was said counts however the message ended: the line keeps it when the
                # caller hangs up, when the line cuts the call (an Asterisk restart) and when the
                # caller's own patience runs out mid-message. Counted after a finished message
                # only, the journal said "no message" for the last two (medium run 2: 8 tickets).
                self.message_s = loop.time() - started
                self.left_message = self.message_s >= SPOKEN_S
        raise _Hangup("voicemail")


async def run_journeys(kit: CallerKit, journeys: list[Journey]) -> list[CallRecord]:
    """Each journey placed at its `at_s` after now, all running at once; records in plan order."""

    async def one(j: Journey) -> CallRecord:
        await asyncio.sleep(j.at_s)
        return await SoakCaller(kit, j).run()

    return list(await asyncio.gather(*(one(j) for j in journeys)))
