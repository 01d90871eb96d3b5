"""Configuration of opening hours, closures and quality campaigns (sections of nul.yaml)."""

from __future__ import annotations

import datetime as dt
import re
from datetime import date, datetime, time, timedelta
from typing import Annotated

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, model_validator

DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_RANGE = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)-([01]\d|2[0-4]):([0-5]\d)$")


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


def _parse_range(value: object) -> tuple[time, time]:
    if isinstance(value, tuple) and len(value) == 2 and all(isinstance(v, time) for v in value):
        return value[0], value[1]
    if not isinstance(value, str):
        raise ValueError("write a range as HH:MM-HH:MM, e.g. 09:00-18:00")
    match = _RANGE.match(value.replace(" ", ""))
    if not match:
        raise ValueError(f"{value!r} is not a range like 09:00-18:00")
    h1, m1, h2, m2 = (int(g) for g in match.groups())
    start = time(h1, m1)
    end = time(23, 59, 59, 999999) if (h2, m2) == (24, 0) else time(h2, m2)
    if end <= start:
        raise ValueError(f"{value!r}: the range must end after it starts (same day)")
    return start, end


TimeRange = Annotated[tuple[time, time], BeforeValidator(_parse_range)]
WORKDAY = (time(9), time(18))


class WeeklyHours(_Section):
    """Opening ranges per weekday, in the service's local time (DST handled); [] = closed."""

    mon: list[TimeRange] = Field(default_factory=lambda: [WORKDAY])
    tue: list[TimeRange] = Field(default_factory=lambda: [WORKDAY])
    wed: list[TimeRange] = Field(default_factory=lambda: [WORKDAY])
    thu: list[TimeRange] = Field(default_factory=lambda: [WORKDAY])
    fri: list[TimeRange] = Field(default_factory=lambda: [WORKDAY])
    sat: list[TimeRange] = Field(default_factory=list)
    sun: list[TimeRange] = Field(default_factory=list)

    def ranges(self, weekday: int) -> list[tuple[time, time]]:
        ranges: list[tuple[time, time]] = getattr(self, DAYS[weekday])
        return sorted(ranges)


class HolidaySettings(_Section):
    country: str = Field("IT", description="holiday calendar (python-holidays country code)")
    subdivision: str | None = Field(None, description="province code for the patron saint's day, e.g. RM")
    closed_on_holidays: bool = Field(True, description="the charter: 'esclusi i giorni festivi'")


class ClosureConfig(_Section):
    """An extra closure: one day (`date`), or a range (`from`/`to`, dates or local date-times)."""

    id: str = Field(pattern=r"^[a-z0-9][a-z0-9_-]*$", description="short name, unique")
    date: dt.date | None = Field(None, description="a single day closed")
    start: dt.date | dt.datetime | None = Field(None, alias="from", description="first day (or local date-time)")
    end: dt.date | dt.datetime | None = Field(None, alias="to", description="last day, inclusive (or end date-time)")
    reason: str = Field(min_length=1, description="recorded on the ticket and shown by `ivr hours`")
    message: str | None = Field(None, description="what callers hear (synthesised at setup)")
    prompt: str | None = Field(None, description="or: the name of a prompt to play")

    @model_validator(mode="after")
    def _one_form(self) -> ClosureConfig:
        if (self.date is None) == (self.start is None):
            raise ValueError("give either `date` or `from` (with `to`)")
        if self.start is not None and self.end is None:
            raise ValueError("a range needs `to`")
        if self.start is not None and self.end is not None and _as_dt(self.end, True) <= _as_dt(self.start, False):
            raise ValueError("`to` must be after `from`")
        if self.message and self.prompt:
            raise ValueError("give `message` or `prompt`, not both")
        return self

    def bounds(self) -> tuple[datetime, datetime]:
        """Naive local [start, end) of the closure."""
        if self.date is not None:
            return _as_dt(self.date, False), _as_dt(self.date, True)
        assert self.start is not None and self.end is not None
        return _as_dt(self.start, False), _as_dt(self.end, True)

    @property
    def prompt_name(self) -> str | None:
        """The prompt callers hear: a named one, or the one synthesised from `message`."""
        if self.prompt:
            return self.prompt
        return f"closure_{self.id.replace('-', '_')}" if self.message else None


def _as_dt(value: date | datetime, end_of_day: bool) -> datetime:
    """A date as a naive local instant: its first moment, or (`end_of_day`) the next day's."""
    if isinstance(value, datetime):
        return value.replace(tzinfo=None)
    day = value + timedelta(days=1) if end_of_day else value
    return datetime.combine(day, time.min)


class HoursSettings(_Section):
    weekly: WeeklyHours = WeeklyHours()
    holidays: HolidaySettings = HolidaySettings()
    closures: list[ClosureConfig] = Field(default_factory=list)

    @model_validator(mode="after")
    def _unique_ids(self) -> HoursSettings:
        ids = [c.id for c in self.closures]
        dupes = sorted({i for i in ids if ids.count(i) > 1})
        if dupes:
            raise ValueError(f"closure ids must be unique: {', '.join(dupes)}")
        return self


class CampaignConfig(_Section):
    """A quality campaign: while active, calls may be recorded after the caller's consent."""

    id: str = Field(pattern=r"^[a-z0-9][a-z0-9_-]*$", description="short name, stored on tickets")
    name: str = Field(description="what the campaign is")
    start: date = Field(alias="from", description="first day")
    end: date = Field(alias="to", description="last day, inclusive")
    notice_prompt: str = Field("consent_notice", description="the announcement heard before anything is recorded")

    @model_validator(mode="after")
    def _ordered(self) -> CampaignConfig:
        if self.end < self.start:
            raise ValueError("`to` must not be before `from`")
        return self

    def active_on(self, day: date) -> bool:
        return self.start <= day <= self.end
