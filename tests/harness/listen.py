"""Which prompts a caller heard, found in the recording by cross-correlation with the prompt audio.

The recording went through the codec twice (engine -> carrier), so samples differ a little; the
normalised correlation of a prompt's opening seconds with the recording still peaks near 1 where
it was played and stays low elsewhere, which tells prompts apart without speech recognition.
"""

from __future__ import annotations

import asyncio
import shutil
from functools import lru_cache
from pathlib import Path

import numpy as np

from ivr.audio import pcm16

PREFIX_S = 2.0  # match on the opening of each prompt, so an interrupted prompt still counts
THRESHOLD = 0.6
KEPT = Path(__file__).resolve().parents[2] / "test-artifacts" / "heard"
WHOLE = 0.9  # a prompt heard to its end matches almost exactly; a cut one scores far lower


def _load(path: Path) -> np.ndarray:
    samples, rate = pcm16(path)
    assert rate == 8000, f"{path}: {rate} Hz"
    return np.asarray(samples, dtype=np.float64)


class PromptEar:
    def __init__(self, prompts: Path | dict[str, Path]) -> None:
        """`prompts`: a directory of prompt WAVs, or name -> WAV."""
        files = {w.stem: w for w in sorted(prompts.glob("*.wav"))} if isinstance(prompts, Path) else prompts
        self.templates: dict[str, np.ndarray] = {}
        self.full: dict[str, np.ndarray] = {}
        for name, wav in files.items():
            data = _load(wav)
            self.full[name] = data
            self.templates[name] = data[: int(PREFIX_S * 8000)]

    def occurrences(self, heard: np.ndarray, name: str) -> list[tuple[float, float]]:
        """(offset seconds, score) of each place the prompt starts in the recording."""
        return self._occurrences(_Spectrum(heard), name)

    def _occurrences(self, spec: _Spectrum, name: str) -> list[tuple[float, float]]:
        tmpl = self.templates[name]
        heard = spec.audio
        n, m = len(heard), len(tmpl)
        if n < m:
            return []
        corr = np.fft.irfft(spec.rfft * np.conj(_template_fft(self, name, spec.size)), spec.size)[: n - m + 1]
        window = np.sqrt(np.maximum(spec.energy[m:] - spec.energy[:-m], 1e-9))
        score = corr / (window * np.linalg.norm(tmpl) + 1e-9)
        candidates = np.flatnonzero(score >= THRESHOLD)
        found: list[tuple[float, float]] = []
        for idx in candidates[np.argsort(score[candidates])[::-1]]:
            if all(abs(idx - at * 8000) > m for at, _ in found):
                found.append((idx / 8000, float(score[idx])))
        return sorted(found)

    def heard(self, recording: Path) -> list[str]:
        """Names of the prompts heard, in order (a prompt heard twice appears twice).

        A prompt whose sound also occurs inside a longer prompt (closed_hours inside
        closed_holiday, the digit "uno" inside the menu) is only counted where it is not part of
        that longer prompt, i.e. where the longer one was not still playing, sample for sample,
        until the shorter one ended."""
        audio = _load(recording)
        spec = _Spectrum(audio)
        hits = [(at, name) for name in self.templates for at, _ in self._occurrences(spec, name)]
        kept = [(at, name) for at, name in hits if not any(self._inside(audio, at, name, s, o) for s, o in hits)]
        return [name for _, name in sorted(kept)]

    def _inside(self, audio: np.ndarray, at: float, name: str, start: float, outer: str) -> bool:
        """Is the hit of `name` at `at` a piece of `outer`, which began at `start` and was still
        playing there (to the end of the shorter of the two)?"""
        outer_end = start + len(self.full[outer]) / 8000
        if outer == name or not start < at - 0.1 < at < outer_end - 0.2:
            return False
        return self._covers(audio, outer, start, min(at + len(self.full[name]) / 8000, outer_end))

    async def hear(self, recording: Path) -> list[str]:
        """`heard`, off the event loop: the engine under test shares the loop and must not stall.
        The recording is kept under test-artifacts/heard/ (the carrier's copy goes with it)."""
        KEPT.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(recording, KEPT / recording.name)
        return await asyncio.to_thread(self.heard, recording)

    def _covers(self, audio: np.ndarray, name: str, start: float, until: float) -> bool:
        """Was prompt `name`, started at `start`, still playing unchanged at `until`?"""
        full = self.full[name]
        begin, end = round(start * 8000), round(until * 8000)
        if end - begin > len(full) or end > len(audio):
            return False
        piece, ref = audio[begin:end], full[: end - begin]
        score = float(np.dot(piece, ref) / (np.linalg.norm(piece) * np.linalg.norm(ref) + 1e-9))
        return score >= WHOLE


class _Spectrum:
    """A recording's FFT and running energy, computed once and matched against every prompt."""

    def __init__(self, audio: np.ndarray) -> None:
        self.audio = audio
        self.size = 1 << (len(audio) + int(PREFIX_S * 8000)).bit_length()
        self.rfft = np.fft.rfft(audio, self.size)
        self.energy = np.concatenate(([0.0], np.cumsum(audio * audio)))


@lru_cache(maxsize=4096)
def _template_fft(ear: PromptEar, name: str, size: int) -> np.ndarray:
    return np.fft.rfft(ear.templates[name], size)


def contains(recording: Path, sound: Path) -> bool:
    """Is `sound` (its opening seconds) somewhere in `recording`? The recording is kept under
    test-artifacts/audio/ when it is not, to be listened to."""
    ear = PromptEar({"sound": sound})
    found = bool(ear.occurrences(_load(recording), "sound"))
    if not found:
        keep = Path(__file__).resolve().parents[2] / "test-artifacts" / "audio"
        keep.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(recording, keep / f"{recording.stem}-without-{sound.stem}.wav")
    return found
