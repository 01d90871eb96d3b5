"""A key pressed after the line's window for it: the line's configuration gives how long each key
is taken (the prompt, then the node's timeout; the language offer's grace and late moment), and
the checker expects a late key to count as no answer (consent) or no choice (language), as a real
line does, while a key within the window must still be honoured."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from ivr.callflows.language import GRACE_S, LATE_S
from ivr.callflows.model import Flow
from ivr.lab.soak.checker import run_checks
from ivr.lab.soak.journal import KeyPress
from ivr.lab.soak.key_windows import engine_key_windows, line_key_windows
from ivr.lab.soak.kit import write_pcm16
from ivr.lab.soak.verdict import CheckResult
from ivr.schema.tickets import Ticket
from tests.unit.soak_world import SoakWorld, build_world

FIRST, SILENT = "+393330000001", "+393330000006"  # as tests/unit/test_soak_checker.py names them
FLOW = Flow.model_validate(
    {
        "name": "t",
        "start": "welcome",
        "nodes": {
            "welcome": {"type": "play", "prompt": "welcome", "next": "consent", "languages": True},
            "consent": {"type": "consent", "next": "vm", "timeout_s": 4.0},
            "vm": {"type": "voicemail", "reason": "busy"},
        },
    }
)


@pytest.fixture
def world(db_url: str, tmp_path: Path) -> SoakWorld:
    return build_world(db_url, tmp_path)


def judged(world: SoakWorld) -> dict[str, CheckResult]:
    return {r.name: r for r in run_checks(world.evidence)}


def details(result: CheckResult) -> list[str]:
    return [v.detail for v in result.violations]


def press(key: str, prompt: str, at_least: float, at_most: float, window: float | None = 13.0) -> KeyPress:
    return KeyPress(key=key, prompt=prompt, at_least_s=at_least, at_most_s=at_most, window_s=window)


def set_consent(world: SoakWorld, value: str) -> None:
    with world.session() as s, s.begin():
        s.get_one(Ticket, world.ids[FIRST]).consent = value


def test_the_line_takes_a_key_for_its_prompt_and_its_timeout(tmp_path: Path) -> None:
    prompts = tmp_path / "prompts"
    prompts.mkdir()
    for folder, name, seconds in [
        (prompts, "welcome", 4.0),
        (prompts, "consent_notice", 7.0),
        (prompts / "en", "consent_notice", 5.5),
        (prompts / "en", "language_offer", 1.25),
    ]:
        folder.mkdir(exist_ok=True)
        write_pcm16(folder / f"{name}.wav", np.zeros(int(seconds * 8000)))
    windows = line_key_windows(FLOW, prompts, "it")
    assert windows == pytest.approx(
        {
            "consent_notice": 7.0 + 4.0,
            "en:consent_notice": 5.5 + 4.0,
            "welcome": 4.0 + 1.25 + GRACE_S + LATE_S,
            "en:language_offer": 1.25 + GRACE_S + LATE_S,
        }
    )
    flow_file = tmp_path / "flow.yaml"
    flow_file.write_text(
        "name: t\nstart: welcome\nnodes:\n"
        "  welcome: {type: play, prompt: welcome, next: consent, languages: true}\n"
        "  consent: {type: consent, next: vm, timeout_s: 4}\n"
        "  vm: {type: voicemail, reason: busy}\n"
    )
    config = {"callflow": str(flow_file), "service": {"language": "it"}, "campaigns": [{"id": "c"}]}
    assert engine_key_windows(config, prompts) == windows


def test_a_consent_key_after_the_window_is_rightly_no_answer(world: SoakWorld) -> None:
    """Full run 6 (tickets 194-628): thirteen callers' keys came after the 13 s the line waited
    (ticket 622's reached the menu 15.7 s after the notice began); the line recorded no answer
    and the checker called it a broken promise."""
    set_consent(world, "no_answer")
    world.replace_call(FIRST, consent_press=press("1", "consent_notice", 14.2, 15.1))
    assert "outcome" not in {n for n, r in judged(world).items() if not r.passed}
    assert any("after the line's window" in n for n in judged(world)["outcome"].notes)
    set_consent(world, "accepted")  # the line took a key it no longer asked for
    assert details(judged(world)["outcome"]) == [
        "the caller pressed 1 at the consent notice 14.2-15.1 s after consent_notice began, after the line's "
        "13.0 s, the ticket says accepted"
    ]


def test_a_consent_key_within_the_window_must_be_honoured(world: SoakWorld) -> None:
    set_consent(world, "no_answer")
    world.replace_call(FIRST, consent_press=press("1", "consent_notice", 2.0, 3.1))
    assert details(judged(world)["outcome"]) == [
        "the caller pressed 1 at the consent notice, the ticket says no_answer"
    ]
    world.replace_call(FIRST, consent_press=press("1", "consent_notice", 20.0, 21.0, window=None))  # not known
    assert details(judged(world)["outcome"]) == [
        "the caller pressed 1 at the consent notice, the ticket says no_answer"
    ]
    set_consent(world, "accepted")
    world.replace_call(FIRST, consent_press=press("1", "consent_notice", 2.0, 3.1))
    assert judged(world)["outcome"].passed


def test_a_consent_key_at_the_end_of_the_window_may_be_either(world: SoakWorld) -> None:
    """Where the caller's bounds straddle the window's end, the key or no answer are both right;
    anything else is not."""
    world.replace_call(FIRST, consent_press=press("1", "consent_notice", 12.0, 14.0))
    for stored in ("accepted", "no_answer"):
        set_consent(world, stored)
        assert judged(world)["outcome"].passed, stored
    set_consent(world, "refused")
    assert details(judged(world)["outcome"]) == ["the caller pressed 1 at the consent notice, the ticket says refused"]


def test_a_language_key_after_the_window_is_rightly_no_choice(world: SoakWorld) -> None:
    """Full run 6 (tickets 221, 232): 9 pressed 15-16 s after the welcome began, a second after
    the line's late moment ended; the line went on in Italian, as it should."""
    late = press("9", "welcome", 15.7, 16.3, window=14.65)
    world.replace_call(SILENT, language="en", language_key="9", language_heard="it", language_press=late)
    assert judged(world)["language"].passed
    with world.session() as s, s.begin():
        s.get_one(Ticket, world.ids[SILENT]).language = "en"
    world.replace_call(SILENT, language_heard="en")  # the line switched on a key it no longer took
    assert details(judged(world)["language"]) == [
        "pressed 9 for en 15.7-16.3 s after welcome began, after the line's 14.7 s, and heard it"
    ]


def test_a_language_key_within_the_window_must_switch(world: SoakWorld) -> None:
    early = press("9", "welcome", 2.1, 2.9, window=14.65)
    world.replace_call(SILENT, language="en", language_key="9", language_heard="it", language_press=early)
    assert details(judged(world)["language"]) == ["pressed 9 for en, heard it"]
