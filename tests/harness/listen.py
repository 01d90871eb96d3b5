"""Which prompts a caller heard, found in the recording by cross-correlation with the prompt audio.

The recording went through the codec twice (engine -> carrier), so samples differ a little; the
normalised correlation of a prompt's opening seconds with the recording still peaks near 1 where
it was played and stays low elsewhere, which tells prompts apart without speech recognition.

A phone line also loses packets: when either Asterisk or the lab's recorder falls behind for a
moment (seen on a busy two-core machine), a 20 ms frame goes missing and everything after it in
the recording is 20 ms early. One correlation over two seconds then no longer lines up and a
prompt any listener would have heard is missed. So a candidate found by the whole opening is
confirmed piece by piece (quarter-second chunks), each piece free to arrive a little early, as a
listener follows speech across a dropout. What is lost must stay small: a cut prompt still fails.
"""

from __future__ import annotations

import asyncio
import shutil
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

from ivr.audio import pcm16

RATE = 8000
PREFIX_S = 2.0  # match on the opening of each prompt, so an interrupted prompt still counts
CANDIDATE = 0.3  # whole-opening score worth a closer look (a dropout halves it at worst)
CHUNK_S = 0.25
CHUNK_MATCH = 0.8  # a piece heard as played scores above 0.95 through two codecs
WHOLE = 0.9  # "still playing unchanged": stricter, as it decides which of two prompts it was
MAX_DROP_S = 0.3  # audio lost between two pieces that the ear still follows (a stalled recorder)
SLIP_S = 0.005
SEARCH_S = 0.3  # how far from the candidate the opening piece may be
KEPT = Path(__file__).resolve().parents[2] / "test-artifacts" / "heard"


def _wav_closed(path: Path) -> bool:
    """Has the writer closed the file? A WAV writer (Asterisk, libsndfile) puts the RIFF length
    in the header on close; until then the header says 0, or is still in the writer's buffer
    and the file begins with nothing readable ("not a WAVE file" in a CI run)."""
    try:
        with path.open("rb") as f:
            head = f.read(12)
        size = path.stat().st_size
    except FileNotFoundError:
        return False
    return head[:4] == b"RIFF" and head[8:12] == b"WAVE" and int.from_bytes(head[4:8], "little") + 8 == size


async def closed_wav(path: Path, polls: int = 50, interval: float = 0.2) -> None:
    """Wait (a fixed number of polls, not the wall clock: a busy loop must not shorten it) for the
    recording's writer to close it; a file still open after that is read as it is, and a broken
    one then fails the test by its own error."""
    for _ in range(polls):
        if _wav_closed(path):
            return
        await asyncio.sleep(interval)


def _load(path: Path) -> np.ndarray:
    samples, rate = pcm16(path)
    assert rate == RATE, f"{path}: {rate} Hz"
    return np.asarray(samples, dtype=np.float64)


@dataclass(frozen=True)
class Followed:
    """A reference followed through a recording: where it started, and each piece's score
    (None for a piece that is silence in the reference and so proves nothing)."""

    start: int
    scores: list[float | None]

    def passed(self, match: float) -> bool:
        """Every piece with sound matched, but for one in four (a dropout spoils the piece it
        falls in)."""
        evidence = [s for s in self.scores if s is not None]
        good = sum(s >= match for s in evidence)
        return bool(evidence) and good >= len(evidence) - len(evidence) // 4 and good >= min(2, len(evidence))

    @property
    def score(self) -> float:
        evidence = [s for s in self.scores if s is not None]
        return float(np.mean(evidence)) if evidence else 0.0


def _energy(audio: np.ndarray) -> np.ndarray:
    """Running energy: the energy of audio[a:b] is energy[b] - energy[a]."""
    return np.concatenate(([0.0], np.cumsum(audio * audio)))


def _normalised(corr: np.ndarray, energy: np.ndarray, ref: np.ndarray) -> np.ndarray:
    """Raw correlations (one per offset) divided by the energy of both sides: 1.0 where the
    recording is the reference, at whatever level it was played."""
    m = len(ref)
    window = np.sqrt(np.maximum(energy[m : m + len(corr)] - energy[: len(corr)], 1e-9))
    return corr / (window * np.linalg.norm(ref) + 1e-9)


def _best(audio: np.ndarray, piece: np.ndarray, lo: int, hi: int) -> tuple[int, float]:
    """Offset in [lo, hi] where `piece` correlates best with the recording, and the score."""
    lo, hi = max(lo, 0), min(hi, len(audio) - len(piece))
    if hi < lo:
        return lo, 0.0
    seg = audio[lo : hi + len(piece)]
    score = _normalised(np.correlate(seg, piece, "valid"), _energy(seg), piece)
    i = int(np.argmax(score))
    return lo + i, float(score[i])


