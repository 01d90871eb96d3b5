"""The `voicemail:` and `transcription:` sections of nul.yaml."""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, HttpUrl


class VoicemailSettings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    dir: Path | None = Field(None, description="where messages are kept (default: data_dir/voicemail)")
    max_message_s: int = Field(120, ge=10, le=600, description="longest message")
    max_silence_s: int = Field(6, ge=0, le=60, description="this much silence ends the message (0: never)")
    min_message_s: float = Field(1.5, ge=0, description="shorter than this, with no speech, is an empty message")
    min_speech_s: float = Field(0.4, ge=0, description="less speech than this makes a message empty")
    key_timeout_s: float = Field(6.0, gt=0, le=30, description="waiting for a key when confirming the number")
    number_min_digits: int = Field(6, ge=3, le=20)
    number_max_digits: int = Field(15, ge=3, le=20)
    attempts: int = Field(3, ge=1, le=5, description="tries to get a callback number right")
    web_format: str = Field("mp3", pattern=r"^(mp3|ogg)$", description="compressed copy for the browser player")


class ModelSource(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    url: HttpUrl
    sha256: str | None = Field(None, pattern=r"^[0-9a-f]{64}$", description="checked when given")
    folder: str = Field(description="the model folder inside the zip")


DEFAULT_MODELS = {
    "it-small": ModelSource(
        url=HttpUrl("https://alphacephei.com/vosk/models/vosk-model-small-it-0.22.zip"),
        folder="vosk-model-small-it-0.22",
    ),
}


class TranscriptionSettings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    model_path: Path | None = Field(None, description="the Vosk model folder; unset: messages wait as pending")
    models_dir: Path | None = Field(None, description="where `ivr models download` unpacks (default: data_dir/models)")
    workers: int = Field(1, ge=1, le=16, description="transcriptions at once (one core each)")
    deterministic: bool = Field(True, description="dither off, so the same audio gives the same text")
    retry_every_s: float = Field(60.0, ge=1, description="how often pending transcriptions are retried")
    models: dict[str, ModelSource] = Field(default_factory=lambda: dict(DEFAULT_MODELS))
