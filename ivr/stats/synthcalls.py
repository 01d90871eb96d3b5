"""The calls and web requests of a synthetic data set, one ticket at a time, and their truth.

Each ticket follows the line's rules (office hours, holidays and closures, the daily cap, the
queue's outcomes, voicemail, survey, second-level callbacks, web replies) and is counted into the
`Truth` as it is made, with plain Python counters.
"""

from __future__ import annotations

import math
import random
from bisect import bisect
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from itertools import accumulate
from typing import Any, Generic, TypeVar

import holidays

from ivr.schema.tickets import Ticket
from ivr.stats.truth import Tally, Truth
from ivr.tickets.periods import ROME, local_keys

V = TypeVar("V")

FIRST = (
    "Giulia", "Marco", "Francesca", "Luca", "Chiara", "Andrea", "Sara", "Matteo", "Valentina", "Alessandro",
    "Elena", "Davide", "Martina", "Simone", "Federica", "Stefano", "Silvia", "Roberto", "Paola", "Giorgio",
    "Laura", "Antonio", "Anna", "Giuseppe", "Alessia", "Fabio",
)  # fmt: skip
LAST = (
    "Rossi", "Russo", "Ferrari", "Esposito", "Bianchi", "Romano", "Colombo", "Ricci", "Marino", "Greco", "Bruno",
    "Gallo", "Conti", "De Luca", "Mancini", "Costa", "Giordano", "Rizzo", "Lombardi", "Moretti", "Barbieri",
    "Fontana", "Santoro", "Mariani", "Rinaldi", "Caruso",
)  # fmt: skip
TOPIC_NAMES = ("citizens", "employers", "agencies")
TOPICS = (*TOPIC_NAMES, None)
TOPIC_WEIGHTS = (58, 27, 11, 4)
CLOSURES = {(12, 24): "vigilia", (8, 14): "ponte-ferragosto"}
MONTH_LOAD = (1.15, 1.05, 1.0, 1.0, 1.0, 0.95, 0.8, 0.45, 1.2, 1.1, 1.05, 0.75)
WEEKDAY_LOAD = (1.35, 1.1, 1.0, 1.0, 0.85, 0.2, 0.1)
WEB_SHARE = 0.1


class Weighted(Generic[V]):
    """A weighted draw with the cumulative weights computed once (`random.choices` redoes them
    on every call, which a million tickets notice)."""

    def __init__(self, values: Sequence[V], weights: Sequence[float]) -> None:
        self.values, self.cumulative = tuple(values), list(accumulate(weights))

    def pick(self, rng: random.Random) -> V:
        return self.values[bisect(self.cumulative, rng.random() * self.cumulative[-1])]


CALL_TOPIC = Weighted(TOPICS, TOPIC_WEIGHTS)
WEB_TOPIC = Weighted(TOPIC_NAMES, TOPIC_WEIGHTS[:3])
QUEUE_RESULT = Weighted(("answered", "abandoned", "max_wait", "caller_choice"), (82, 9, 2.5, 4.5))
SURVEY_STATUS = Weighted(("completed", "partial", "not_answered"), (55, 12, 33))


@dataclass(frozen=True)
class Op:
    id: int
    login: str
    skills: tuple[str, ...]
    mood: float  # shifts the satisfaction scores this operator gets


