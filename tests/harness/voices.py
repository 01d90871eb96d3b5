"""Voices for scripted callers and operators: Italian speech synthesised once per session."""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from pathlib import Path

CALLER_TEXT = "Buongiorno, vorrei sapere come presentare la domanda di disoccupazione."
OPERATOR_TEXT = "Numero per il lavoro, buongiorno. Sono l'operatrice Anna, come posso aiutarla?"


@dataclass(frozen=True)
class Voices:
    caller: Path  # a few seconds of a citizen speaking
    operator: Path  # what an operator's phone says at the start of every call
    operator_padded: Path  # the same after a short pause, then silence (a softphone's microphone)
    line_noise: Path  # a quiet line: someone who says nothing (phones send audio even then)


def synthesise(text: str, target: Path, pad_s: float = 0.0, lead_s: float = 0.0) -> Path:
    raw = target.with_suffix(".raw.wav")
    subprocess.run(["espeak-ng", "-v", "it", "-s", "160", "-w", str(raw), text], check=True)
    cmd = ["sox", str(raw), "-r", "8000", "-c", "1", "-b", "16", "-e", "signed-integer", str(target)]
    if pad_s or lead_s:
        cmd += ["pad", str(lead_s), str(pad_s)]
    subprocess.run(cmd, check=True)
    raw.unlink()
    return target


def make_voices(folder: Path) -> Voices:
    folder.mkdir(parents=True, exist_ok=True)
    return Voices(
        caller=synthesise(CALLER_TEXT, folder / "caller.wav"),
        operator=synthesise(OPERATOR_TEXT, folder / "operator.wav"),
        # A person answering speaks a moment after picking up, and the line stays open after.
        operator_padded=synthesise(OPERATOR_TEXT, folder / "operator-padded.wav", pad_s=90, lead_s=1.5),
        line_noise=_noise(folder / "line-noise.wav", 15.0),
    )


def _noise(target: Path, seconds: float) -> Path:
    subprocess.run(
        [
            "sox",
            "-n",
            "-r",
            "8000",
            "-c",
            "1",
            "-b",
            "16",
            str(target),
            "synth",
            str(seconds),
            "whitenoise",
            "vol",
            "0.001",
        ],
        check=True,
    )
    return target
