"""The service's calendar keys of a moment (day, ISO week, month in Europe/Rome by default).

Written on each ticket when it is created, so that statistics group by the local calendar with
plain column comparisons, identical on SQLite and PostgreSQL, and use an index.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

ROME = ZoneInfo("Europe/Rome")


def local_keys(moment: datetime, tz: ZoneInfo = ROME) -> dict[str, date]:
    day = moment.astimezone(tz).date()
    return {"local_day": day, "local_week": week_of(day), "local_month": day.replace(day=1)}


def week_of(day: date) -> date:
    """The Monday of the ISO week holding `day`."""
    return day - timedelta(days=day.weekday())
