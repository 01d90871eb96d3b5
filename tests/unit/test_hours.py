"""Office hours over a whole year in Europe/Rome: holidays, DST weeks, closures, next opening."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from ivr.hours.calendar import Closure, LineCalendar, LineState
from ivr.hours.closures import RuntimeClosures
from ivr.hours.config import ClosureConfig, HoursSettings
from ivr.tickets.store import SqlTicketStore

ROME = ZoneInfo("Europe/Rome")


def easter(year: int) -> date:
    """Anonymous Gregorian algorithm (Meeus): an independent check of the library's Easter."""
    a, b, c = year % 19, year // 100, year % 100
    d, e = divmod(b, 4)
    f = (b + 8) // 25
    g = (b - f + 1) // 3
    h = (19 * a + b - d - g + 15) % 30
    i, k = divmod(c, 4)
    ell = (32 + 2 * e + 2 * i - h - k) % 7
    m = (a + 11 * h + 22 * ell) // 451
    month, day = divmod(h + ell - 7 * m + 114, 31)
    return date(year, month, day + 1)


def national_holidays(year: int) -> set[date]:
    fixed = [(1, 1), (1, 6), (4, 25), (5, 1), (6, 2), (8, 15), (11, 1), (12, 8), (12, 25), (12, 26)]
    days = {date(year, m, d) for m, d in fixed} | {easter(year), easter(year) + timedelta(days=1)}
    if year >= 2026:
        days.add(date(year, 10, 4))  # San Francesco, national holiday again from 2026
    return days


def calendar(**hours: object) -> LineCalendar:
    return LineCalendar(HoursSettings.model_validate(hours), ROME)


def test_every_quarter_hour_of_2026() -> None:
    cal = calendar()
    holidays = national_holidays(2026)
    moment = datetime(2026, 1, 1, tzinfo=ROME)
    checked = 0
    while moment.year == 2026:
        local = moment.astimezone(ROME)
        expected = local.weekday() < 5 and 9 <= local.hour < 18 and local.date() not in holidays
        status = cal.status(moment, with_next=False)
        assert status.open == expected, local
        if local.date() in holidays:
            assert status.state is LineState.HOLIDAY and status.holiday
        checked += 1
        moment = (moment.astimezone(UTC) + timedelta(minutes=15)).astimezone(ROME)
    assert checked == 365 * 24 * 4  # the DST hour lost in March and doubled in October cancel out


@pytest.mark.parametrize("year", range(2025, 2031))
def test_easter_monday_is_closed_every_year(year: int) -> None:
    monday = easter(year) + timedelta(days=1)
    status = calendar().status(datetime.combine(monday, datetime.min.time(), ROME).replace(hour=10))
    assert status.state is LineState.HOLIDAY
    assert status.holiday == "Lunedì dell'Angelo"
    assert status.next_opening == datetime.combine(monday + timedelta(days=1), datetime.min.time(), ROME).replace(
        hour=9
    )


@pytest.mark.parametrize(
    ("utc", "is_open"),
    [
        # Spring forward on Sunday 2026-03-29: 09:00 in Rome is 08:00 UTC before, 07:00 UTC after.
        ("2026-03-27T07:59:00+00:00", False),  # 08:59 CET
        ("2026-03-27T08:00:00+00:00", True),  # 09:00 CET
        ("2026-03-30T06:59:00+00:00", False),  # 08:59 CEST
        ("2026-03-30T07:00:00+00:00", True),  # 09:00 CEST
        ("2026-03-30T15:59:00+00:00", True),  # 17:59 CEST
        ("2026-03-30T16:00:00+00:00", False),  # 18:00 CEST
        # Fall back on Sunday 2026-10-25.
        ("2026-10-23T15:59:00+00:00", True),  # 17:59 CEST
        ("2026-10-23T16:00:00+00:00", False),  # 18:00 CEST
        ("2026-10-26T07:59:00+00:00", False),  # 08:59 CET
        ("2026-10-26T08:00:00+00:00", True),  # 09:00 CET
        ("2026-10-26T16:59:00+00:00", True),  # 17:59 CET
    ],
)
def test_dst_weeks(utc: str, is_open: bool) -> None:
    assert calendar().status(datetime.fromisoformat(utc)).open is is_open


