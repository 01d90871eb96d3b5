"""What a soak caller knows and keeps while it follows the line: the languages it listens in, the
keys it pressed and how late (`ivr.lab.soak.key_press`), and the record it writes at the end
(`ivr.lab.soak.journal.CallRecord`). The script itself is `ivr.lab.soak.callers.SoakCaller`."""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime

from ivr.lab.carrier import LabCall
from ivr.lab.soak.citizen import OPERATOR
from ivr.lab.soak.ear import Ear, Heard
from ivr.lab.soak.journal import SOAK_ERROR, CallbackLeg, CallRecord, HungUpBy, KeyPress
from ivr.lab.soak.key_press import KeyClock
from ivr.lab.soak.kit import BEEP, CallerKit, language_of, named
from ivr.lab.soak.model import Goal, Journey

log = logging.getLogger("ivr.lab.soak.callers")  # all of a caller's lines under one name


class _Hangup(Exception):
    """The script hangs up now, in this state."""

    def __init__(self, state: str) -> None:
        self.state = state


class _HangupLater(Exception):
    """The journey's hangup state is reached: hang up after `hangup_after_s`."""

    def __init__(self, state: str) -> None:
        self.state = state


class CallerState:
    """The caller's state and what it makes of it; the script's parts are the subclasses'."""

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
        self.perhaps_booked = False  # a number confirmed, then the line hung up: the callback may come
        self.refused_numbers: list[str] = []
        self.misread_numbers: list[str] = []
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
            operators_heard=list(operators),
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
            misread_numbers=self.misread_numbers,
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

    def _enter(self, state: str) -> None:
        self.state = state
        if self.j.goal == Goal.HANGUP and self.j.hangup_state == state:
            raise _HangupLater(state)
