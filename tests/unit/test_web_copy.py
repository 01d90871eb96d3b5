"""The browser copy of a message: a failed encoding (a full disk) leaves no half file behind (medium
run 8: a `.part.mp3` without a row was left by the disk-full fault)."""

from __future__ import annotations

import wave
from pathlib import Path
from typing import Any

import pytest
from pydub import AudioSegment

from ivr.audio import web_copy


def _wav(path: Path) -> Path:
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(8000)
        w.writeframes(b"\x00\x10" * 8000)
    return path


def test_a_failed_encoding_leaves_no_half_copy(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def export(self: AudioSegment, out_f: str, **_: Any) -> None:
        Path(out_f).write_bytes(b"ID3 half")  # what ffmpeg wrote before the disk filled
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(AudioSegment, "export", export)
    source = _wav(tmp_path / "vm-1.wav")
    with pytest.raises(OSError, match="No space left"):
        web_copy(source)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["vm-1.wav"]
