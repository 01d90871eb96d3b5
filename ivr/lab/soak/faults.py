"""The faults a soak injects, on a seeded schedule, and the soak's named profiles.

Faults never overlap: each is undone and the line given `min_gap_s` to recover before the next,
so a violation found afterwards points at one fault, not at a pile-up. None falls in the warm-up
(the baseline of the resource curves is taken there) or in the final drain (every call must be
able to end before the checker counts), nor across the clock's jump between service days.
"""

from __future__ import annotations

import math
import random
from collections.abc import Mapping, Sequence
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field, model_validator


class FaultKind(StrEnum):
    ENGINE_KILL = "engine_kill"  # kill -9 of the active engine: the standby takes over
    ENGINE_FREEZE = "engine_freeze"  # SIGSTOP past the lease, then SIGCONT: it must fence itself
    ASTERISK_RESTART = "asterisk_restart"  # the managed Asterisk restarted
    POSTGRES_STOP = "postgres_stop"  # PostgreSQL stopped, then started again
    POSTGRES_LINK_CUT = "postgres_link_cut"  # the engine's connection to PostgreSQL cut (the server runs on)
    DISK_FULL = "disk_full"  # the data disk full
    SMTP_DOWN = "smtp_down"  # the SMTP server unreachable
    ARI_SOCKET_CUT = "ari_socket_cut"  # the ARI event socket cut


# How long each fault lasts before it is undone (the killed engine restarted as the new standby,
# Asterisk given time to come back, PostgreSQL stopped for the 60 s of issue 24, a freeze three
# times the default lease of 5 s).
DURATIONS: dict[FaultKind, float] = {
    FaultKind.ENGINE_KILL: 30.0,
    FaultKind.ENGINE_FREEZE: 15.0,
    FaultKind.ASTERISK_RESTART: 20.0,
    FaultKind.POSTGRES_STOP: 60.0,
    FaultKind.POSTGRES_LINK_CUT: 60.0,
    FaultKind.DISK_FULL: 90.0,
    FaultKind.SMTP_DOWN: 300.0,
    FaultKind.ARI_SOCKET_CUT: 5.0,
}


