"""What the soak's ears cost: many calls' recordings growing at once, each read every few tenths
of a second and searched for a full call's worth of references (the line's prompts, every
operator's voice, the quick language offer, the beep), as `ivr.lab.soak.callers` does.

Prints the CPU per read and per second of call, and what the soak would spend on ears at the
full profile's concurrency. Then (`--follow`, on by default) the ears follow recordings that
grow in real time as the lab carrier's do: MixMonitor writes what the caller hears in pieces of
32 KiB (2.048 s: run 6's log shows "2.0, 4.1, 6.1 ... s recorded"), each ear reads on the soak's
reading threads, and the figure is how late each ear recognised a prompt planted in its
recording after the piece holding the prompt's opening reached the file (a person would not
have been later than that). Refuses to print when the ears missed a planted sound (a faster ear
that hears nothing is no ear).

    PYTHONPATH=. .venv/bin/python bench/soak_ear.py [--ears 160] [--seconds 6] [--follow 40]
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
import wave
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from ivr.lab.soak.ear import RATE, SLIP, Ear, Spectra, tone  # noqa: E402

FLUSH = 16384  # samples MixMonitor writes at a time (32 KiB of 16-bit audio)


def references(rng: np.random.Generator) -> dict[str, np.ndarray]:
    refs = {f"prompt{i}": rng.normal(0, 3000, RATE) for i in range(14)}
    refs |= {f"operator:op{i}": rng.normal(0, 3000, RATE) for i in range(8)}
    refs["language_offer"] = rng.normal(0, 3000, RATE // 2)
    refs["beep"] = tone(700, 0.3)
    return refs


def _header(path: Path) -> None:
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(RATE)


def _append(path: Path, samples: np.ndarray) -> None:
    with path.open("ab") as f:
        f.write(np.clip(samples, -32768, 32767).astype("<i2").tobytes())


def run(ears: int, seconds: float, every_s: float, refs: dict[str, np.ndarray], folder: Path) -> tuple[float, int]:
    """CPU seconds spent reading, and how many ears heard the planted prompt."""
    rng = np.random.default_rng(2)
    shared = Spectra()
    calls: list[tuple[Path, Ear, np.ndarray]] = []
    for k in range(ears):
        path = folder / f"{every_s}-{k}.wav"
        _header(path)
        audio = rng.normal(0, 1000, int(seconds * RATE))
        at = int(rng.integers(0, len(audio) - 2 * RATE))
        audio[at : at + RATE] += refs["prompt3"]
        calls.append((path, Ear(path, refs, spectra=shared), audio))
    step = int(every_s * RATE)
    spent = 0.0
    for start in range(0, int(seconds * RATE), step):
        for path, ear, audio in calls:
            _append(path, audio[start : start + step])
            began = time.process_time()
            ear.poll()
            spent += time.process_time() - began
    heard = sum(any(h.name == "prompt3" for h in ear.heard) for _, ear, _ in calls)
    return spent, heard


async def follow(
    ears: int, seconds: float, refs: dict[str, np.ndarray], folder: Path
) -> tuple[list[float], float, float]:
    """Ears following recordings that grow in real time, a prompt planted every few seconds in
    each. Returns how late each planted prompt was recognised (seconds after the piece holding
    its opening was written), the CPU seconds of the whole process per second, and the event
    loop's longest stall (a timer's lateness)."""
    rng = np.random.default_rng(3)
    shared = Spectra()
    total = int(seconds * RATE)
    every = 4 * RATE  # a prompt every 4 s of each call
    m = len(refs["prompt3"])
    calls: list[tuple[Path, Ear, np.ndarray, list[int]]] = []
    for k in range(ears):
        path = folder / f"follow-{k}.wav"
        _header(path)
        audio = rng.normal(0, 1000, total)
        planted = list(range(int(rng.integers(RATE // 2, 2 * RATE)), total - m - SLIP - FLUSH, every))
        for at in planted:
            audio[at : at + m] += refs["prompt3"]
        ear = Ear(path, refs, spectra=shared)
        calls.append((path, ear, audio, planted))
    written: dict[tuple[int, int], float] = {}  # (call, sample written up to) -> when
    loop = asyncio.get_running_loop()
    stall = 0.0

    async def watch() -> None:
        nonlocal stall
        while True:
            before = loop.time()
            await asyncio.sleep(0.05)
            stall = max(stall, loop.time() - before - 0.05)

    async def grow(k: int, path: Path, audio: np.ndarray) -> None:
        await asyncio.sleep(float(rng.uniform(0, FLUSH / RATE)))  # calls began at different moments
        began = loop.time()
        for n, start in enumerate(range(0, total, FLUSH), 1):
            await asyncio.sleep(max(0.0, began + n * FLUSH / RATE - loop.time()))
            _append(path, audio[start : start + FLUSH])
            written[(k, start + FLUSH)] = loop.time()

    watcher = asyncio.ensure_future(watch())
    cpu = time.process_time()
    wall = loop.time()
    for _, ear, _, _ in calls:
        ear.start()
    await asyncio.gather(*(grow(k, path, audio) for k, (path, _, audio, _) in enumerate(calls)))
    await asyncio.sleep(1.0)
    cpu_per_s = (time.process_time() - cpu) / (loop.time() - wall)
    for _, ear, _, _ in calls:
        await ear.stop()
    watcher.cancel()
    late: list[float] = []
    for k, (_, ear, _, planted) in enumerate(calls):
        found = {h.at_sample: h.noticed for h in ear.heard if h.name == "prompt3"}
        for at in planted:
            noticed = next((t for s, t in found.items() if abs(s - at) < 8), None)
            if noticed is None:
                raise SystemExit(f"call {k}: the prompt planted at {at / RATE:.2f} s was not heard; no figures")
            # the piece that completed the opening (and the slip the ear waits for after it)
            piece = ((at + m + SLIP) // FLUSH + 1) * FLUSH
            late.append(noticed - written[(k, piece)])
    return late, cpu_per_s, stall


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--ears", type=int, default=80, help="calls up at once (the full profile: about 80)")
    parser.add_argument("--seconds", type=float, default=6.0, help="audio per call")
    parser.add_argument("--follow", type=float, default=40.0, help="seconds of real time to follow (0: skip)")
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
                f"{per_call_s * args.ears:.2f} s of CPU per second for {args.ears} calls"
            )
        if args.follow > 0:
            late, cpu, stall = asyncio.run(follow(args.ears, args.follow, refs, Path(tmp)))
            q = np.percentile(late, [50, 95, 100])
            print(
                f"following {args.ears} calls for {args.follow:g} s in real time: {len(late)} prompts recognised "
                f"{q[0]:.2f} s (median), {q[1]:.2f} s (95%), {q[2]:.2f} s (most) after they reached the file; "
                f"{cpu:.2f} s of CPU per second; the loop stood still {stall:.2f} s at most"
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
