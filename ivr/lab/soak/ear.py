"""A soak caller's ear: recognises, while the call is up, what the caller hears.

The engine runs as its own process, so a caller cannot watch its notes; it must know where the
call is the way a person does, by what reaches the ear. The lab carrier records the received
direction of every call (MixMonitor) into a WAV that grows as the call goes on; the ear reads it
as it grows and finds in it the openings of known sounds (the line's prompts, each operator's
voice, the voicemail beep) by normalised cross-correlation. Through two codecs a sound heard as
played scores above 0.9 and anything else (music on hold, other prompts) stays far below, so no
speech recognition is needed, and nothing depends on guessing how long a prompt lasts.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
import wave
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

RATE = 8000
OPENING_S = 1.0  # how much of a sound is matched: enough to tell prompts apart, short to hear early
MATCH = 0.7
FLOOR_RMS = 40.0  # below this the window is near silence and its correlation proves nothing
HEADER = 44  # MixMonitor's WAV header; the data follow and grow while the call is up
# A frame dropped or repeated on the way (20 ms, seen under load in the soak's run 4) shifts the
# rest of an opening against its start, and one correlation over the whole second falls to ~0.6
# although a person hears the voice plainly; so a near miss is judged again in quarters, each up
# to SLIP samples off its place (Ear._pieces).
SLIP = 320  # 40 ms
PIECES = 4
NEAR = 0.45  # a whole-opening score worth a second look


@dataclass(frozen=True)
class Heard:
    name: str
    at_sample: int  # where the sound starts in what the caller heard
    noticed: float  # loop time when the ear recognised it (after the opening had been heard)
    score: float


def load_wav(path: Path) -> np.ndarray:
    with wave.open(str(path), "rb") as w:
        if w.getframerate() != RATE or w.getnchannels() != 1 or w.getsampwidth() != 2:
            raise ValueError(f"{path}: expected 8 kHz mono 16-bit, got {w.getframerate()} Hz/{w.getnchannels()} ch")
        return np.frombuffer(w.readframes(w.getnframes()), dtype="<i2").astype(np.float64)


def opening(samples: np.ndarray, seconds: float = OPENING_S) -> np.ndarray:
    """The first `seconds` of sound, leading silence skipped (a person answering pauses first)."""
    loud = np.flatnonzero(np.abs(samples) > 0.1 * (np.max(np.abs(samples)) or 1.0))
    start = int(loud[0]) if len(loud) else 0
    piece = samples[start : start + int(seconds * RATE)]
    if len(piece) < int(0.2 * RATE):
        raise ValueError("the reference sound is shorter than 0.2 s")
    return piece


def tone(freq: float, seconds: float) -> np.ndarray:
    """A pure tone, e.g. the voicemail beep (Asterisk's `beep` is 700 Hz)."""
    t = np.arange(int(seconds * RATE)) / RATE
    return np.sin(2 * np.pi * freq * t) * 8000.0


class Ear:
    """Follows one call's recording; `heard` lists what was recognised, in order."""

    def __init__(
        self,
        recording: Path,
        references: dict[str, np.ndarray],
        thresholds: dict[str, float] | None = None,
        gone: Callable[[], bool] | None = None,
    ) -> None:
        self.path = recording
        self.gone = gone  # the call has ended: nothing more will be heard
        self.refs = dict(references)  # a copy: `forget` drops some for this call only
        self.thresholds = thresholds or {}
        self.audio = np.zeros(0, dtype=np.float64)
        self.heard: list[Heard] = []
        self._next: dict[str, int] = dict.fromkeys(references, 0)
        self._offset = HEADER
        self._changed = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def start(self, every_s: float = 0.15) -> None:
        self._task = asyncio.ensure_future(self._follow(every_s))

    async def stop(self) -> None:
        """Stop following and read what is left (the recording is complete after the call)."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        self.poll()

    async def _follow(self, every_s: float) -> None:
        while True:
            self.poll()
            if self.gone is not None and self.gone():
                self._changed.set()  # waiters learn that nothing more is coming
            await asyncio.sleep(every_s)

    def poll(self) -> None:
        """Read what the recording gained and look for every reference in it."""
        try:
            with self.path.open("rb") as f:
                f.seek(self._offset)
                data = f.read()
        except FileNotFoundError:
            return  # MixMonitor opens the file with the first frame
        data = data[: len(data) - len(data) % 2]
        if not data:
            return
        self._offset += len(data)
        self.audio = np.concatenate([self.audio, np.frombuffer(data, dtype="<i2").astype(np.float64)])
        found, before = False, len(self.heard)
        for name, ref in self.refs.items():
            found |= self._scan(name, ref)
        if found:
            # In the order they were heard, not the order they were looked for: a read that
            # brings two sounds (a busy machine reads late) must not swap them for the caller.
            self.heard[before:] = sorted(self.heard[before:], key=lambda h: h.at_sample)
            self._changed.set()

    def _scan(self, name: str, ref: np.ndarray) -> bool:
        m, start = len(ref), self._next[name]
        seg = self.audio[start:]
        if len(seg) < m + SLIP:
            return False
        n = len(seg) - m - SLIP + 1  # positions with room for a slipped last quarter after them
        full = _ncc(seg, ref)
        score = np.maximum(full[:n], self._pieces(seg, ref, full, n))
        self._next[name] = start + n
        threshold = self.thresholds.get(name, MATCH)
        found = False
        last = max((h.at_sample for h in self.heard if h.name == name), default=-(10**9))
        for i in np.flatnonzero(score >= threshold):
            at = start + int(i)
            if at - last < m:  # the same sound, a sample or two on
                continue
            near = score[i : i + m // 4]
            best = int(i + np.argmax(near))
            self.heard.append(Heard(name, start + best, time.monotonic(), float(score[best])))
            last = at = start + best
            found = True
        return found

    def _pieces(self, seg: np.ndarray, ref: np.ndarray, full: np.ndarray, n: int) -> np.ndarray:
        """Where the whole opening nearly matched, its quarters judged one by one, each at its
        best within SLIP of its place: heard if at most one quarter (the one the slip fell in)
        misses and their mean matches. Voices alike in all but a name miss in two quarters or
        more, so they stay apart. Only near misses are looked at, which are rare and cheap."""
        out = np.zeros(n)
        q = len(ref) // PIECES
        skip_until = -1
        for c in np.flatnonzero(full[:n] >= NEAR):
            if c < skip_until:
                continue
            i = int(c + np.argmax(full[c : c + q]))  # the peak of this run of near misses
            skip_until = i + q
            scores, first_at = [], i
            for j in range(PIECES):
                lo = max(0, i + j * q - SLIP)
                found = _ncc(seg[lo : i + (j + 1) * q + SLIP], ref[j * q : (j + 1) * q])
                if not len(found):
                    break
                scores.append(float(found.max()))
                if j == 0:
                    first_at = lo + int(np.argmax(found))
            if len(scores) == PIECES and sum(x < MATCH for x in scores) <= 1 and first_at < n:
                out[first_at] = max(out[first_at], float(np.mean(scores)))
        return out

    def forget(self, names: set[str]) -> None:
        """Stop looking for `names` (what was heard stays in `heard`): a caller who knows the
        line's language no longer needs the other language's prompts, and every reference costs
        a correlation at each read."""
        for name in names:
            self.refs.pop(name, None)
            self._next.pop(name, None)

    def count(self, name: str) -> int:
        return sum(h.name == name for h in self.heard)

    def seconds_heard(self) -> float:
        return len(self.audio) / RATE

    async def wait(self, names: set[str] | str, *, after: int = 0, timeout: float) -> Heard | None:
        """The first of `names` recognised at index `after` of `heard` or later; None on timeout."""
        wanted = {names} if isinstance(names, str) else names
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            for h in self.heard[after:]:
                if h.name in wanted:
                    return h
            left = deadline - loop.time()
            if left <= 0:
                return None
            if self.gone is not None and self.gone():
                self.poll()  # the last of the recording, then no more waiting for what cannot come
                found = [h for h in self.heard[after:] if h.name in wanted]
                # A turn for the loop before answering: a caller that asks again and again after
                # its call ended (a loop on "not heard yet") would otherwise hold every other
                # caller, phone and fault of the soak until its own patience ran out (runs 8, 9).
                await asyncio.sleep(0)
                return found[0] if found else None
            self._changed.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._changed.wait(), left)


def _ncc(seg: np.ndarray, ref: np.ndarray) -> np.ndarray:
    """Normalised cross-correlation of `ref` at each position of `seg` (0 where `seg` is near
    silence: a correlation there proves nothing)."""
    m = len(ref)
    if len(seg) < m:
        return np.zeros(0)
    size = 1 << int(np.ceil(np.log2(len(seg) + m)))
    corr = np.fft.irfft(np.fft.rfft(seg, size) * np.conj(np.fft.rfft(ref, size)), size)[: len(seg) - m + 1]
    energy = np.concatenate(([0.0], np.cumsum(seg * seg)))
    window = energy[m:] - energy[:-m]
    loud = window > (FLOOR_RMS**2) * m
    return np.where(loud, corr / (np.sqrt(np.maximum(window, 1e-9)) * np.linalg.norm(ref)), 0.0)
