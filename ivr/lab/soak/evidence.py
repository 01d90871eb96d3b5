"""What the soak hands the checker: the carrier's journal, where the store and the audio are, the
settings the promises are measured against, and the side records the soak kept (the SMTP sink's
mails, Asterisk after draining, resource samples, the published figures).

Optional inputs are None when the run did not collect them; the check that needs one says so in
its notes instead of passing silently as if it had looked.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from pydantic import BaseModel, ConfigDict, Field

from ivr.dialout.config import DialoutSettings
from ivr.lab.soak.action_journal import ActionRecord
from ivr.lab.soak.journal import CallRecord

ROME = ZoneInfo("Europe/Rome")
SERIES = ("rss_bytes", "open_files", "db_connections", "asyncio_tasks")


class SinkMail(BaseModel):
    """One mail the SMTP sink received."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    recipients: list[str]
    message_id: str
    subject: str
    ticket: int | None = Field(None, description="the ticket the mail is about, as the sink read it")


class AsteriskState(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    channels: int = Field(ge=0)
    bridges: int = Field(ge=0)


class ResourceSample(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    at: datetime
    rss_bytes: float
    open_files: float
    db_connections: float
    asyncio_tasks: float
    process: float | None = None  # the engine process's start time: series are judged per process
    # The load at that moment (the engine's own calls in progress) and which coroutines its tasks
    # ran (the commonest few, ivr.ops.metrics): a floor compared at quiet moments, and what grew
    # named. None and empty from an engine that did not say.
    calls_in_progress: float | None = None
    tasks_by_coroutine: dict[str, float] = Field(default_factory=dict)
    # The live alerts the engine showed at that moment (kind -> the worst level in force), with
    # the engines' own time of the sample, so they are judged against the store (check 31).
    engine_at: datetime | None = None
    alerts_known: bool = False  # the engine exposed `nul_alerts` (its watch is on)
    alerts: dict[str, str] = Field(default_factory=dict)


class Fault(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    at: datetime
    name: str
    detail: str = ""


@dataclass(frozen=True)
class ResourceWindows:
    """How the resource curves are judged: ignore `warmup_s` after the first sample, then compare
    the mean of the last `window_s` with the first `window_s`; a run too short for two windows is
    cut in thirds (first third against last third). A fall is not a leak: only growth counts.
    A curve shorter than `min_span_s` after its warm-up says nothing about a leak (a three-minute
    soak ramps up, then drains): it is noted, not judged."""

    warmup_s: float = 600.0
    window_s: float = 3600.0
    tolerance: float = 0.10
    min_span_s: float = 600.0


@dataclass
class SoakEvidence:
    journal: list[CallRecord]
    db_url: str
    voicemail_dir: Path
    recordings_dir: Path
    daily_cap: int
    ended_at: datetime  # the end of the run: commitments due before it must be met or flagged
    dialout: DialoutSettings = field(default_factory=DialoutSettings)
    tz: ZoneInfo = ROME
    mails: list[SinkMail] | None = None
    asterisk: AsteriskState | None = None
    outboxes: list[Path] = field(default_factory=list)  # every engine's: none may keep a write
    resources: list[ResourceSample] = field(default_factory=list)
    windows: ResourceWindows = field(default_factory=ResourceWindows)
    published: dict[str, dict[str, Any]] = field(default_factory=dict)  # source -> `ivr stats` JSON document
    faults: list[Fault] = field(default_factory=list)
    latency: dict[str, list[float]] = field(default_factory=dict)  # step -> seconds
    order_slack_s: float = 1.0  # answer-order inversions closer than this are clock noise, not unfairness
    callback_dialogue_s: float = 120.0  # the longest callback-number dialogue (the place is held meanwhile)
    alert_wait_s: float | None = None  # the line's `alerts.longest_wait_s.amber` (None: not watched)
    actions: list[ActionRecord] | None = None  # the driver's journal of non-call actions (ivr.lab.soak.driver)