@pytest.mark.parametrize(
    ("local", "next_open"),
    [
        ("2026-11-20T18:00", "2026-11-23T09:00"),  # Friday evening -> Monday
        ("2026-03-28T23:00", "2026-03-30T09:00"),  # across the spring DST change
        ("2026-04-03T19:00", "2026-04-07T09:00"),  # Friday before Easter -> Tuesday after Easter Monday
        ("2026-12-24T20:00", "2026-12-28T09:00"),  # Christmas, Santo Stefano, weekend
        ("2026-05-01T08:00", "2026-05-04T09:00"),  # Labour Day on a Friday
        ("2026-11-23T07:30", "2026-11-23T09:00"),  # early Monday morning
    ],
)
def test_next_opening(local: str, next_open: str) -> None:
    status = calendar().status(datetime.fromisoformat(local).replace(tzinfo=ROME))
    assert not status.open
    assert status.next_opening == datetime.fromisoformat(next_open).replace(tzinfo=ROME)


def test_configured_closures_day_range_and_hours() -> None:
    cal = calendar(
        closures=[
            {"id": "vigilia", "date": "2026-12-24", "reason": "Vigilia di Natale"},
            {
                "id": "estate",
                "from": "2026-08-10",
                "to": "2026-08-14",
                "reason": "Chiusura estiva",
                "message": "Chiuso.",
            },
            {"id": "sciopero", "from": "2026-03-02T13:00", "to": "2026-03-02T15:00", "reason": "Sciopero"},
        ]
    )
    at = lambda text: datetime.fromisoformat(text).replace(tzinfo=ROME)  # noqa: E731
    assert cal.status(at("2026-12-24T10:00")).closure is not None
    assert cal.status(at("2026-12-23T17:59")).open
    summer = cal.status(at("2026-08-14T17:00"))
    assert summer.state is LineState.CLOSURE and summer.closure is not None
    assert summer.closure.prompt == "closure_estate"
    assert summer.next_opening == at("2026-08-17T09:00")  # the 15th is a holiday, then a weekend
    assert cal.status(at("2026-03-02T12:59")).open
    strike = cal.status(at("2026-03-02T13:00"))
    assert strike.state is LineState.CLOSURE and strike.next_opening == at("2026-03-02T15:00")


def test_closure_config_errors() -> None:
    with pytest.raises(ValueError, match="either `date` or `from`"):
        ClosureConfig.model_validate({"id": "x", "reason": "r"})
    with pytest.raises(ValueError, match="`to` must be after `from`"):
        ClosureConfig.model_validate({"id": "x", "reason": "r", "from": "2026-03-02", "to": "2026-03-01"})


def test_weekly_hours_are_spoken_in_italian() -> None:
    assert calendar().describe_week() == "dal lunedì al venerdì, dalle 9 alle 18"
    custom = calendar(weekly={"fri": ["09:00-13:00"], "sat": ["09:30-12:30"], "mon": ["08:30-12:00", "14:00-17:00"]})
    assert custom.describe_week() == (
        "il lunedì, dalle 8 e 30 alle 12 e dalle 14 alle 17; dal martedì al giovedì, dalle 9 alle 18; "
        "il venerdì, dalle 9 alle 13; il sabato, dalle 9 e 30 alle 12 e 30"
    )


def test_bad_ranges_name_the_problem() -> None:
    with pytest.raises(ValueError, match="not a range like 09:00-18:00"):
        HoursSettings.model_validate({"weekly": {"mon": ["9-18"]}})
    with pytest.raises(ValueError, match="must end after it starts"):
        HoursSettings.model_validate({"weekly": {"mon": ["18:00-09:00"]}})


async def test_runtime_closure_switch(tmp_path: Path, sqlite_store: SqlTicketStore) -> None:
    store = RuntimeClosures(sqlite_store, asterisk_dir="/p", local_dir=tmp_path, ttl_s=0)
    cal = calendar()
    now = datetime(2026, 11, 23, 10, 0, tzinfo=ROME)
    assert cal.status(now, await store.active(now)).open
    closure_id = await store.add(now, None, "guasto tecnico", None, created_at=now)
    closed = cal.status(now + timedelta(minutes=1), await store.active(now))
    assert closed.state is LineState.CLOSURE
    assert closed.closure == Closure(f"rt-{closure_id}", now, None, "guasto tecnico", source="runtime")
    assert [r.id for r in await store.rows(now)] == [closure_id]
    assert await store.end(None, now + timedelta(minutes=5)) == 1
    later = now + timedelta(minutes=6)
    assert cal.status(later, await store.active(later)).open
