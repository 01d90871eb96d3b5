"""The parts of a soak caller's script that lead off the line's main path: the voicemail message,
the queued callback's number dialogue and the wait for its dial-back as the citizen
(`ivr.lab.soak.citizen`), and the survey after the operator."""

from __future__ import annotations

import asyncio
import contextlib
import logging

from ivr.lab.soak.caller_state import CallerState, _Hangup
from ivr.lab.soak.citizen import OPERATOR, LegSounds, answer_leg, answer_survey, national, wait_for_callback
from ivr.lab.soak.ear import RATE, Heard, words
from ivr.lab.soak.kit import BEEP, named
from ivr.telephony.errors import CallerHungUp

log = logging.getLogger("ivr.lab.soak.callers")  # all of a caller's lines under one name
# A message spoken this long is one the line keeps as a message, not as empty (voicemail's
# `min_message_s` 1.5 s, `min_speech_s` 0.4 s); the plan's messages last 3 s or more.
SPOKEN_S = 2.0
DROPPED_S = 0.35  # the most of a reading a loaded recorder was seen to drop (0.32 s), and a little
EXTRA_S = 0.15  # under the shortest digit's prompt (digit_2, 0.355 s)


class CallerServices(CallerState):
    """Voicemail, the queued callback and the survey, for `ivr.lab.soak.callers.SoakCaller`."""

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
        read_at: int | None = None  # where the ear heard "the number is" last
        confirmed = False
        while True:
            heard = await ear.wait(dialogue | elsewhere, after=mark, timeout=30)
            if heard is None:
                if confirmed and self.call.ended:
                    # The line hung up after the confirmation and the ear did not make out what
                    # it said last (full run 8, ticket 4963: booked, the citizen's phone then
                    # rejected all three tries as a ring nobody expected). A citizen who gave a
                    # number answers it when it rings: the number stays expected, and the
                    # checker takes booked or not as right (`checks_calls._gone_after_confirming`).
                    self.perhaps_booked = True
                    return False, len(ear.heard)
                self.callback_unsaid = confirmed and not self.call.ended  # a number given, then silence
                self._forget_number()
                return False, len(ear.heard)
            if heard.name in elsewhere:
                self._forget_number()
                return False, ear.heard.index(heard)  # the waiting loop hears it again
            mark = ear.heard.index(heard) + 1
            name = heard.name
            if name == self._n(line.number_read):
                read_at = heard.at_sample
            elif name == self._n(line.number_confirm):
                await asyncio.sleep(0.3)
                if candidate is None and typed:  # the caller id, but the caller wants another
                    await self.call.press(line.change_key)
                    continue
                right = self._read_right(read_at, heard.at_sample, candidate or national(self.j.caller))
                read_at = None
                if not right:
                    await self.call.press(line.change_key)  # "no, that is not my number"
                    if candidate is not None:
                        self.misread_numbers.append(candidate)
                        typed.insert(0, candidate)  # typed again, as a citizen would
                    candidate = None
                    continue
                await self.call.press(line.confirm_key)
                confirmed = True
                if candidate in self.refused_numbers:  # refused as it arrived once, read back right now
                    self.refused_numbers.remove(candidate)
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

    def _read_right(self, read_at: int | None, confirm_at: int, number: str) -> bool:
        """Did the line read back `number`? Its digits counted one by one (`ear.words`), and the
        reading's length: no longer than the number's (a digit more is 0.36 s at least), and no
        shorter than a loaded recorder makes it (full run 12: up to 0.32 s of frames dropped over
        ten digits, which a length alone took for a digit lost). Both must agree: a reading
        refused wrongly is typed again; one accepted wrongly is a number the citizen never gave.
        When the ear missed "the number is", the caller cannot tell and confirms, as before."""
        assert self.ear is not None
        if read_at is None or not 0 < confirm_at - read_at < 30 * RATE:
            return True
        digits = "".join(d for d in number if d.isdigit())
        after, before = self.kit.digits_between(self.lang)
        said = words(self.ear.audio[read_at + after : confirm_at - before])
        off = (confirm_at - read_at) / RATE - self.kit.read_back_s(self.lang, digits)
        log.info("journey %s: %s read back as %d digits, %+.2f s", self.j.name, number, said, off)
        return said == len(digits) and -DROPPED_S < off < EXTRA_S

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