def _peaks(score: np.ndarray, radius: int) -> list[int]:
    """Offsets where the score reaches CANDIDATE and is the highest within `radius`, best
    first: one look per place a prompt may start instead of one per sample."""
    above = np.flatnonzero(score >= CANDIDATE)
    hidden = np.zeros(len(score), dtype=bool)
    peaks: list[int] = []
    for idx in (int(i) for i in above[np.argsort(score[above], kind="stable")[::-1]]):
        if not hidden[idx]:
            peaks.append(idx)
            hidden[max(idx - radius, 0) : idx + radius] = True
    return peaks


def _pieces(ref: np.ndarray) -> list[np.ndarray]:
    size = int(CHUNK_S * RATE)
    n = max(1, len(ref) // size)
    step = len(ref) // n
    return [ref[i * step : (i + 1) * step if i < n - 1 else len(ref)] for i in range(n)]


def follow(audio: np.ndarray, ref: np.ndarray, guess: int, lo: int, hi: int, until: int | None = None) -> Followed:
    """Follow `ref` piece by piece through `audio`, its first piece placed in [lo, hi] (at
    `guess` if that piece is silence); each next piece where the previous one ended, or up to
    MAX_DROP_S earlier. With `until`, stop once the recording is followed to that sample."""
    loud = float(np.sqrt(np.mean(ref * ref))) if len(ref) else 0.0
    drop, slip = int(MAX_DROP_S * RATE), int(SLIP_S * RATE)
    scores: list[float | None] = []
    start = expected = -1
    for i, piece in enumerate(_pieces(ref)):
        if until is not None and i and expected >= until:
            break
        silent = float(np.sqrt(np.mean(piece * piece))) < 0.1 * loud
        window = (lo, hi) if i == 0 else (expected - drop, expected + slip)
        at, score = _best(audio, piece, *window)
        if silent or (i and score < CHUNK_MATCH):  # no evidence of where it is: assume on time
            at = window[1] - slip if i else guess
        if i == 0:
            start = at
        scores.append(None if silent else score)
        expected = at + len(piece)
    return Followed(start, scores)


class PromptEar:
    def __init__(self, prompts: Path | dict[str, Path]) -> None:
        """`prompts`: a directory of prompt WAVs, or name -> WAV."""
        files = {w.stem: w for w in sorted(prompts.glob("*.wav"))} if isinstance(prompts, Path) else prompts
        self.templates: dict[str, np.ndarray] = {}
        self.full: dict[str, np.ndarray] = {}
        for name, wav in files.items():
            data = _load(wav)
            self.full[name] = data
            self.templates[name] = data[: int(PREFIX_S * RATE)]

    def occurrences(self, heard: np.ndarray, name: str) -> list[tuple[float, float]]:
        """(offset seconds, score) of each place the prompt starts in the recording."""
        return self._occurrences(_Spectrum(heard), name)

    def _occurrences(self, spec: _Spectrum, name: str) -> list[tuple[float, float]]:
        tmpl = self.templates[name]
        heard = spec.audio
        n, m = len(heard), len(tmpl)
        if n < m or m == 0:
            return []
        corr = np.fft.irfft(spec.rfft * np.conj(_template_fft(self, name, spec.size)), spec.size)[: n - m + 1]
        score = _normalised(corr, spec.energy, tmpl)
        # Audio lost inside the opening makes it line up early (by what was lost), never late.
        search, slack = min(int(SEARCH_S * RATE), m // 4), int(4 * SLIP_S * RATE)
        found: list[tuple[float, float]] = []
        for idx in _peaks(score, max(m // 2, 1)):
            seen = follow(heard, tmpl, idx, idx - slack, idx + search)
            # The same prompt twice in a row starts a prompt's length apart (less what was lost).
            if seen.passed(CHUNK_MATCH) and all(abs(seen.start - at * RATE) >= m // 2 for at, _ in found):
                found.append((seen.start / RATE, seen.score))
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
        outer_end = start + len(self.full[outer]) / RATE
        if outer == name or not start < at - 0.1 < at < outer_end - 0.2:
            return False
        return self._covers(audio, outer, start, min(at + len(self.full[name]) / RATE, outer_end))

    async def hear(self, recording: Path) -> list[str]:
        """`heard`, off the event loop: the engine under test shares the loop and must not stall.
        The recording is kept under test-artifacts/heard/ (the carrier's copy goes with it)."""
        await closed_wav(recording)
        KEPT.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(recording, KEPT / recording.name)
        return await asyncio.to_thread(self.heard, recording)

    def _covers(self, audio: np.ndarray, name: str, start: float, until: float) -> bool:
        """Was prompt `name`, started at `start`, still playing unchanged at `until`?"""
        begin, end = round(start * RATE), round(until * RATE)
        full = self.full[name]
        if end - begin > len(full) or end > len(audio):
            return False
        slip = int(SLIP_S * RATE)
        return follow(audio, full, begin, begin - slip, begin + slip, until=end - int(CHUNK_S * RATE)).passed(WHOLE)


class _Spectrum:
    """A recording's FFT and running energy, computed once and matched against every prompt."""

    def __init__(self, audio: np.ndarray) -> None:
        self.audio = audio
        self.size = 1 << (len(audio) + int(PREFIX_S * RATE)).bit_length()
        self.rfft = np.fft.rfft(audio, self.size)
        self.energy = _energy(audio)


@lru_cache(maxsize=4096)
def _template_fft(ear: PromptEar, name: str, size: int) -> np.ndarray:
    return np.fft.rfft(ear.templates[name], size)


def contains(recording: Path, sound: Path, skip_s: float = 0.0) -> bool:
    """Is `sound` (its opening seconds, or those after `skip_s`) somewhere in `recording`? The
    recording is kept under test-artifacts/audio/ when it is not, to be listened to.

    `skip_s` is for a voice that may begin before the recording does: a softphone speaks a fixed
    time after it answers, and on a loaded machine the bridge (and its recording) can start
    after the first words."""
    ear = PromptEar({"sound": sound})
    if skip_s:
        ear.full["sound"] = ear.full["sound"][int(skip_s * RATE) :]
        ear.templates["sound"] = ear.full["sound"][: int(PREFIX_S * RATE)]
    found = bool(ear.occurrences(_load(recording), "sound"))
    if not found:
        keep = Path(__file__).resolve().parents[2] / "test-artifacts" / "audio"
        keep.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(recording, keep / f"{recording.stem}-without-{sound.stem}.wav")
    return found


def loudness(recording: Path) -> str:
    """Length and loudness second by second (dBFS), for a failure message: tells silence from
    speech from a recording that is too short."""
    audio = _load(recording)
    levels = [
        f"{10 * np.log10(max(float(np.mean(sec * sec)), 1e-3) / 32768**2):.0f}"
        for sec in (audio[i : i + RATE] for i in range(0, len(audio), RATE))
    ]
    return f"{recording.name}: {len(audio) / RATE:.1f} s, dBFS per second: {' '.join(levels)}"


PIECE = 2000  # a quarter of a second at 8 kHz
PIECE_FLOOR = 0.5  # a piece of a voice mixed into a whisper still scores above this
ALIGN_TOLERANCE_S = 0.15


def heard_share(recording: Path, sound: Path) -> float:
    """How much of `sound` is in `recording` at one consistent place: the share of its spoken
    quarter-seconds that score PIECE_FLOOR or more within ALIGN_TOLERANCE_S of one alignment.

    For a voice that reaches the ear mixed in by Asterisk's audiohooks (a supervisor's whisper,
    a snoop hearing both directions): its pieces arrive a little distorted (measured 0.55-0.95
    each, where `contains` wants 0.8) but all in their order, so one alignment holds them all
    (share 1.0); a voice that is not there lines up nowhere (measured 0.15-0.25)."""
    audio, ref = _load(recording), _load(sound)
    size = 1 << int(np.ceil(np.log2(len(audio) + PIECE)))
    spectrum = np.fft.rfft(audio, size)
    cumulative = np.concatenate([[0.0], np.cumsum(audio * audio)])
    energy = np.sqrt(np.maximum(cumulative[PIECE:] - cumulative[:-PIECE], 1e-9))
    scored: list[tuple[int, np.ndarray]] = []
    for k in range(0, len(ref) - PIECE, PIECE):
        piece = ref[k : k + PIECE]
        norm = float(np.linalg.norm(piece))
        if norm < 1e3:  # a pause in the voice: nothing to find
            continue
        corr = np.fft.irfft(spectrum * np.conj(np.fft.rfft(piece, size)), size)[: len(audio) - PIECE + 1]
        scored.append((k, corr / (energy[: len(audio) - PIECE + 1] * norm)))
    if not scored:
        return 0.0
    tolerance = int(ALIGN_TOLERANCE_S * RATE)
    best = 0.0
    for base in {int(np.argmax(s)) - k for k, s in scored}:
        hits = 0
        for k, s in scored:
            lo, hi = max(0, base + k - tolerance), min(len(s), base + k + tolerance + 1)
            hits += lo < hi and float(s[lo:hi].max()) >= PIECE_FLOOR
        best = max(best, hits / len(scored))
    return best
