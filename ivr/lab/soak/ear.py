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
import functools
import threading
import time
import wave
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ivr.lab.soak.ear_reader import Readers, scratch

RATE = 8000
OPENING_S = 1.0  # how much of a sound is matched: enough to tell prompts apart, short to hear early
MATCH = 0.7  # a quarter of an opening, judged on its own (Ear._pieces)
# The whole opening: a sound heard as played scores above 0.9; another prompt that shares all but
# its first words with it scored 0.74 (full run 3), so the whole must score higher than a quarter.
WHOLE = 0.8
FLOOR_RMS = 40.0  # below this the window is near silence and its correlation proves nothing
HEADER = 44  # MixMonitor's WAV header; the data follow and grow while the call is up
# A frame dropped or repeated on the way (20 ms, seen under load in the soak's run 4) shifts the
# rest of an opening against its start, and one correlation over the whole second falls to ~0.6
# although a person hears the voice plainly; so a near miss is judged again in quarters, each up
# to SLIP samples off its place (Ear._pieces).
SLIP = 320  # 40 ms
# Audio lost on the way (full run 7: 200 ms gone from the opening of "your callback is booked"
# under load; the caller did not recognise the confirmation) moves the rest of an opening earlier:
# after a missed quarter, the next is looked for up to this much before its place.
DROP = 2400  # 300 ms
PIECES = 4
NEAR = 0.45  # a whole-opening score worth a second look


# How often an ear reads its recording. A read costs about the same up to half a second of new
# audio (the transform spans the opening looked for plus what is new): reading less often is what
# makes a hundred ears affordable on two cores; a person reacts no faster anyway. The lab carrier's
# MixMonitor writes what the caller hears 2.048 s at a time (32 KiB), so most reads find nothing new.
READ_EVERY_S = 0.45
# The ears read on threads of their own (`ivr.lab.soak.ear_reader`): the transforms never stand
# the soak's event loop still (full run 5 read on the loop: held up to 12 s at a time, 163 callers
# failed), and two threads keep up where one fell 7 s behind (full run 6, 160 calls up).
_READER = Readers(threads=2)
# A read covers at most this much of what was heard at once: after the loop stood still, a
# backlog is worked through in pieces of one transform size, not one transform of it all.
PIECE_S = 4.0


class Spectra:
    """References' transforms, per transform size, shared by every ear of a soak (the same
    references for each call): computed once, bounded (the soak's full run grew to 9 GB when
    each ear kept one per size it met). Kept divided by the reference's norm, in single
    precision, ready to multiply with what was heard (`Ear._scores`)."""

    def __init__(self, limit: int = 256) -> None:
        self.limit = limit
        self._kept: dict[tuple[str, int, int], np.ndarray] = {}

    def get(self, name: str, ref: np.ndarray, size: int) -> np.ndarray:
        key = (name, len(ref), size)
        found = self._kept.get(key)
        if found is None:
            if len(self._kept) >= self.limit:
                self._kept.clear()
            unit = (ref / (np.linalg.norm(ref) or 1.0)).astype(np.float32)
            found = self._kept[key] = np.conj(np.fft.rfft(unit, size))
        return found

    def __len__(self) -> int:
        return len(self._kept)


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


def lead(samples: np.ndarray) -> int:
    """Where the sound begins: the ear places a prompt there, not at its file's first sample."""
    loud = np.flatnonzero(np.abs(samples) > 0.1 * (np.max(np.abs(samples)) or 1.0))
    return int(loud[0]) if len(loud) else 0


def words(samples: np.ndarray, gap_s: float = 0.15, frame: int = 160) -> int:
    """How many words were said one by one (digits read back): bursts of sound apart by at least
    `gap_s` of quiet. A digit's prompt ends in 0.18 s of silence, and no digit's word holds a
    pause that long; frames a loaded recorder drops shorten the reading (full run 12: 0.17-0.32 s
    over ten digits, by length a digit less) but never merge two words or split one."""
    n = len(samples) // frame
    if n == 0:
        return 0
    rms = np.sqrt((samples[: n * frame].astype(np.float64).reshape(n, frame) ** 2).mean(axis=1))
    loud = rms > 0.1 * np.percentile(rms, 95)
    need, quiet, count = max(1, int(gap_s * RATE / frame)), 10**9, 0
    for is_loud in loud:
        if is_loud:
            count += quiet >= need
            quiet = 0
        else:
            quiet += 1
    return count


