"""Transcription with Vosk, offline: the model is loaded once, by path, in a worker thread.

Kaldi's dither makes the same audio give slightly different text from run to run; with
`deterministic` the model is used through an overlay folder whose feature config turns dither
off, so a transcript can be reproduced (and tested). The model itself is never modified.
"""

from __future__ import annotations

import hashlib
import json
import logging
import shutil
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ivr.audio import for_recogniser

log = logging.getLogger(__name__)
CHUNK = 8000  # bytes fed to the recogniser at a time (0.5 s at 8 kHz)


class TranscriptionError(Exception):
    """The model is missing or broken, or the audio cannot be read: try again later."""


@dataclass(frozen=True)
class Transcript:
    text: str
    words: list[dict[str, Any]]  # {"word", "start", "end", "conf"}
    audio_s: float


class VoskTranscriber:
    def __init__(
        self,
        model_path: Path | None,
        *,
        workers: int = 1,
        deterministic: bool = True,
        overlay_root: Path | None = None,
        sample_rate: int = 8000,
    ) -> None:
        self.model_path = model_path
        self.deterministic = deterministic
        self.overlay_root = overlay_root
        self.sample_rate = sample_rate
        self.pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="vosk")
        self._model: Any = None
        self._lock = threading.Lock()
        self.load_error: str | None = None

    @property
    def configured(self) -> bool:
        """A model is named: transcripts can be tried (whether it loads is the first try's to say)."""
        return self.model_path is not None

    def close(self) -> None:
        self.pool.shutdown(wait=True, cancel_futures=True)

    def _load(self) -> Any:
        with self._lock:
            if self._model is not None:
                return self._model
            if self.model_path is None:
                raise TranscriptionError("no model configured (transcription.model_path)")
            if not (self.model_path / "am").is_dir() or not (self.model_path / "conf").is_dir():
                raise TranscriptionError(f"{self.model_path}: not a Vosk model folder (no am/ or conf/)")
            import vosk

            vosk.SetLogLevel(-1)
            path = self._overlay(self.model_path) if self.deterministic else self.model_path
            try:
                self._model = vosk.Model(str(path))  # by path: never the downloading constructor
            except Exception as exc:  # vosk raises bare Exception on a broken model
                raise TranscriptionError(f"{self.model_path}: the model does not load ({exc})") from exc
            log.info("transcription model loaded from %s", self.model_path)
            self.load_error = None
            return self._model

    def _overlay(self, model: Path) -> Path:
        """The model folder seen through links, with dither off in its MFCC config."""
        root = self.overlay_root or model.parent
        digest = hashlib.sha256(str(model.resolve()).encode()).hexdigest()[:10]
        overlay = root / f".overlay-{model.name}-{digest}"
        if (overlay / "conf" / "mfcc.conf").exists():
            return overlay
        tmp = overlay.with_name(overlay.name + ".tmp")
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
        for item in model.iterdir():
            if item.name != "conf":
                (tmp / item.name).symlink_to(item.resolve())
        (tmp / "conf").mkdir()
        for item in (model / "conf").iterdir():
            if item.name != "mfcc.conf":
                shutil.copy(item, tmp / "conf" / item.name)
        mfcc = (model / "conf" / "mfcc.conf").read_text() if (model / "conf" / "mfcc.conf").exists() else ""
        lines = [line for line in mfcc.splitlines() if not line.startswith("--dither")]
        (tmp / "conf" / "mfcc.conf").write_text("\n".join([*lines, "--dither=0.0", ""]))
        shutil.rmtree(overlay, ignore_errors=True)
        tmp.rename(overlay)
        return overlay

    def transcribe(self, audio: Path) -> Transcript:
        """Blocking: run it in `self.pool`."""
        try:
            model = self._load()
        except TranscriptionError as exc:
            self.load_error = str(exc)
            raise
        import vosk

        try:
            pcm = for_recogniser(audio, self.sample_rate)
        except Exception as exc:  # pydub/ffmpeg report unreadable audio with many types
            raise TranscriptionError(f"{audio}: cannot be read ({exc})") from exc
        recogniser = vosk.KaldiRecognizer(model, self.sample_rate)
        recogniser.SetWords(True)
        words: list[dict[str, Any]] = []
        texts: list[str] = []
        for start in range(0, len(pcm), CHUNK):
            if recogniser.AcceptWaveform(pcm[start : start + CHUNK]):
                self._collect(json.loads(recogniser.Result()), words, texts)
        self._collect(json.loads(recogniser.FinalResult()), words, texts)
        return Transcript(" ".join(t for t in texts if t), words, len(pcm) / (2 * self.sample_rate))

    @staticmethod
    def _collect(result: dict[str, Any], words: list[dict[str, Any]], texts: list[str]) -> None:
        texts.append(str(result.get("text", "")).strip())
        for word in result.get("result", []):
            words.append(
                {
                    "word": word["word"],
                    "start": round(float(word["start"]), 2),
                    "end": round(float(word["end"]), 2),
                    "conf": round(float(word["conf"]), 3),
                }
            )
