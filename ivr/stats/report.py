"""A statistics report: the figures as typed values, assembled from the rows of the SQL.

Nothing is counted or averaged here: every number comes out of `queries` already computed by the
database; this module only places each one in its period, group and field, so the table, the CSV,
the JSON, the open-data files and the public page all show the very same values.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any, Protocol, TypeVar

from sqlalchemy import Engine, Select
from sqlalchemy.orm import Session, sessionmaker

from ivr.stats.levels import LevelRow, level_rows
from ivr.stats.queries import (
    GROUP_ROW,
    PERIOD_ROW,
    PHONE_CALLBACK,
    TOTAL_ROW,
    WEB_REPLY,
    Period,
    Scope,
    survey_figures,
    ticket_figures,
    voicemail_figures,
)

T = TypeVar("T")

# The charter: second-level phone answers within 10 days in 80% of cases, web replies within
# 48 hours in 90% of cases.
TARGETS = {PHONE_CALLBACK: 0.80, WEB_REPLY: 0.90}
VOICEMAIL_REASONS = ("closed", "busy", "cap", "no_operators", "max_wait", "caller_choice")
YES_NO_QUESTIONS = frozenset({"solved"})  # answer 1 means yes: their share of 1 is reported


class Reader(Protocol):
    """Runs a function on a database session in a worker thread (the ticket store's `run_read`)."""

    def __call__(self, fn: Callable[[Session], T], /) -> Awaitable[T]: ...


@dataclass(frozen=True)
class Commitment:
    """A charter commitment: how many were due, kept in time, late, or still open and not due."""

    due: int
    in_time: int
    late: int
    pending: int
    compliance: float | None  # in time / (in time + late); pending ones are not judged yet
    target: float

    @property
    def met(self) -> bool | None:
        return None if self.compliance is None else self.compliance >= self.target


@dataclass(frozen=True)
class Question:
    answers: int
    average: float | None
    yes_share: float | None  # for yes/no questions: the share of "yes" (1)


@dataclass(frozen=True)
class Figures:
    offered: int  # phone calls
    in_hours: int
    closed_hours: int
    admitted: int  # let into the operator queue under the daily cap
    answered: int
    abandoned: int
    cap_hits: int
    no_operators: int
    max_wait: int
    caller_choice: int
    answered_in_sl: int  # answered within the service-level threshold
    service_level: float | None  # answered_in_sl / admitted
    asa_s: float | None  # average speed of answer
    aht_s: float | None  # average handling time
    voicemail: dict[str, int]
    callbacks: Commitment
    web_requests: int
    web_replies: Commitment
    survey_offered: int
    survey_responses: int
    survey_response_rate: float | None
    survey: dict[str, Question]


@dataclass(frozen=True)
class Row:
    period: date | None  # the first day of the period; None over the whole range
    group: str | None  # topic or operator login; None: calls without one
    figures: Figures


@dataclass(frozen=True)
class Report:
    scope: Scope
    rows: list[Row]  # per period, and per group within it when broken down
    groups: list[Row]  # per group over the whole range (only when broken down)
    total: Figures  # the whole range
    reasons: list[str]  # voicemail reasons shown: the known ones, then any other found
    questions: list[str]  # survey questions found
    # Per channel and level (ivr.stats.levels): per period, then the whole range last.
    levels: list[LevelRow] = field(default_factory=list)

    def levels_of(self, period: date | None) -> LevelRow | None:
        return next((r for r in self.levels if r.period == period), None)


def default_range(period: Period, today: date) -> tuple[date, date]:
    """What to show when no range is asked: 30 days, 12 weeks or 12 months up to today."""
    if period == "day":
        return today - timedelta(days=29), today
    if period == "week":
        return today - timedelta(days=today.weekday() + 7 * 11), today
    month = today.year * 12 + today.month - 1 - 11
    return date(month // 12, month % 12 + 1, 1), today


def _fetch(stmt: Select[Any]) -> Callable[[Session], list[dict[str, Any]]]:
    def run(session: Session) -> list[dict[str, Any]]:
        return [dict(row) for row in session.execute(stmt).mappings()]

    return run


async def build_report(read: Reader, scope: Scope) -> Report:
    """Run the statements side by side (each on its own connection) and assemble them."""
    tickets, voicemails, answers, levels = await asyncio.gather(
        read(_fetch(ticket_figures(scope))),
        read(_fetch(voicemail_figures(scope))),
        read(_fetch(survey_figures(scope))),
        read(level_rows(scope)),
    )
    report = assemble(scope, tickets, voicemails, answers)
    return Report(report.scope, report.rows, report.groups, report.total, report.reasons, report.questions, levels)


Key = tuple[str, date | None, str | None]


def assemble(
    scope: Scope,
    tickets: Iterable[dict[str, Any]],
    voicemails: Iterable[dict[str, Any]],
    answers: Iterable[dict[str, Any]],
) -> Report:
    by_key: dict[Key, dict[str, Any]] = {}
    for row in tickets:
        by_key[_key(row)] = row
    messages: dict[Key, dict[str, int]] = {}
    for row in voicemails:
        messages.setdefault(_key(row), {})[row["reason"]] = int(row["messages"])
    survey: dict[Key, dict[str, Question]] = {}
    for row in answers:
        question = str(row["question"])
        share = row["ones_share"] if question in YES_NO_QUESTIONS else None
        survey.setdefault(_key(row), {})[question] = Question(int(row["answers"]), row["average"], share)
    found_reasons = {r for found in messages.values() for r in found}
    reasons = [*VOICEMAIL_REASONS, *sorted(found_reasons - set(VOICEMAIL_REASONS))]
    questions = sorted({q for found in survey.values() for q in found})
    keys = set(by_key) | set(messages) | set(survey) | {(TOTAL_ROW, None, None)}

    def figures(key: Key) -> Figures:
        return _figures(by_key.get(key), messages.get(key, {}), survey.get(key, {}), reasons)

    def order(key: Key) -> tuple[date, str]:
        return (key[1] or date.min, key[2] or "")

    rows = [Row(k[1], k[2], figures(k)) for k in sorted((k for k in keys if k[0] == PERIOD_ROW), key=order)]
    groups = [Row(None, k[2], figures(k)) for k in sorted((k for k in keys if k[0] == GROUP_ROW), key=order)]
    return Report(scope, rows, groups, figures((TOTAL_ROW, None, None)), reasons, questions)


def _key(row: dict[str, Any]) -> Key:
    group = row["grp"]
    return (str(row["level"]), row["period"], None if group is None else str(group))


def _figures(
    row: dict[str, Any] | None, voicemail: dict[str, int], survey: dict[str, Question], reasons: list[str]
) -> Figures:
    r = row or {}

    def count(name: str) -> int:
        return int(r.get(name) or 0)

    def rate(name: str) -> float | None:
        value = r.get(name)
        return None if value is None else float(value)

    return Figures(
        offered=count("offered"),
        in_hours=count("in_hours"),
        closed_hours=count("closed_hours"),
        admitted=count("admitted"),
        answered=count("answered"),
        abandoned=count("abandoned"),
        cap_hits=count("cap_hits"),
        no_operators=count("no_operators"),
        max_wait=count("max_wait"),
        caller_choice=count("caller_choice"),
        answered_in_sl=count("answered_in_sl"),
        service_level=rate("service_level"),
        asa_s=rate("asa_s"),
        aht_s=rate("aht_s"),
        voicemail={reason: voicemail.get(reason, 0) for reason in reasons},
        callbacks=Commitment(
            count("callbacks"),
            count("callbacks_in_time"),
            count("callbacks_late"),
            count("callbacks_pending"),
            rate("callbacks_compliance"),
            TARGETS[PHONE_CALLBACK],
        ),
        web_requests=count("web_received"),
        web_replies=Commitment(
            count("web_due"),
            count("web_in_time"),
            count("web_late"),
            count("web_pending"),
            rate("web_compliance"),
            TARGETS[WEB_REPLY],
        ),
        survey_offered=count("survey_offered"),
        survey_responses=count("survey_responses"),
        survey_response_rate=rate("survey_response_rate"),
        survey=dict(sorted(survey.items())),
    )


class EngineReader:
    """A Reader for commands and benchmarks: a few threads, each read on its own connection, so
    the statements of a report run side by side (SQLite releases the interpreter while it works).

    It keeps its own sessions on purpose: `ivr stats` runs a long batch of heavy read-only
    statements in a process of its own, with no ticket store; inside the engine the console and
    the API read through the store's reader pool (`SqlTicketStore.run_read`) instead."""

    def __init__(self, engine: Engine, workers: int = 3) -> None:
        self._sessions = sessionmaker(engine)
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="stats-read")

    async def __call__(self, fn: Callable[[Session], T], /) -> T:
        def run() -> T:
            with self._sessions() as session:
                return fn(session)

        return await asyncio.get_running_loop().run_in_executor(self._pool, run)

    def close(self) -> None:
        self._pool.shutdown(wait=True)
