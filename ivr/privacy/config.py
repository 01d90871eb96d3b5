"""The `retention:` section of nul.yaml: how long each kind of personal data is kept.

The privacy law (D.lgs. 196/2003 and the GDPR's storage limitation) asks for a period per
purpose, so each kind of data has its own: a quality recording serves a campaign that lasts
weeks, a caller's number serves callbacks and complaints for about a year, survey answers serve
year-on-year comparison. Only personal data is purged; the statistics' columns stay.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, model_validator


class RetentionSettings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    enabled: bool = Field(True, description="run the daily purge in the engine (`ivr privacy purge` works either way)")
    hour: int = Field(
        3, ge=0, le=23, description="local hour of the daily purge (service time zone), when calls are few"
    )
    recordings_days: int = Field(
        90, ge=1, le=3650, description="call recordings of quality campaigns: files and their rows"
    )
    voicemail_audio_days: int = Field(
        180, ge=1, le=3650, description="voicemail audio files, the browser copy included (the message row stays)"
    )
    transcripts_days: int = Field(180, ge=1, le=3650, description="voicemail transcripts: the text and the timed words")
    caller_data_days: int = Field(
        365,
        ge=1,
        le=3650,
        description="who called or wrote: caller id and name, callback number, web request identity and text, notes",
    )
    survey_answers_days: int = Field(
        730,
        ge=1,
        le=3650,
        description="survey answers are folded into anonymous counts per day, topic, operator and question",
    )
    spool_audio_days: int = Field(
        7,
        ge=1,
        le=365,
        description="audio left in Asterisk's spool (recording dir) that no ticket still needs; at least a day, "
        "far beyond any call, so a recording in progress or waiting to be fetched is never touched",
    )
    sessions_days: int = Field(30, ge=1, le=3650, description="console sessions (address, times) after their last use")
    operator_time_days: int = Field(
        365,
        ge=1,
        le=3650,
        description="operators' state history (logged in, talking, paused and why): an employee's personal "
        "data, kept for the time reports only",
    )
    audit_days: int = Field(
        730,
        ge=1,
        le=3650,
        description="the access audit (who listened, called, purged): a legal record, kept at least as long "
        "as any personal data it proves access to",
    )
    asterisk_logs_days: int = Field(
        30, ge=1, le=3650, description="Asterisk's rotated log files (rotated at each daily purge)"
    )
    batch: int = Field(500, ge=1, le=10_000, description="tickets handled per transaction, so calls never wait long")
    stray_audio_grace_s: float = Field(
        600.0,
        ge=10.0,
        le=86_400.0,
        description="audio files no row names are looked at once this old (seconds): a second copy of a "
        "recording another row names, or a half-written file, is removed; any other is kept and logged",
    )
    stray_audio_every_s: float = Field(600.0, ge=10.0, le=86_400.0, description="how often the engine looks (seconds)")

    @model_validator(mode="after")
    def _nothing_outlives_the_caller_data(self) -> RetentionSettings:
        # A voice or a transcript identifies the caller as much as the number does: keeping one
        # longer than the caller data would defeat the caller-data period.
        longer = [
            name
            for name in ("recordings_days", "voicemail_audio_days", "transcripts_days")
            if getattr(self, name) > self.caller_data_days
        ]
        if longer:
            raise ValueError(f"{', '.join(longer)} must not exceed caller_data_days ({self.caller_data_days})")
        # Whoever listened to, called or purged a caller's data must stay provable while that data
        # exists: the caller data's period is the longest of the kinds the audit records access to.
        if self.audit_days < self.caller_data_days:
            raise ValueError(
                f"audit_days ({self.audit_days}) must not be shorter than caller_data_days ({self.caller_data_days})"
            )
        return self
