"""The soak caller's survey by ear, when a key lands as a question begins. CI (six workers), the
English caller: its 4 during the introduction reached the line just as the first question
started; the line took it and cut that question for the second, but the ear had recognised the
first question's opening moment and answered it again, and its second 4 was refused by the
second question. A question cut short and followed at once by the next is not asked again; one
heard alone for its length is (the line lost the key: the caller answers again)."""

from __future__ import annotations

import asyncio
from typing import cast

import pytest

from ivr.lab.soak import citizen
from ivr.lab.soak.ear import Ear, Heard

INTRO, SATISFACTION, SOLVED = "survey_intro", "survey_satisfaction", "survey_solved"
QUESTIONS = (frozenset({SATISFACTION}), frozenset({SOLVED}))


class ScriptedEar:
    """What the caller hears: each prompt at its moment after the start; once the last has been
    heard for a while the call is over and waiting returns nothing, as the real ear does."""

    def __init__(self, script: list[tuple[float, str]]) -> None:
        self.script = script
        self.heard: list[Heard] = []
        self.started = asyncio.get_running_loop().time()

    def _read(self) -> float:
        now = asyncio.get_running_loop().time() - self.started
        for at, name in self.script[len(self.heard) :]:
            if at <= now:
                self.heard.append(Heard(name, int(at * 8000), now, 1.0))
        return now

    async def wait(self, names: set[str] | str, *, after: int = 0, timeout: float) -> Heard | None:
        wanted = {names} if isinstance(names, str) else names
        deadline = asyncio.get_running_loop().time() + timeout
        while True:
            now = self._read()
            found = next((h for h in self.heard[after:] if h.name in wanted), None)
            if found is not None:
                return found
            if asyncio.get_running_loop().time() >= deadline or now > self.script[-1][0] + 0.5:
                return None
            await asyncio.sleep(0.01)


async def _answer(script: list[tuple[float, str]], keys: list[str]) -> list[str]:
    ear = ScriptedEar(script)
    opening = await ear.wait(INTRO, timeout=1)
    pressed: list[str] = []

    async def press(key: str) -> None:
        return None

    await citizen.answer_survey(
        cast(Ear, ear),
        press,
        QUESTIONS,
        keys,
        opening=opening,
        mark=0,
        pressed=pressed,
        intros=frozenset({INTRO}),
    )
    return pressed


async def test_a_question_cut_by_the_key_as_it_began_is_not_answered_twice() -> None:
    # the key pressed at 0.3 s during the introduction; the first question's opening at 0.4 s,
    # cut for the second at 0.6 s
    pressed = await _answer([(0.0, INTRO), (0.4, SATISFACTION), (0.6, SOLVED)], ["4", "1"])
    assert pressed == ["4", "1"]


async def test_a_question_asked_again_alone_is_answered_again(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(citizen, "CUT_S", 0.3)
    # the line lost the 4: the first question comes again, alone, and the second only after the
    # caller answers it once more
    pressed = await _answer([(0.0, INTRO), (0.5, SATISFACTION), (1.6, SOLVED)], ["4", "1"])
    assert pressed == ["4", "4", "1"]
