"""A simulated operator's talking voice, as a queued callback's citizen hears it: joined at any
moment of the talk, the citizen's ear must know the operator within the checker's `EAR_S`, or
`callback_heard_operator` reports a silent line that was not silent."""

from __future__ import annotations

import subprocess
from pathlib import Path

import numpy as np
import pytest

from ivr.lab.soak.checks_calls import EAR_S
from ivr.lab.soak.desk_operator import microphone
from ivr.lab.soak.ear import RATE, Ear, load_wav, opening
from ivr.lab.soak.kit import operator_phrase, talking_voice, write_pcm16


def phrase(seconds: float, pause_s: float, seed: int = 7) -> np.ndarray:
    """A stand-in for a synthesised phrase: a voice-like noise, then the phrase's own pause."""
    rng = np.random.default_rng(seed)
    voiced = rng.normal(0, 3000, int(seconds * RATE)) * np.hanning(int(seconds * RATE)) ** 0.2
    return np.concatenate([voiced, np.zeros(int(pause_s * RATE))])


def joins_unheard(talk: np.ndarray, reference: np.ndarray, tmp_path: Path, start: int) -> list[float]:
    """Each join moment (every 0.1 s over the talk) whose EAR_S of talk, between the callback
    notice and the questionnaire (other sounds), the ear heard no operator in."""
    rng = np.random.default_rng(1)
    notice, survey = rng.normal(0, 2000, RATE), rng.normal(0, 2000, 2 * RATE)
    missed = []
    for join in range(start, len(talk) - int(EAR_S * RATE), RATE // 10):
        heard = np.concatenate([notice, talk[join : join + int(EAR_S * RATE)], survey])
        ear = Ear(write_pcm16(tmp_path / "leg.wav", heard), {"operator:anna": reference})
        ear.poll()
        if not ear.count("operator:anna"):
            missed.append(round((join - start) / RATE, 1))
    return missed


def test_a_citizen_joining_the_talk_at_any_moment_hears_the_operator(tmp_path: Path) -> None:
    said = write_pcm16(tmp_path / "phrase.wav", phrase(1.2, 0.35))
    talk = load_wav(talking_voice(said, tmp_path / "talking.wav", seconds=8.0, lead_s=1.5))
    assert len(talk) >= int(9.5 * RATE)
    assert joins_unheard(talk, opening(load_wav(said)), tmp_path, start=int(1.5 * RATE)) == []


def test_the_old_rhythm_left_moments_the_ear_could_not_hear_the_operator(tmp_path: Path) -> None:
    """Before: a phrase of 3 s ("Anna, buongiorno, numero per il lavoro.") and a pause of 1 s
    between its repetitions: a citizen joining just after an opening waited 4 s for the next."""
    said = phrase(3.0, 0.0)
    talk = np.tile(np.concatenate([said, np.zeros(RATE)]), 4)
    assert joins_unheard(talk, opening(said), tmp_path, start=0) != []


def test_a_phrase_too_long_for_the_ear_is_refused(tmp_path: Path) -> None:
    said = write_pcm16(tmp_path / "phrase.wav", phrase(3.0, 0.0))
    with pytest.raises(ValueError, match=r"a phrase of 3\.00 s"):
        talking_voice(said, tmp_path / "talking.wav", seconds=8.0)


def test_the_phrase_is_the_operator_name_alone() -> None:
    assert operator_phrase("Anna Ferri") == "Anna Ferri."


def as_heard(mic: Path, tmp_path: Path, loops: int) -> np.ndarray:
    """The desk's microphone as Chromium plays it (the file again and again), at the ear's rate."""
    narrow = tmp_path / "narrow.wav"
    subprocess.run(["sox", str(mic), "-r", str(RATE), str(narrow)], check=True)
    return np.tile(load_wav(narrow), loops)


def test_a_caller_joining_the_desk_operator_at_any_moment_hears_them(tmp_path: Path) -> None:
    said = write_pcm16(tmp_path / "phrase.wav", phrase(1.25, 0.1))
    talk = as_heard(microphone(said, tmp_path / "mic.wav"), tmp_path, loops=6)
    assert joins_unheard(talk, opening(load_wav(said)), tmp_path, start=0) == []


def test_the_old_desk_microphone_left_moments_the_ear_could_not_hear_the_operator(tmp_path: Path) -> None:
    """Before: a second of silence on each side of the name (CI's short soak, ticket 61: the
    caller hung up 3.0 s after the answer, having heard 2.1 s of silence and 0.8 s of the name)."""
    said = write_pcm16(tmp_path / "phrase.wav", phrase(1.25, 0.1))
    old = tmp_path / "old.wav"
    subprocess.run(["sox", str(said), "-r", "48000", "-b", "16", str(old), "pad", "1", "1"], check=True)
    assert joins_unheard(as_heard(old, tmp_path, loops=4), opening(load_wav(said)), tmp_path, start=0) != []
    with pytest.raises(ValueError, match=r"a microphone loop of 3\.35 s"):
        microphone(said, tmp_path / "mic.wav", lead_s=1.0, tail_s=1.0)
