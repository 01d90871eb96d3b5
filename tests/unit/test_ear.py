"""The lab's ear (which prompts a caller heard) on recordings built here, with lost packets.

A real line drops a 20 ms frame now and then; a listener still hears the prompt, so must the
tests' ear. What is really cut (a prompt missing its opening, a long loss) must still fail.
"""

from __future__ import annotations

import wave
from pathlib import Path

import numpy as np
import pytest

from tests.harness.listen import PromptEar, contains
from tests.harness.voices import synthesise

RATE = 8000
FRAME = 160  # one 20 ms packet at 8 kHz
TEXTS = {
    "welcome": "Benvenuto al Numero per il lavoro. Le chiamate sono gratuite e registrate per la qualità.",
    "menu": "Per informazioni sulla disoccupazione, prema uno. Per le offerte di lavoro, prema due.",
    "thanks": "Grazie per aver chiamato il Numero per il lavoro.",
}


def _read(path: Path) -> np.ndarray:
    with wave.open(str(path), "rb") as wav:
        return np.frombuffer(wav.readframes(wav.getnframes()), dtype=np.int16).astype(np.float64)


def _write(path: Path, audio: np.ndarray) -> Path:
    with wave.open(str(path), "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(2)
        wav.setframerate(RATE)
        wav.writeframes(np.clip(audio, -32768, 32767).astype(np.int16).tobytes())
    return path


@pytest.fixture(scope="module")
def prompts(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("ear-prompts")
    for name, text in TEXTS.items():
        synthesise(text, folder / f"{name}.wav")
    # "goodbye" ends with "thanks": "thanks" heard inside it must not count as a second prompt.
    thanks = _read(folder / "thanks.wav")
    intro = _read(synthesise("Il servizio di oggi è terminato.", folder / "intro.wav"))
    (folder / "intro.wav").unlink()
    _write(folder / "goodbye.wav", np.concatenate([intro, np.zeros(RATE // 5), thanks]))
    return folder


def _line(audio: np.ndarray, seed: int) -> np.ndarray:
    """What comes out of a phone line: a little noise on every sample."""
    return audio + np.random.default_rng(seed).normal(0, 30, len(audio))


def _drop(audio: np.ndarray, at_s: list[float], frames: int = 1) -> np.ndarray:
    """Lose `frames` packets at each of these moments (later audio moves earlier)."""
    keep = np.ones(len(audio), dtype=bool)
    for at in at_s:
        start = int(at * RATE) // FRAME * FRAME
        keep[start : start + frames * FRAME] = False
    return audio[keep]


def _call(prompts: Path, tmp_path: Path, *parts: np.ndarray | str) -> Path:
    pieces = [np.zeros(RATE // 2)]
    for part in parts:
        pieces += [_read(prompts / f"{part}.wav") if isinstance(part, str) else part, np.zeros(RATE // 3)]
    return _write(tmp_path / "heard.wav", _line(np.concatenate(pieces), seed=len(pieces)))


@pytest.mark.parametrize(
    "lost",
    [[0.1], [0.62], [1.0], [1.9], [0.3, 1.2], [0.4, 0.9, 1.6]],
    ids=["at-0.1s", "at-0.62s", "at-1s", "at-1.9s", "two", "three"],
)
def test_a_prompt_is_heard_through_lost_packets(prompts: Path, tmp_path: Path, lost: list[float]) -> None:
    welcome = _drop(_read(prompts / "welcome.wav"), lost)
    recording = _call(prompts, tmp_path, welcome, "menu")
    assert PromptEar(prompts).heard(recording) == ["welcome", "menu"]


def test_a_burst_of_lost_packets_is_heard_as_well(prompts: Path, tmp_path: Path) -> None:
    welcome = _drop(_read(prompts / "welcome.wav"), [0.8], frames=5)  # 100 ms gone at once
    assert PromptEar(prompts).heard(_call(prompts, tmp_path, welcome)) == ["welcome"]


def test_a_prompt_missing_its_opening_or_a_long_stretch_is_not_heard(prompts: Path, tmp_path: Path) -> None:
    welcome = _read(prompts / "welcome.wav")
    ear = PromptEar(prompts)
    assert ear.heard(_call(prompts, tmp_path, welcome[RATE:], "menu")) == ["menu"]
    assert ear.heard(_call(prompts, tmp_path, _drop(welcome, [0.7], frames=25), "menu")) == ["menu"]


def test_a_shorter_prompt_inside_a_longer_one_counts_once(prompts: Path, tmp_path: Path) -> None:
    ear = PromptEar(prompts)
    goodbye = _drop(_read(prompts / "goodbye.wav"), [0.5, 1.4, 2.6])
    assert ear.heard(_call(prompts, tmp_path, goodbye)) == ["goodbye"]
    assert ear.heard(_call(prompts, tmp_path, "thanks", "menu")) == ["thanks", "menu"]


def test_contains_finds_a_voice_through_lost_packets_and_not_in_silence(prompts: Path, tmp_path: Path) -> None:
    voice = prompts / "menu.wav"
    assert contains(_call(prompts, tmp_path, "welcome", _drop(_read(voice), [0.5, 1.1])), voice)
    silence = _line(np.zeros(5 * RATE), seed=1)
    assert PromptEar({"voice": voice}).occurrences(silence, "voice") == []
