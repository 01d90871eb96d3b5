"""What the soak's ears cost: many calls' recordings growing at once, each read every few tenths
of a second and searched for a full call's worth of references (the line's prompts, every
operator's voice, the quick language offer, the beep), as `ivr.lab.soak.callers` does.

Prints the CPU per read and per second of call, and what the soak's single event loop would
spend on ears at the full profile's concurrency. Refuses to print when the ears missed a sound
planted in every recording (a faster ear that hears nothing is no ear).

    PYTHONPATH=. .venv/bin/python bench/soak_ear.py [--ears 80] [--seconds 6]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
import wave
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from ivr.lab.soak.ear import RATE, Ear, Spectra, tone  # noqa: E402


def references(rng: np.random.Generator) -> dict[str, np.ndarray]:
    refs = {f"prompt{i}": rng.normal(0, 3000, RATE) for i in range(14)}
    refs |= {f"operator:op{i}": rng.normal(0, 3000, RATE) for i in range(8)}
    refs["language_offer"] = rng.normal(0, 3000, RATE // 2)
    refs["beep"] = tone(700, 0.3)
    return refs


def run(ears: int, seconds: float, every_s: float, refs: dict[str, np.ndarray], folder: Path) -> tuple[float, int]:
    """CPU seconds spent reading, and how many ears heard the planted prompt."""
    rng = np.random.default_rng(2)
    shared = Spectra()
    calls: list[tuple[Path, Ear, np.ndarray]] = []
    for k in range(ears):
        path = folder / f"{every_s}-{k}.wav"
        with wave.open(str(path), "wb") as w:
            w.setnchannels(1)
            w.setsampwidth(2)
            w.setframerate(RATE)
        audio = rng.normal(0, 1000, int(seconds * RATE))
        at = int(rng.integers(0, len(audio) - 2 * RATE))
        audio[at : at + RATE] += refs["prompt3"]
        calls.append((path, Ear(path, refs, spectra=shared), audio))
    step = int(every_s * RATE)
    spent = 0.0
    for start in range(0, int(seconds * RATE), step):
        for path, ear, audio in calls:
            with path.open("ab") as f:
                f.write(np.clip(audio[start : start + step], -32768, 32767).astype("<i2").tobytes())
            began = time.process_time()
            ear.poll()
            spent += time.process_time() - began
    heard = sum(any(h.name == "prompt3" for h in ear.heard) for _, ear, _ in calls)
    return spent, heard


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--ears", type=int, default=80, help="calls up at once (the full profile: about 80)")
    parser.add_argument("--seconds", type=float, default=6.0, help="audio per call")
    args = parser.parse_args()
    refs = references(np.random.default_rng(1))
    print(f"{args.ears} ears, {len(refs)} references each, {args.seconds:g} s of audio per call")
    with tempfile.TemporaryDirectory() as tmp:
        for every_s in (0.15, 0.3, 0.45):
            spent, heard = run(args.ears, args.seconds, every_s, refs, Path(tmp))
            if heard != args.ears:
                print(f"every {every_s} s: only {heard} of {args.ears} ears heard the planted prompt; no figures")
                return 1
            reads = args.ears * int(np.ceil(args.seconds / every_s))
            per_call_s = spent / (args.ears * args.seconds)
            print(
                f"read every {every_s:.2f} s: {spent / reads * 1000:.2f} ms per read, "
                f"{per_call_s * 1000:.1f} ms CPU per call-second, "
                f"{per_call_s * args.ears:.2f} s of the loop per second for {args.ears} calls"
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
