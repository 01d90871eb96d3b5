"""Is the line open at a given moment, why not, and when does it open next.

All reasoning is in the service's local wall time (Europe/Rome), so "09:00-18:00" means nine in
the morning in Rome in January and in July alike; the conversion to UTC goes through zoneinfo.
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo

import holidays

from ivr.hours.config import DAYS, HoursSettings

DAY_NAMES_IT = ("lunedì", "martedì", "mercoledì", "giovedì", "venerdì", "sabato", "domenica")


class LineState(enum.StrEnum):
    OPEN = "open"
    OUTSIDE_HOURS = "outside_hours"
    HOLIDAY = "holiday"
    CLOSURE = "closure"


@dataclass(frozen=True)
class Closure:
    """A closure in effect for some span, from config or set by an administrator."""

    id: str
    start: datetime  # aware
    end: datetime | None  # aware; None = until switched off
    reason: str
    prompt: str | None = None  # prompt name to play, if it has its own
    media: str | None = None  # or a ready media URI (closures set at run time)
    source: str = "config"

    def covers(self, moment: datetime) -> bool:
        return self.start <= moment and (self.end is None or moment < self.end)


@dataclass(frozen=True)
class LineStatus:
    at: datetime
    state: LineState
    holiday: str | None = None
    closure: Closure | None = None
    next_opening: datetime | None = None

    @property
    def open(self) -> bool:
        return self.state is LineState.OPEN

    def describe(self) -> str:
        local = self.at
        if self.open:
            return f"open at {local:%a %Y-%m-%d %H:%M %Z}"
        why = {
            LineState.OUTSIDE_HOURS: "outside office hours",
            LineState.HOLIDAY: f"public holiday: {self.holiday}",
            LineState.CLOSURE: f"closure {self.closure.id if self.closure else ''}: "
            f"{self.closure.reason if self.closure else ''}",
        }[self.state]
        nxt = f"{self.next_opening:%a %Y-%m-%d %H:%M %Z}" if self.next_opening else "not scheduled"
        return f"closed at {local:%a %Y-%m-%d %H:%M %Z} ({why}); next opening {nxt}"


class LineCalendar:
    def __init__(self, hours: HoursSettings, tz: ZoneInfo) -> None:
        self.hours = hours
        self.tz = tz
        self._config_closures = [
            Closure(
                id=c.id,
                start=c.bounds()[0].replace(tzinfo=tz),
                end=c.bounds()[1].replace(tzinfo=tz),
                reason=c.reason,
                prompt=c.prompt_name,
            )
            for c in hours.closures
        ]

    def holiday(self, day: date) -> str | None:
        if not self.hours.holidays.closed_on_holidays:
            return None
        names = _holiday_names(self.hours.holidays.country, self.hours.holidays.subdivision, day.year)
        return names.get(day)

    def status(self, at: datetime, extra_closures: Sequence[Closure] = (), *, with_next: bool = True) -> LineStatus:
        local = at.astimezone(self.tz)
        closures = [*extra_closures, *self._config_closures]
        closure = next((c for c in closures if c.covers(local)), None)
        holiday = self.holiday(local.date())
        if closure is not None:
            state = LineState.CLOSURE
        elif holiday is not None:
            state = LineState.HOLIDAY
        elif self._in_hours(local):
            state = LineState.OPEN
        else:
            state = LineState.OUTSIDE_HOURS
        next_opening = None
        if state is not LineState.OPEN and with_next:
            next_opening = self.next_opening(local, closures)
        return LineStatus(local, state, holiday, closure, next_opening)

    def _in_hours(self, local: datetime) -> bool:
        clock = local.timetz().replace(tzinfo=None)
        return any(start <= clock < end for start, end in self.hours.weekly.ranges(local.weekday()))

    def next_opening(
        self, after: datetime, closures: Sequence[Closure] = (), horizon_days: int = 400
    ) -> datetime | None:
        """The first moment after `after` when the line is open (None if not within the horizon)."""
        local = after.astimezone(self.tz)
        candidates: set[datetime] = set()
        for offset in range(horizon_days + 1):
            day = local.date() + timedelta(days=offset)
            for start, _end in self.hours.weekly.ranges(day.weekday()):
                candidates.add(_local(day, start, self.tz))
        candidates.update(c.end for c in closures if c.end is not None)
        for moment in sorted(m for m in candidates if m > local):
            if self.status(moment, [c for c in closures if c.source != "config"], with_next=False).open:
                return moment.astimezone(self.tz)
        return None

    def describe_week(self) -> str:
        """The weekly hours in Italian words, e.g. 'dal lunedì al venerdì, dalle 9 alle 18'."""
        groups: list[tuple[list[int], list[tuple[time, time]]]] = []
        for weekday in range(7):
            ranges = self.hours.weekly.ranges(weekday)
            if not ranges:
                continue
            if groups and groups[-1][1] == ranges and groups[-1][0][-1] == weekday - 1:
                groups[-1][0].append(weekday)
            else:
                groups.append(([weekday], ranges))
        if not groups:
            return "in nessun giorno della settimana"
        parts = []
        for days, ranges in groups:
            if len(days) == 1:
                when = f"il {DAY_NAMES_IT[days[0]]}"
            else:
                when = f"dal {DAY_NAMES_IT[days[0]]} al {DAY_NAMES_IT[days[-1]]}"
            spans = " e ".join(f"dalle {_spoken(a)} alle {_spoken(b)}" for a, b in ranges)
            parts.append(f"{when}, {spans}")
        return "; ".join(parts)


def _local(day: date, clock: time, tz: ZoneInfo) -> datetime:
    return datetime.combine(day, clock, tzinfo=tz)


def _spoken(moment: time) -> str:
    if moment >= time(23, 59, 59):
        return "24"
    return f"{moment.hour}" if moment.minute == 0 else f"{moment.hour} e {moment.minute}"


@lru_cache(maxsize=64)
def _holiday_names(country: str, subdivision: str | None, year: int) -> dict[date, str]:
    calendar = holidays.country_holidays(country, subdiv=subdivision, years=year, language="it_IT")
    return {day: str(name) for day, name in calendar.items()}


__all__ = ["DAYS", "Closure", "LineCalendar", "LineState", "LineStatus"]
