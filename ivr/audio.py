"""Small audio measurements: how long, how loud, how much of it is speech (no numpy needed)."""

from __future__ import annotations

import array
import math
import wave
from pathlib import Path


def pcm16(path: Path) -> tuple[array.array[int], int]:
    """Samples and rate of a 16-bit PCM mono WAV."""
    with wave.open(str(path), "rb") as wav:
        if wav.getsampwidth() != 2:
            raise ValueError(f"{path}: expected 16-bit PCM, got {8 * wav.getsampwidth()}-bit")
        frames = wav.readframes(wav.getnframes())
        rate = wav.getframerate()
        channels = wav.getnchannels()
    samples = array.array("h")
    samples.frombytes(frames)
    if channels > 1:
        samples = samples[::channels]
    return samples, rate


def rms_dbfs(path: Path) -> float:
    """Loudness of the whole file in dBFS; digital silence is -inf."""
    samples, _ = pcm16(path)
    if not samples:
        return float("-inf")
    power = sum(s * s for s in samples) / len(samples)
    return 10 * math.log10(power / 32768**2) if power > 0 else float("-inf")


def duration_s(path: Path) -> float:
    samples, rate = pcm16(path)
    return len(samples) / rate


def voiced_seconds(path: Path, *, window_ms: int = 20, threshold_dbfs: float = -45.0) -> float:
    """How many seconds of the file are louder than `threshold_dbfs` (speech, tones), in windows."""
    samples, rate = pcm16(path)
    size = max(1, rate * window_ms // 1000)
    voiced = 0
    limit = (32768 * 10 ** (threshold_dbfs / 20)) ** 2
    for start in range(0, len(samples) - size + 1, size):
        chunk = samples[start : start + size]
        if sum(s * s for s in chunk) / size > limit:
            voiced += 1
    return voiced * size / rate


def web_copy(source: Path, fmt: str = "mp3") -> Path:
    """A compressed copy of a WAV that every browser plays (pydub, with ffmpeg doing the encoding)."""
    from pydub import AudioSegment

    target = source.with_suffix(f".{fmt}")
    tmp = target.with_suffix(f".part.{fmt}")
    sound = AudioSegment.from_wav(str(source))
    options = {"bitrate": "32k"} if fmt == "mp3" else {"codec": "libopus"}
    try:
        sound.export(str(tmp), format=fmt, **options)
    except BaseException:
        tmp.unlink(missing_ok=True)  # a full disk keeps no half copy (medium run 8 found one)
        raise
    tmp.replace(target)
    return target


def for_recogniser(source: Path, rate: int) -> bytes:
    """16-bit mono PCM at the recogniser's rate, whatever format Asterisk recorded."""
    from pydub import AudioSegment

    sound = AudioSegment.from_file(str(source))
    sound = sound.set_channels(1).set_sample_width(2).set_frame_rate(rate)
    return bytes(sound.raw_data)