class CallMaker:
    """Makes tickets and their companion rows into buffers that the writer empties in chunks."""

    def __init__(self, truth: Truth, rng: random.Random, ops: list[Op], cap: int) -> None:
        self.truth, self.rng, self.ops, self.cap = truth, rng, ops, cap
        self.skilled = {topic: [o for o in ops if topic in o.skills] for topic in TOPIC_NAMES}
        self.row_answers: list[tuple[str, int]] = []
        self.blank: dict[str, Any] = {c.key: None for c in Ticket.__table__.columns}
        self.tickets: list[dict[str, Any]] = []
        self.answers: list[dict[str, Any]] = []
        self.voicemails: list[dict[str, Any]] = []
        self.web: list[dict[str, Any]] = []
        self.admitted: Counter[date] = Counter()
        year = truth.as_of.astimezone(ROME).year
        self.holidays: set[date] = set(holidays.country_holidays("IT", years=range(year - 2, year + 2)))
        self._keys: dict[date, dict[str, date]] = {}

    # --- people ---------------------------------------------------------------------------------

    def _name(self) -> str:
        name = f"{self.rng.choice(FIRST)} {self.rng.choice(LAST)}"
        self.truth.personal.names.add(name)
        return name

    def _number(self) -> str:
        number = f"3{self.rng.randrange(10**9):09d}"
        self.truth.personal.numbers.add(number)
        return number

    # --- one ticket -----------------------------------------------------------------------------

    def _base(self, ticket_id: int, started: datetime, local: datetime, channel: str) -> dict[str, Any]:
        row = dict(self.blank)
        row.update(id=ticket_id, channel=channel, started_at=started, open=False, level=1)
        keys = self._keys.get(local.date())
        if keys is None:
            keys = self._keys[local.date()] = local_keys(started)
        row.update(keys)
        return row

    def phone(self, ticket_id: int, started: datetime) -> None:
        rng, local = self.rng, started.astimezone(ROME)
        row = self._base(ticket_id, started, local, "phone")
        self.row_answers = []
        withheld = rng.random() < 0.08
        row.update(
            call_uid=f"syn-{ticket_id}",
            did="800000039",
            caller_number=None if withheld else self._number(),
            caller_name=self._name() if not withheld and rng.random() < 0.3 else None,
            answered_at=started + timedelta(seconds=0.5),
        )
        day = row["local_day"]
        line = None if rng.random() < 0.015 else self._line_state(local)
        topic = CALL_TOPIC.pick(rng) if line == "open" else None
        row.update(
            line_state=line, topic=topic, closure_id=CLOSURES.get((day.month, day.day)) if line == "closure" else None
        )
        operator: Op | None = None
        voicemail: str | None = None
        moment = started + timedelta(seconds=rng.uniform(20, 60))  # hours check, welcome and menu
        if line is None or (line == "open" and topic is None):
            row.update(outcome="caller_hangup", end_reason="caller_hangup", last_state="menu:main", ended_at=moment)
        elif line != "open":
            voicemail = "closed" if rng.random() < 0.35 else None
        elif self.admitted[day] >= self.cap:
            row["queue_result"] = "cap"
            voicemail = "cap" if rng.random() < 0.55 else None
        elif rng.random() < 0.02:
            row["queue_result"] = "no_operators"
            voicemail = "no_operators" if rng.random() < 0.6 else None
        else:
            self.admitted[day] += 1
            row["queued_at"] = moment
            operator, voicemail = self._queue(row, moment, topic)
        if voicemail is not None:
            self._voicemail(row, voicemail, topic)
        elif row["outcome"] is None and row["queue_result"] != "waiting":
            row.update(outcome="caller_hangup", end_reason="caller_hangup", ended_at=moment + timedelta(seconds=5))
        self._count(row, operator, voicemail)
        self.tickets.append(row)

    def _line_state(self, local: datetime) -> str:
        if (local.month, local.day) in CLOSURES:
            return "closure"
        if local.date() in self.holidays:
            return "holiday"
        if local.weekday() < 5 and 9 <= local.hour < 18:
            return "open"
        return "outside_hours"

    def _queue(self, row: dict[str, Any], queued: datetime, topic: str | None) -> tuple[Op | None, str | None]:
        rng = self.rng
        if queued > self.truth.as_of - timedelta(minutes=10):  # still waiting when the data set ends
            row.update(queue_result="waiting", open=True, last_state="queue")
            return None, None
        result = QUEUE_RESULT.pick(rng)
        row["queue_result"] = result
        if result == "abandoned":
            row["wait_s"] = round(min(rng.expovariate(1 / 70), 590.0), 3)
            return None, None
        if result == "max_wait":
            row["wait_s"] = 600.0
            return None, "max_wait" if rng.random() < 0.8 else None
        if result == "caller_choice":
            row["wait_s"] = round(rng.uniform(30, 400), 3)
            return None, "caller_choice"
        assert topic is not None
        operator = rng.choice(self.skilled[topic])
        wait = round(min(rng.expovariate(1 / 40), 590.0), 3)
        handle = round(min(max(rng.lognormvariate(math.log(200), 0.5), 20.0), 3600.0), 3)
        answered = queued + timedelta(seconds=wait)
        ended = answered + timedelta(seconds=handle)
        row.update(
            wait_s=wait,
            handle_s=handle,
            operator_id=operator.id,
            operator_answered_at=answered,
            operator_ended_at=ended,
            outcome="completed",
            end_reason="flow_end",
            last_state="hangup:goodbye",
            ended_at=ended + timedelta(seconds=25),
        )
        self._survey(row, operator, ended)
        if rng.random() < 0.22:  # second level: a callback within 10 calendar days
            row.update(level=2, assigned_to=operator.login, resolution_note=f"Richiamare {self._name()}")
            self._commitment(row, "phone_callback", timedelta(days=10), (0.84, 0.1))
        else:
            row.update(status="resolved", resolution_note=f"Risolto con {self._name()}")
        return operator, None

    def _survey(self, row: dict[str, Any], operator: Op, ended: datetime) -> None:
        rng = self.rng
        if rng.random() >= 0.85:
            return
        status = SURVEY_STATUS.pick(rng)
        row["survey_status"] = status
        if status == "not_answered":
            return
        score = min(5, max(1, round(rng.gauss(3.9 + operator.mood, 0.9))))
        answers = [("satisfaction", score)]
        if status == "completed":
            answers.append(("solved", 1 if rng.random() < 0.7 + operator.mood / 4 else 2))
        for i, (question, value) in enumerate(answers):
            self.row_answers.append((question, value))
            self.answers.append(
                dict(
                    ticket_id=row["id"],
                    operator_id=operator.id,
                    question=question,
                    answer=value,
                    at=ended + timedelta(seconds=5 * (i + 1)),
                )
            )

    def _commitment(self, row: dict[str, Any], kind: str, allowed: timedelta, odds: tuple[float, float]) -> None:
        """The due time, and when (if yet) the citizen had the answer: in time, late or not yet."""
        rng, started = self.rng, row["started_at"]
        due = started + allowed
        draw = rng.random()
        if draw < odds[0]:
            met: datetime | None = started + allowed * rng.uniform(0.05, 1.0)
        elif draw < odds[0] + odds[1]:
            met = due + allowed * rng.uniform(0.01, 0.6)
        else:
            met = None
        if met is not None and met > self.truth.as_of:
            met = None  # would happen after the data set ends: not answered yet
        row.update(sla_kind=kind, callback_due=due, sla_met_at=met)
        row["status"] = ("closed" if met else "assigned") if kind == "phone_callback" else None

    def _voicemail(self, row: dict[str, Any], reason: str, topic: str | None) -> None:
        rng, started = self.rng, row["started_at"]
        empty = rng.random() < 0.06
        number = None if empty and rng.random() < 0.5 else (row["caller_number"] or self._number())
        at = started + timedelta(seconds=rng.uniform(40, 200))
        row.update(outcome="voicemail", end_reason="caller_hangup", last_state="voicemail", ended_at=at, level=2)
        if empty and number is None:
            row["status"] = "closed"  # nothing said, nobody to call: nothing to answer
        else:
            self._commitment(row, "phone_callback", timedelta(days=10), (0.8, 0.12))
        who = self._name()
        self.voicemails.append(
            dict(
                ticket_id=row["id"],
                box=topic or "general",
                reason=reason,
                asterisk_name=f"vm-syn-{row['id']}",
                duration_s=round(rng.uniform(3, 110), 2),
                speech_s=0.0 if empty else round(rng.uniform(2, 90), 2),
                empty=empty,
                ended_by=rng.choice(("key", "silence", "hangup")),
                callback_number=number,
                callback_source="none" if number is None else "confirmed",
                transcript_status="empty" if empty else "done",
                transcript=None if empty else f"buongiorno sono {who} vi chiamo per la domanda di disoccupazione",
                transcript_attempts=0 if empty else 1,
                created_at=at,
            )
        )

    def web_request(self, ticket_id: int, started: datetime) -> None:
        rng = self.rng
        row = self._base(ticket_id, started, started.astimezone(ROME), "web")
        name = self._name()
        email = f"{name.lower().replace(' ', '.')}{rng.randrange(1000)}@example.it"
        self.truth.personal.emails.add(email)
        phone = self._number() if rng.random() < 0.6 else None
        row.update(caller_name=name, caller_number=phone, topic=WEB_TOPIC.pick(rng))
        self._commitment(row, "web_reply", timedelta(hours=48), (0.91, 0.06))
        row["status"] = "closed" if row["sla_met_at"] else "new"
        replier = rng.choice(self.ops)
        self.web.append(
            dict(
                ticket_id=ticket_id,
                name=name,
                email=email,
                phone=phone,
                subject="Informazioni sui servizi per il lavoro",
                message=f"Sono {name}, vorrei sapere come iscrivermi al centro per l'impiego.",
                received_at=started,
                reply="Gentile utente, trova le informazioni richieste sul portale." if row["sla_met_at"] else None,
                replied_at=row["sla_met_at"],
                replied_by=replier.login if row["sla_met_at"] else None,
            )
        )
        self._count(row, None, None)
        self.tickets.append(row)

    # --- the truth ------------------------------------------------------------------------------

    def _count(self, row: dict[str, Any], operator: Op | None, voicemail: str | None) -> None:
        t = self.truth.cell(row["local_day"], row["topic"], operator.login if operator else None)
        self.truth.tickets += 1
        if row["channel"] == "web":
            t.web_received += 1
        else:
            self._count_phone(t, row, voicemail)
        kind, due, met = row["sla_kind"], row["callback_due"], row["sla_met_at"]
        if kind is None:
            return
        in_time = met is not None and met <= due
        late = (met is not None and met > due) or (met is None and due < self.truth.as_of)
        if kind == "phone_callback":
            t.callbacks += 1
            t.callbacks_in_time += in_time
            t.callbacks_late += late
            t.callbacks_pending += not in_time and not late
        else:
            t.web_due += 1
            t.web_in_time += in_time
            t.web_late += late
            t.web_pending += not in_time and not late

    def _count_phone(self, t: Tally, row: dict[str, Any], voicemail: str | None) -> None:
        t.offered += 1
        line, result = row["line_state"], row["queue_result"]
        t.in_hours += line == "open"
        t.closed_hours += line in ("outside_hours", "holiday", "closure")
        t.admitted += row["queued_at"] is not None
        t.answered += result == "answered"
        t.abandoned += result == "abandoned"
        t.cap_hits += result == "cap"
        t.no_operators += result == "no_operators"
        t.max_wait += result == "max_wait"
        t.caller_choice += result == "caller_choice"
        if result == "answered":
            t.wait_sum += row["wait_s"]
            t.answered_in_sl += row["wait_s"] <= self.truth.service_level_s
        if row["handle_s"] is not None:
            t.handle_sum += row["handle_s"]
            t.handled += 1
        if voicemail is not None:
            t.voicemail[voicemail] += 1
        if row["survey_status"] is not None:
            t.survey_offered += 1
            t.survey_responses += row["survey_status"] in ("completed", "partial")
            for question, value in self.row_answers:
                t.answer(question, value)

    # --- writing --------------------------------------------------------------------------------
