"""A year of realistic, internally consistent tickets, and the figures they must give.

Used by the tests (the truth is counted here, in Python, while generating), by the benchmark and
for demos. Calls follow the line's rules: office hours in Rome, Italian holidays and closures, the
daily cap on admissions, voicemail when nobody can answer, the survey after an operator, second
level callbacks and web replies with their commitments; callers have numbers and names, so tests
can prove that none of it leaks into public outputs.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from datetime import UTC, date, datetime, time, timedelta
from typing import Any, cast

from sqlalchemy import Boolean, Date, Engine, Table, column, func, insert, select, table, text, update
from sqlalchemy.sql.expression import TableClause

from ivr.errors import SetupError
from ivr.schema.base import UtcDateTime
from ivr.schema.tickets import DailyAdmissions, Operator, SurveyAnswer, Ticket, Voicemail, WebRequest
from ivr.stats.synthcalls import FIRST, LAST, MONTH_LOAD, TOPIC_NAMES, WEB_SHARE, WEEKDAY_LOAD, CallMaker, Op
from ivr.stats.truth import Truth
from ivr.tickets.periods import ROME


class GenerateError(SetupError):
    """The store cannot take synthetic data as asked (it has real tickets, or the span is empty)."""


class _Writer(CallMaker):
    """Writes what the maker buffered, in chunks, with Core executemany."""

    def __init__(self, engine: Engine, chunk: int, truth: Truth, rng: random.Random, ops: list[Op], cap: int) -> None:
        super().__init__(truth, rng, ops, cap)
        self.engine, self.chunk = engine, chunk

    def flush(self, force: bool = False) -> None:
        if len(self.tickets) < self.chunk and not force:
            return
        with self.engine.begin() as conn:
            for model, rows in (
                (Ticket, self.tickets),
                (Voicemail, self.voicemails),
                (SurveyAnswer, self.answers),
                (WebRequest, self.web),
            ):
                if rows:
                    table, encode = _raw_table(cast(Table, model.__table__), conn.dialect.name)
                    conn.execute(insert(table), [encode(row) for row in rows] if encode else rows)
                rows.clear()

    def finish(self) -> None:
        self.flush(force=True)
        with self.engine.begin() as conn:
            for day, count in sorted(self.admitted.items()):
                bump = update(DailyAdmissions).where(DailyAdmissions.day == day)
                found = conn.execute(bump.values(admitted=DailyAdmissions.admitted + count)).rowcount
                if not found:
                    conn.execute(insert(DailyAdmissions).values(day=day, admitted=count))
            if conn.dialect.name == "postgresql":  # ids were given explicitly: move the sequence past them
                conn.execute(
                    text("SELECT setval(pg_get_serial_sequence('tickets', 'id'), (SELECT max(id) FROM tickets))")
                )


def _raw_table(model: Table, dialect: str) -> tuple[TableClause, Callable[[dict[str, Any]], dict[str, Any]] | None]:
    """The table without column types, and for SQLite the values as SQLAlchemy itself stores them
    (naive UTC text with microseconds, ISO dates, 0/1): per-value type processing would make
    writing a million tickets take minutes instead of seconds."""
    raw = table(model.name, *(column(c.key) for c in model.columns))
    if dialect != "sqlite":
        return raw, None
    moments = [c.key for c in model.columns if isinstance(c.type, UtcDateTime)]
    days = [c.key for c in model.columns if isinstance(c.type, Date)]
    flags = [c.key for c in model.columns if isinstance(c.type, Boolean)]

    def encode(row: dict[str, Any]) -> dict[str, Any]:
        out = dict(row)
        for key in moments:
            value = out.get(key)
            if value is not None:
                utc = value if value.tzinfo is UTC else value.astimezone(UTC)
                out[key] = utc.isoformat(" ", "microseconds")[:26]  # without the "+00:00"
        for key in days:
            value = out.get(key)
            if value is not None:
                out[key] = value.isoformat()
        for key in flags:
            if key in out:
                out[key] = int(out[key])
        return out

    return raw, encode


def _operators(engine: Engine, rng: random.Random, count: int, truth: Truth, at: datetime) -> list[Op]:
    """Operators with realistic skills: most take every topic, some only one or two."""
    with engine.begin() as conn:
        taken = set(conn.scalars(select(Operator.login)))
        ops: list[Op] = []
        n = 0
        while len(ops) < count:
            n += 1
            first, last = rng.choice(FIRST), rng.choice(LAST)
            login = f"{first[0]}{last.replace(' ', '')}{n}".lower()
            if login in taken:
                continue
            skills = TOPIC_NAMES if len(ops) % 3 else (rng.choice(TOPIC_NAMES),)
            if len(ops) < 3:  # every topic has operators of its own
                skills = (TOPIC_NAMES[len(ops)],)
            phone = f"3{rng.randrange(10**9):09d}" if len(ops) % 4 == 0 else None
            new_id = conn.execute(
                insert(Operator)
                .values(login=login, name=f"{first} {last}", outside_number=phone, skills=list(skills), created_at=at)
                .returning(Operator.id)
            ).scalar_one()
            ops.append(Op(new_id, login, skills, rng.uniform(-0.6, 0.5)))
            truth.operator_logins[new_id] = login
            truth.personal.operators.update((login, f"{first} {last}"))
            if phone:
                truth.personal.numbers.add(phone)
    return ops


def _day_volumes(days: list[date], total: int, hol: Any) -> list[int]:
    """Split `total` over the days by season and weekday, exactly (largest remainders)."""
    weights = [MONTH_LOAD[d.month - 1] * (0.15 if d in hol else WEEKDAY_LOAD[d.weekday()]) for d in days]
    scale = total / sum(weights)
    raw = [w * scale for w in weights]
    counts = [int(r) for r in raw]
    for i in sorted(range(len(days)), key=lambda i: raw[i] - counts[i], reverse=True)[: total - sum(counts)]:
        counts[i] += 1
    return counts


def _moments(rng: random.Random, day: date, count: int, busy: bool, limit: datetime) -> list[datetime]:
    """Arrival times of one day: on working days mostly in office hours, with a morning peak;
    never after `limit` (the end of the data set)."""
    start = datetime.combine(day, time(0), tzinfo=ROME)
    out = []
    for _ in range(count):
        for _attempt in range(50):
            draw = rng.random()
            if busy and draw < 0.8:
                seconds = rng.triangular(8.5 * 3600, 18.5 * 3600, 10.5 * 3600)
            elif draw < 0.95:
                seconds = rng.triangular(6 * 3600, 23 * 3600, 12 * 3600)
            else:
                seconds = rng.uniform(0, 86399)
            moment = (start + timedelta(seconds=round(seconds, 3))).astimezone(UTC)
            if moment < limit:
                break
        else:  # the day ends early (the data set stops within it): anywhere before the end
            moment = start.astimezone(UTC) + (limit - start.astimezone(UTC)) * rng.random()
        out.append(moment)
    return sorted(out)


def generate(
    engine: Engine,
    *,
    tickets: int,
    year: int,
    seed: int = 1,
    operators: int = 24,
    daily_cap: int = 400,
    service_level_s: float = 60.0,
    as_of: datetime | None = None,
    force: bool = False,
    chunk: int = 5000,
) -> Truth:
    """Write exactly `tickets` tickets over `year`, up to `as_of` (default 31 December at noon in
    Rome, so the last calls are still waiting and the last commitments still pending), and
    return what every report must say about them."""
    if tickets < 1:
        raise GenerateError("--tickets must be at least 1")
    with engine.connect() as conn:
        existing = conn.scalar(select(func.count()).select_from(Ticket))
        first_id = (conn.scalar(select(func.max(Ticket.id))) or 0) + 1
    if existing and not force:
        raise GenerateError(f"the database already has {existing} tickets; add --force to write synthetic ones too")
    end = as_of or datetime(year, 12, 31, 12, 0, tzinfo=ROME)
    if end.tzinfo is None:
        raise GenerateError("as_of must be timezone-aware")
    truth = Truth(as_of=end.astimezone(UTC), service_level_s=service_level_s)
    last = min((truth.as_of - timedelta(microseconds=1)).astimezone(ROME).date(), date(year, 12, 31))
    days = [date(year, 1, 1) + timedelta(days=i) for i in range((last - date(year, 1, 1)).days + 1)]
    if not days:
        raise GenerateError(f"as_of {end} is before {year} begins")
    rng = random.Random(seed)
    ops = _operators(engine, rng, operators, truth, datetime(year, 1, 1, tzinfo=UTC))
    builder = _Writer(engine, chunk, truth, rng, ops, daily_cap)
    next_id = first_id
    for day, count in zip(days, _day_volumes(days, tickets, builder.holidays), strict=True):
        busy = day.weekday() < 5 and day not in builder.holidays
        web = sum(rng.random() < WEB_SHARE for _ in range(count))
        arrivals = [(m, "phone") for m in _moments(rng, day, count - web, busy, truth.as_of)]
        arrivals += [(m, "web") for m in _moments(rng, day, web, False, truth.as_of)]
        for moment, channel in sorted(arrivals):
            if channel == "phone":
                builder.phone(next_id, moment)
            else:
                builder.web_request(next_id, moment)
            next_id += 1
        builder.flush()
    builder.finish()
    return truth