def opening(samples: np.ndarray, seconds: float = OPENING_S) -> np.ndarray:
    """The first `seconds` of sound, leading silence skipped (a person answering pauses first)."""
    start = lead(samples)
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
        spectra: Spectra | None = None,
    ) -> None:
        self.path = recording
        self.gone = gone  # the call has ended: nothing more will be heard
        self.refs = dict(references)  # a copy: `forget` drops some for this call only
        self.thresholds = thresholds or {}
        # As heard (16-bit), grown by doubling: a long call costs no copies, and a hundred calls
        # up at once a quarter of what floats would.
        self._buf = np.zeros(RATE * 16, dtype="<i2")
        self._len = 0
        # When the recording was seen to hold how much (monotonic time, samples), each time it
        # grew: what the caller can tell of when a sound was played (`played_by`).
        self.grown: list[tuple[float, int]] = []
        self.spectra = spectra if spectra is not None else Spectra()  # share one between ears of the same references
        self.heard: list[Heard] = []
        self._next: dict[str, int] = dict.fromkeys(references, 0)
        self._offset = HEADER
        self._changed = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._reading = threading.Lock()
        self._waiting = 0  # callers in `wait` now: their ear's reads go first

    @property
    def audio(self) -> np.ndarray:
        """What the caller has heard so far (16-bit samples)."""
        return self._buf[: self._len]

    def _append(self, samples: np.ndarray) -> None:
        if self._len + len(samples) > len(self._buf):
            grown = np.zeros(max(2 * len(self._buf), self._len + len(samples)), dtype="<i2")
            grown[: self._len] = self._buf[: self._len]
            self._buf = grown
        self._buf[self._len : self._len + len(samples)] = samples
        self._len += len(samples)

    def start(self, every_s: float = READ_EVERY_S) -> None:
        self._task = asyncio.ensure_future(self._follow(every_s))

    async def stop(self) -> None:
        """Stop following and read what is left (the recording is complete after the call)."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        await self.read()

    async def _follow(self, every_s: float) -> None:
        while True:
            await self.read()
            if self.gone is not None and self.gone():
                self._changed.set()  # waiters learn that nothing more is coming
            await asyncio.sleep(every_s)

    async def read(self) -> None:
        """`poll`, on the ears' reading threads: the loop goes on meanwhile. An ear whose caller
        is waiting for a sound is read before the others."""
        found = await asyncio.wrap_future(_READER.submit(self._read, urgent=self._waiting > 0))
        if found:
            self._changed.set()

    def poll(self) -> None:
        """Read what the recording gained and look for every reference in it, here and now."""
        if self._read():
            self._changed.set()

    def _read(self) -> bool:
        """What `poll` does, without touching the loop's objects (it runs on a reading thread):
        True when something new was recognised. One read of an ear at a time: a read goes on
        after the task that asked for it was cancelled, and the next may be on the other thread."""
        with self._reading:
            return self._read_new()

    def _read_new(self) -> bool:
        try:
            with self.path.open("rb") as f:
                f.seek(self._offset)
                data = f.read()
        except FileNotFoundError:
            return False  # MixMonitor opens the file with the first frame
        data = data[: len(data) - len(data) % 2]
        if not data:
            return False
        self._offset += len(data)
        self._append(np.frombuffer(data, dtype="<i2"))
        self.grown.append((time.monotonic(), self._len))
        found, before = False, len(self.heard)
        # References of one length have read as far as each other: one transform of what was
        # heard serves them all (the full soak's hundred calls, each with a score of references
        # read seven times a second, stood the soak's loop still when each had its own).
        refs = dict(self.refs)  # as of now: the caller may `forget` some while this reads
        groups: dict[tuple[int, int], list[str]] = {}
        for name, ref in refs.items():
            groups.setdefault((self._next.get(name, 0), len(ref)), []).append(name)
        for (start, m), names in groups.items():
            while self._len - start >= m + SLIP:
                seg = self.audio[start : start + m + SLIP + int(PIECE_S * RATE)].astype(np.float64)
                n = len(seg) - m - SLIP + 1  # positions with room for a slipped last quarter after them
                scores = self._scores(seg, names, refs)
                for name, full in zip(names, scores, strict=True):
                    # Most references score nowhere near a match in most reads: only those that
                    # come near are looked at position by position (`_scan`), which finds the same.
                    if full[:n].max() >= min(NEAR, self.thresholds.get(name, WHOLE)):
                        found |= self._scan(name, refs[name], full, seg, start)
                    self._next[name] = start + n
                start += n
        if found:
            # In the order they were heard, not the order they were looked for: a read that
            # brings two sounds (a busy machine reads late) must not swap them for the caller.
            self.heard[before:] = sorted(self.heard[before:], key=lambda h: h.at_sample)
        return found

    def _correlate(self, seg: np.ndarray, names: list[str], refs: dict[str, np.ndarray]) -> list[np.ndarray]:
        """`_ncc(seg, ref)` for each of `names` (all of one length)."""
        return [np.array(row) for row in self._scores(seg, names, refs)]

    def _scores(self, seg: np.ndarray, names: list[str], refs: dict[str, np.ndarray]) -> np.ndarray:
        """`_ncc(seg, ref)` for each of `names` (all of one length), as rows of one array that the
        next call on this thread overwrites: one forward transform of `seg`, each reference's
        kept (divided by its norm) from the last read, the inverse ones in a single call, and the
        arithmetic in place. A read used to allocate a few megabytes afresh for each step (1.1
        million page faults for 40 calls of 33 s, a quarter of the ears' CPU spent in the kernel)
        and to copy every reference's transform into one array before multiplying them."""
        m = len(refs[names[0]])
        size = block_length(len(seg))
        spectrum = np.fft.rfft(seg.astype(np.float32), size)
        product = scratch("product", (len(names), size // 2 + 1), np.complex64)
        for row, name in zip(product, names, strict=True):
            np.multiply(spectrum, self.spectra.get(name, refs[name], size), out=row)
        corr = np.fft.irfft(product, size, axis=1, out=scratch("corr", (len(names), size), np.float32))
        window, loud = _windows(seg, m)
        scale = np.zeros(len(window))
        np.divide(1.0, np.sqrt(window, where=loud, out=scale), where=loud, out=scale)
        scores = corr[:, : len(seg) - m + 1]
        scores *= scale.astype(np.float32)
        return scores

    def _scan(self, name: str, ref: np.ndarray, full: np.ndarray, seg: np.ndarray, start: int) -> bool:
        """Look for `name` in `seg` (what was heard from sample `start`), scored `full`."""
        m = len(ref)
        n = len(seg) - m - SLIP + 1  # positions with room for a slipped last quarter after them
        threshold = self.thresholds.get(name, WHOLE)
        pieces = self._pieces(seg, ref, full, n)
        score = np.where(full[:n] >= threshold, full[:n], np.where(pieces >= MATCH, pieces, 0.0))
        found = False
        last = max((h.at_sample for h in self.heard if h.name == name), default=-(10**9))
        for i in np.flatnonzero(score > 0):
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
        best within SLIP of its place (or DROP before it after a missed quarter: audio lost on
        the way): heard if the first quarter matches, at most one other (the one the slip or the
        loss fell in) misses, and their mean matches. Voices alike in all but a name
        miss in two quarters or more, so they stay apart. Only near misses are looked at, which are rare and cheap."""
        out = np.zeros(n)
        q = len(ref) // PIECES
        skip_until = -1
        for c in np.flatnonzero(full[:n] >= NEAR):
            if c < skip_until:
                continue
            i = int(c + np.argmax(full[c : c + q]))  # the peak of this run of near misses
            skip_until = i + q
            scores: list[float] = []
            first_at, shift = i, 0
            for j in range(PIECES):
                place = i + j * q + shift
                missed = bool(scores) and scores[-1] < MATCH
                lo = max(0, place - SLIP - (DROP if missed else 0))
                found = _ncc(seg[lo : place + q + SLIP], ref[j * q : (j + 1) * q])
                if not len(found):
                    break
                scores.append(float(found.max()))
                at = lo + int(np.argmax(found))
                if j == 0:
                    first_at = at
                if scores[-1] >= MATCH:
                    shift = at - (i + j * q)  # the pieces after it follow where this one was heard
            # the first quarter must match: a prompt is known by its first words
            if len(scores) == PIECES and scores[0] >= MATCH and sum(x < MATCH for x in scores) <= 1 and first_at < n:
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

    def played_by(self, sample: int) -> float | None:
        """The monotonic time by which the line had certainly played `sample`: a read that found
        the recording holding L samples at time t shows that sample L-1 had been played by t, and
        the samples between it and L-1 took at least their length to play (the line never plays
        faster than real time; its silences, which the carrier leaves out of the recording, only
        make the sample earlier). None: no read has held it yet."""
        bounds = [t - (length - 1 - sample) / RATE for t, length in self.grown if length > sample]
        return min(bounds) if bounds else None

    async def wait(self, names: set[str] | str, *, after: int = 0, timeout: float) -> Heard | None:
        """The first of `names` recognised at index `after` of `heard` or later; None on timeout."""
        self._waiting += 1
        try:
            return await self._wait({names} if isinstance(names, str) else names, after, timeout)
        finally:
            self._waiting -= 1

    async def _wait(self, wanted: set[str], after: int, timeout: float) -> Heard | None:
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
                await self.read()  # the last of the recording, then no more waiting for what cannot come
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
    # Circular, of a length no shorter than `seg`: the positions kept never wrap around.
    size = block_length(len(seg))
    corr = np.fft.irfft(np.fft.rfft(seg, size) * np.conj(np.fft.rfft(ref, size)), size)[: len(seg) - m + 1]
    window, loud = _windows(seg, m)
    return np.where(loud, corr / (np.sqrt(np.maximum(window, 1e-9)) * np.linalg.norm(ref)), 0.0)


def _windows(seg: np.ndarray, m: int) -> tuple[np.ndarray, np.ndarray]:
    """The energy of `seg` in each window of `m` samples, and whether it is above near silence."""
    energy = np.concatenate(([0.0], np.cumsum(seg * seg)))
    window = energy[m:] - energy[:-m]
    return window, window > (FLOOR_RMS**2) * m


@functools.cache
def block_length(n: int) -> int:
    """The transform size for `n` samples: the smallest 2^k, 3 * 2^k or 25 * 2^k not below it.
    Few sizes (three an octave), so the references' transforms are reused from read to read, each
    fast. The third fits what a read usually holds: the carrier's 2.048 s with the opening and
    slip before it, 24,704 samples, is 25,600, where the next power of two (32,768) costs every
    reference's transform at every read a quarter more."""
    size = 1 << max(0, (n - 1).bit_length())
    return min(s for s in (size, size * 3 // 4, size * 25 // 32) if s >= n)
