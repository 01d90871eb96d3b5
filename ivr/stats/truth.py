"""What a synthetic data set must give: counters kept in Python while the tickets are generated.

They are deliberately plain (one counter per figure, per local day, topic and operator) and share
nothing with the SQL in `queries`, so a test that compares the two checks the queries instead of
restating them; rolling the day cells up into weeks, months or totals is a sum of counters.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field, fields
from datetime import date, datetime

from ivr.tickets.periods import week_of

CellKey = tuple[date, str | None, str | None]  # local day, topic, operator login


@dataclass
class QuestionTally:
    answers: int = 0
    total: int = 0
    ones: int = 0

    def add(self, other: QuestionTally) -> None:
        self.answers += other.answers
        self.total += other.total
        self.ones += other.ones


@dataclass
class Tally:
    """Every counter a report row is made of, for one slice of tickets."""

    offered: int = 0
    in_hours: int = 0
    closed_hours: int = 0
    admitted: int = 0
    answered: int = 0
    abandoned: int = 0
    cap_hits: int = 0
    no_operators: int = 0
    max_wait: int = 0
    caller_choice: int = 0
    answered_in_sl: int = 0
    wait_sum: float = 0.0  # over answered calls
    handle_sum: float = 0.0
    handled: int = 0  # calls with a conversation time
    callbacks: int = 0
    callbacks_in_time: int = 0
    callbacks_late: int = 0
    callbacks_pending: int = 0
    web_received: int = 0
    web_due: int = 0
    web_in_time: int = 0
    web_late: int = 0
    web_pending: int = 0
    survey_offered: int = 0
    survey_responses: int = 0
    voicemail: Counter[str] = field(default_factory=Counter)
    questions: dict[str, QuestionTally] = field(default_factory=dict)

    def add(self, other: Tally) -> None:
        for name in _NUMBERS:
            setattr(self, name, getattr(self, name) + getattr(other, name))
        self.voicemail.update(other.voicemail)
        for question, tally in other.questions.items():
            self.questions.setdefault(question, QuestionTally()).add(tally)

    def answer(self, question: str, value: int) -> None:
        tally = self.questions.setdefault(question, QuestionTally())
        tally.answers += 1
        tally.total += value
        tally.ones += value == 1


_NUMBERS = tuple(f.name for f in fields(Tally) if f.name not in ("voicemail", "questions"))


@dataclass
class PersonalData:
    """Every personal value written, so tests can prove none of it leaves in a public output."""

    numbers: set[str] = field(default_factory=set)
    names: set[str] = field(default_factory=set)  # full names of callers and web requesters
    emails: set[str] = field(default_factory=set)
    operators: set[str] = field(default_factory=set)  # operators' logins and full names

    def words(self) -> set[str]:
        """Every token a leak would show: each part of each name, logins, e-mail addresses."""
        found = set(self.emails) | set(self.operators)
        for name in self.names | self.operators:
            found.update(name.split())
        return found


def period_start(day: date, period: str) -> date:
    if period == "day":
        return day
    if period == "week":
        return week_of(day)
    if period == "month":
        return day.replace(day=1)
    raise ValueError(f"unknown period {period!r}")


@dataclass
class Truth:
    as_of: datetime  # the "now" the commitments were judged at (late versus pending)
    service_level_s: float
    tickets: int = 0
    cells: dict[CellKey, Tally] = field(default_factory=dict)
    personal: PersonalData = field(default_factory=PersonalData)
    operator_logins: dict[int, str] = field(default_factory=dict)

    def cell(self, day: date, topic: str | None, operator: str | None) -> Tally:
        key = (day, topic, operator)
        found = self.cells.get(key)
        if found is None:
            found = self.cells[key] = Tally()
        return found

    def rollup(self, period: str | None, by: str | None) -> dict[tuple[date | None, str | None], Tally]:
        """Slices keyed by (period start or None for the whole range, group or None)."""
        out: dict[tuple[date | None, str | None], Tally] = {}
        for (day, topic, operator), tally in self.cells.items():
            start = None if period is None else period_start(day, period)
            group = topic if by == "topic" else operator if by == "operator" else None
            out.setdefault((start, group), Tally()).add(tally)
        return out

    def days(self) -> list[date]:
        return sorted({day for day, _topic, _operator in self.cells})