class Fault(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    kind: FaultKind
    at_s: float = Field(ge=0, description="seconds after the soak's start")
    duration_s: float = Field(ge=0, description="until it is undone")

    @property
    def end_s(self) -> float:
        return self.at_s + self.duration_s


def schedule(
    seed: int,
    duration_s: float,
    kinds: Sequence[FaultKind],
    *,
    count: int | None = None,
    every_s: float | None = None,
    min_gap_s: float,
    warmup_s: float,
    drain_s: float,
    durations: Mapping[FaultKind, float] | None = None,
    avoid: Sequence[tuple[float, float]] = (),
) -> list[Fault]:
    """`count` faults (or one per `every_s`), each kind as often as the others, at random moments
    in [warmup_s, duration_s - drain_s], at least `min_gap_s` apart, none touching an `avoid`
    window. Raises ValueError when they cannot fit."""
    if (count is None) == (every_s is None):
        raise ValueError("give either count or every_s")
    if not kinds:
        raise ValueError("kinds: at least one fault kind")
    start, end = warmup_s, duration_s - drain_s
    if end <= start:
        raise ValueError(f"no room for faults: warm-up {warmup_s} s and drain {drain_s} s in {duration_s} s")
    if count is None:
        assert every_s is not None
        if every_s <= 0:
            raise ValueError("every_s must be positive")
        count = math.floor((end - start) / every_s)
    if count < 0:
        raise ValueError("count must not be negative")
    lasting = {**DURATIONS, **(durations or {})}
    rng = random.Random(f"faults:{seed}")
    order = [kinds[i % len(kinds)] for i in range(count)]
    rng.shuffle(order)
    segments = _free(start, end, avoid, min_gap_s)
    placed: list[list[FaultKind]] = [[] for _ in segments]
    for kind in order:  # each fault to a stretch with room for it, the roomier the likelier
        rooms = [
            _room(seg, placed[i], lasting, min_gap_s) - _cost(placed[i], kind, lasting, min_gap_s)
            for i, seg in enumerate(segments)
        ]
        fits = [i for i, room in enumerate(rooms) if room >= 0]
        if not fits:
            raise ValueError(f"{count} faults {min_gap_s} s apart do not fit in {end - start:.0f} s")
        chosen = rng.choices(fits, weights=[rooms[i] + 1 for i in fits])[0]
        placed[chosen].append(kind)
    faults: list[Fault] = []
    for (low, high), group in zip(segments, placed, strict=True):
        slack = _room((low, high), group, lasting, min_gap_s)
        offsets = sorted(math.floor(rng.uniform(0, slack)) for _ in group)
        shift = low
        for offset, kind in zip(offsets, group, strict=True):
            faults.append(Fault(kind=kind, at_s=float(shift + offset), duration_s=lasting[kind]))
            shift += lasting[kind] + min_gap_s
    return sorted(faults, key=lambda f: f.at_s)


def _free(start: float, end: float, avoid: Sequence[tuple[float, float]], gap: float) -> list[tuple[float, float]]:
    """[start, end] without the avoided windows, each widened by the recovery gap."""
    segments, low = [], start
    for a, b in sorted(avoid):
        if a - gap > low:
            segments.append((low, min(end, a - gap)))
        low = max(low, b + gap)
        if low >= end:
            break
    if low < end:
        segments.append((low, end))
    return [(a, b) for a, b in segments if b > a]


def _room(
    segment: tuple[float, float], group: list[FaultKind], lasting: Mapping[FaultKind, float], gap: float
) -> float:
    return (segment[1] - segment[0]) - sum(lasting[k] for k in group) - max(0, len(group) - 1) * gap


def _cost(group: list[FaultKind], kind: FaultKind, lasting: Mapping[FaultKind, float], gap: float) -> float:
    return lasting[kind] + (gap if group else 0)


class Profile(BaseModel):
    """A named soak: how long, how busy, which faults, how many service days."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str
    duration_s: float = Field(gt=0)
    calls_per_min: float = Field(gt=0)
    min_calls: int = Field(0, ge=0, description="the plan places at least this many calls")
    warmup_s: float = Field(ge=0, description="no fault before this; the resource baseline is taken here")
    drain_s: float = Field(ge=0, description="no new call and no fault in the last this many seconds")
    faults: list[FaultKind]
    fault_count: int = Field(ge=0)
    fault_gap_s: float = Field(ge=0, description="the line's time to recover between two faults")
    days: int = Field(1, ge=1)
    operators: int = Field(4, ge=1, description="simulated operators logged in")
    talk_s: tuple[float, float] = Field(
        (20.0, 150.0), description="an operator's talk, shortest and longest (a short soak talks less)"
    )

    @model_validator(mode="after")
    def _valid(self) -> Profile:
        if self.warmup_s + self.drain_s >= self.duration_s:
            raise ValueError("warmup_s + drain_s must leave time for the soak")
        return self

    @property
    def calls_until_s(self) -> float:
        return self.duration_s - self.drain_s


PROFILES: dict[str, Profile] = {
    # The suite's soak (issue 24): at least 60 calls, one engine kill, one Asterisk restart.
    "short": Profile(
        name="short",
        duration_s=180,
        calls_per_min=36,
        min_calls=60,
        warmup_s=30,
        drain_s=40,
        faults=[FaultKind.ENGINE_KILL, FaultKind.ASTERISK_RESTART],
        fault_count=2,
        fault_gap_s=20,
        days=1,
        operators=5,  # with the runner's short wrap-up, most callers for an operator reach one
        talk_s=(8.0, 20.0),  # long enough for a hold or a consultation, short enough to serve many
    ),
    # Every kind of fault once, two service days, in 25 minutes: the shake-down before a full run.
    "medium": Profile(
        name="medium",
        duration_s=1500,
        calls_per_min=30,
        min_calls=500,
        warmup_s=60,
        drain_s=240,
        faults=list(FaultKind),
        fault_count=len(FaultKind),
        fault_gap_s=45,
        days=2,
        operators=5,
        talk_s=(10.0, 45.0),
    ),
    # The full run: two hours, at least 6,000 calls and 12 faults of every kind, six service days.
    "full": Profile(
        name="full",
        duration_s=7200,
        calls_per_min=60,
        min_calls=6000,
        warmup_s=300,
        drain_s=600,
        faults=list(FaultKind),
        fault_count=16,
        fault_gap_s=180,
        days=6,
        operators=8,
    ),
}


TAILORED = ("duration_s", "calls_per_min", "fault_count", "days", "operators")


def tailored(profile: Profile, **changes: float | int | None) -> Profile:
    """A named profile with some of its figures changed (a longer run, a busier line, more
    faults); the result is checked like a profile written out, so a nonsense mix is refused
    naming the field. The drain and warm-up stay, the least calls scale with the duration."""
    given = {k: v for k, v in changes.items() if v is not None}
    unknown = set(given) - set(TAILORED)
    if unknown:
        raise ValueError(f"not a profile figure: {', '.join(sorted(unknown))}")
    if not given:
        return profile
    data = profile.model_dump() | given
    if "duration_s" in given or "calls_per_min" in given:  # "at least" follows what was asked for
        data["min_calls"] = 0
    return Profile.model_validate(data | {"name": f"{profile.name}*"})
