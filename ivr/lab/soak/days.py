"""Service days: a soak of hours plays several days of the line by moving the engine's clock.

The promises that span days cannot be seen in real time: the daily cap resets at midnight in
Europe/Rome, a web request is due within 48 hours, a callback or a second-level e-mail within
10 calendar days. So the soak's real time is cut into segments, each lived on its own simulated
date, and the clock jumps forward between them (libfaketime, or the engine's own clock). The
dates are fixed by the day's place in the soak, not drawn: the whole point is that the 48-hour
and 10-day deadlines fall inside the run.
"""

from __future__ import annotations

import datetime as dt
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from pydantic import BaseModel, ConfigDict, Field

ROME = ZoneInfo("Europe/Rome")
# A Monday with no Italian holiday within the 12 days after it (Easter 2027 is on 28 March).
DEFAULT_START = date(2027, 3, 1)
OPENS, CLOSES = time(9, 0), time(18, 0)
# Day offsets from a Monday: the Tuesday (the cap resets), the Thursday (web requests of the first
# day past 48 hours), the Saturday (closed all day: voicemail by reason "closed"), the next
# Tuesday, and the Friday of day 11 (callbacks and second-level answers of day 0 past 10 days).
_OFFSETS = (0, 1, 3, 5, 8)
_LAST = 11


def day_offsets(count: int) -> list[int]:
    if count < 1:
        raise ValueError("a soak has at least one service day")
    if count == 1:
        return [0]
    middle = [3, 1, 5, 8][: max(0, count - 2)]
    extra = [_LAST + i for i in range(1, count - 1 - len(middle))]
    return sorted({0, *middle, _LAST, *extra})


class ServiceDay(BaseModel):
    """One simulated date and the span of the soak's real time it occupies."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    index: int = Field(ge=0)
    date: dt.date = Field(description="the simulated local date (Europe/Rome)")
    start_s: float = Field(ge=0, description="real seconds after the soak's start when this day begins")
    end_s: float = Field(gt=0, description="... and when it ends (the next day's start)")
    local_start: dt.time = Field(description="the simulated local time at start_s; it then runs at real speed")
    campaign: bool = Field(description="a quality campaign covers this date: callers are asked for consent")

    def contains(self, at_s: float) -> bool:
        return self.start_s <= at_s < self.end_s

    def clock_at(self, at_s: float) -> datetime:
        """The simulated local date-time at a real moment inside this day."""
        begin = datetime.combine(self.date, self.local_start, tzinfo=ROME)
        return begin + timedelta(seconds=at_s - self.start_s)


def service_days(count: int, duration_s: float, start: date = DEFAULT_START) -> list[ServiceDay]:
    """`count` equal segments of the soak. Even days begin at opening time; odd days begin so
    their last tenth falls after closing (callbacks carried over, voicemail by reason closed).
    A campaign runs on even days, so consent is both asked and not."""
    if duration_s <= 0:
        raise ValueError("duration_s must be positive")
    span = duration_s / count
    days = []
    for index, offset in enumerate(day_offsets(count)):
        local = OPENS
        if index % 2:
            opens = datetime.combine(start, OPENS)
            late = datetime.combine(start, CLOSES) - timedelta(seconds=round(span * 0.9))
            local = max(opens, late).time()
        days.append(
            ServiceDay(
                index=index,
                date=start + timedelta(days=offset),
                start_s=round(index * span, 3),
                end_s=duration_s if index == count - 1 else round((index + 1) * span, 3),
                local_start=local,
                campaign=index % 2 == 0,
            )
        )
    return days


def day_at(days: list[ServiceDay], at_s: float) -> ServiceDay:
    for day in days:
        if day.contains(at_s):
            return day
    if days and at_s >= days[-1].end_s:
        return days[-1]  # the drain after the last day
    raise ValueError(f"no service day at {at_s} s")
