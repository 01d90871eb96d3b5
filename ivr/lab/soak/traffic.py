"""The callers of a soak, drawn from a seeded model of the line's traffic.

Every proportion is a field with a default taken from the charter's service (three menu topics,
Italian with English offered, a quality campaign asking consent, a queue with callbacks and
voicemail, a two-question survey) and from ordinary call-centre figures (most callers reach an
operator, about one in eight gives up waiting, a few press wrong keys or nothing). A soak of a
line configured differently builds the model from its own flow with `TrafficModel.for_line`.

`plan` is a pure function of the model and the seed: one `random.Random(seed)`, never the global
generator, so two runs of the same seed place the same calls at the same moments with the same
keys, and a finding can be replayed.
"""

from __future__ import annotations

import random
from collections.abc import Iterable, Mapping
from typing import TypeVar

from pydantic import BaseModel, ConfigDict, Field, model_validator

from ivr.callflows.model import ConsentNode, Flow, MenuNode, SurveyNode
from ivr.callflows.states import CallState
from ivr.lab.soak.actions import Action, ActionKind, ActionModel, DeskModel, DeskStep, plan_actions, plan_desk
from ivr.lab.soak.days import ServiceDay, service_days
from ivr.lab.soak.model import Goal, Journey

__all__ = [
    "Action",
    "ActionKind",
    "ActionModel",
    "DeskModel",
    "DeskStep",
    "ServiceDay",
    "SurveyQuestion",
    "TrafficModel",
    "plan",
    "plan_actions",
    "plan_desk",
    "service_days",
]

# Italian mobile ranges in use (TIM, Vodafone, WindTre, Iliad, Poste, Fastweb): every caller and
# typed number is one, so each passes the engine's dial-out rule (`dialout.allowed_prefixes`).
MOBILE_PREFIXES = (
    "320", "324", "327", "328", "329", "330", "331", "333", "334", "335", "336", "337", "338", "339",
    "340", "342", "343", "345", "346", "347", "348", "349", "350", "351", "366", "370", "377", "380",
    "388", "389", "391", "392", "393",
)  # fmt: skip
# Typed first by a few callers, so the soak sees the engine refuse them and ask again.
REFUSED_PREFIXES = ("899", "892", "895", "199", "144", "166")
# States a caller can still hang up in (the line's own `hangup`/`ended` are past that point;
# `stub` is no destination of the main flow).
HANGUP_STATES = frozenset(set(CallState) - {CallState.HANGUP, CallState.ENDED, CallState.STUB})
N = TypeVar("N")


def _shares(name: str, shares: Mapping[str, float]) -> None:
    if not shares:
        raise ValueError(f"{name}: at least one entry")
    if any(v < 0 for v in shares.values()):
        raise ValueError(f"{name}: shares must not be negative")
    if abs(sum(shares.values()) - 1.0) > 1e-6:
        raise ValueError(f"{name}: shares must add up to 1 (they add up to {sum(shares.values()):.4f})")


def _pick(rng: random.Random, shares: Mapping[str, float]) -> str:
    keys = sorted(shares)  # a dict's order must not change the draw
    return rng.choices(keys, weights=[shares[k] for k in keys])[0]


class SurveyQuestion(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str
    answers: dict[str, float] = Field(description="key -> share of callers answering it")

    @model_validator(mode="after")
    def _valid(self) -> SurveyQuestion:
        _shares(f"survey {self.id}", self.answers)
        return self


def _default_survey() -> list[SurveyQuestion]:
    return [
        SurveyQuestion(id="satisfaction", answers={"1": 0.04, "2": 0.06, "3": 0.15, "4": 0.35, "5": 0.40}),
        SurveyQuestion(id="solved", answers={"1": 0.75, "2": 0.25}),
    ]


class TrafficModel(BaseModel):
    """Who calls and what they do. Shares are fractions of all callers unless said otherwise."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    # --- the line, as config/callflows/main.yaml and config/nul.yaml describe it ---------------
    menu: dict[str, str] = Field(
        default_factory=lambda: {"1": "citizens", "2": "employers", "3": "agencies"}, description="menu key -> topic"
    )
    default_topic: str = Field("citizens", description="the menu's route with no valid key")
    repeat_key: str | None = "*"
    max_attempts: int = Field(3, ge=1, description="wrong or missing answers before the default route")
    service_language: str = "it"
    language_keys: dict[str, str] = Field(
        default_factory=lambda: {"en": "9"}, description="other languages offered at the welcome -> their key"
    )
    accept_key: str = "1"
    refuse_key: str = "2"
    survey: list[SurveyQuestion] = Field(default_factory=_default_survey)

    # --- who calls ------------------------------------------------------------------------------
    topics: dict[str, float] = Field(
        default_factory=lambda: {"citizens": 0.70, "employers": 0.20, "agencies": 0.10},
        description="the topic callers mean to choose",
    )
    languages: dict[str, float] = Field(default_factory=lambda: {"it": 0.95, "en": 0.05})
    goals: dict[Goal, float] = Field(
        default_factory=lambda: {
            Goal.OPERATOR: 0.55,
            Goal.VOICEMAIL: 0.06,
            Goal.CALLBACK: 0.07,
            Goal.ABANDON: 0.12,
            Goal.HANGUP: 0.13,
            Goal.SILENT: 0.07,
        }
    )
    withheld: float = Field(0.04, ge=0, le=1, description="callers whose number is withheld")

    # --- at the menu (callers who press keys) ---------------------------------------------------
    wrong_keys: float = Field(0.08, ge=0, le=1, description="press one or more keys not in the menu first")
    wrong_key_pool: str = Field("45678", min_length=1, description="keys that are no menu option")
    repeat: float = Field(0.03, ge=0, le=1, description="ask for the menu again first")
    no_keys: float = Field(0.05, ge=0, le=1, description="press nothing at the menu (the default route)")

    # --- consent, asked while a quality campaign is on ------------------------------------------
    consent: dict[str, float] = Field(default_factory=lambda: {"yes": 0.60, "no": 0.25, "silence": 0.15})

    # --- waiting ----------------------------------------------------------------------------------
    abandon_mean_s: float = Field(60.0, gt=0, description="mean patience of those who give up (exponential)")
    abandon_max_s: float = Field(540.0, gt=0, description="below queue.max_wait_s, so they leave before the line")
    patience_s: float = Field(900.0, gt=0, description="everyone else: past queue.max_wait_s, the line decides")
    key_after_min_s: float = Field(5.0, ge=0, description="voicemail/callback goals: earliest key press in queue")
    key_after_max_s: float = Field(180.0, gt=0, description="... and latest")

    # --- the callback-number dialogue -------------------------------------------------------------
    typed_number: float = Field(0.15, ge=0, le=1, description="type another number instead of confirming")
    refused_first: float = Field(0.05, ge=0, le=1, description="of those typing: a premium number first")

    # --- messages -----------------------------------------------------------------------------------
    message_mean_s: float = Field(20.0, gt=0)
    message_max_s: float = Field(100.0, gt=0, description="below voicemail.max_message_s")
    speaks_when_sent: float = Field(
        0.7, ge=0, le=1, description="sent to voicemail by the line (closed, cap, nobody, waited too long): speak"
    )

    # --- hangups --------------------------------------------------------------------------------------
    hangup_states: dict[CallState, float] = Field(
        default_factory=lambda: {
            CallState.STARTED: 0.06,
            CallState.HOURS: 0.06,
            CallState.PLAY: 0.14,
            CallState.CONSENT: 0.08,
            CallState.MENU: 0.20,
            CallState.QUEUE: 0.24,
            CallState.VOICEMAIL: 0.12,
            CallState.SURVEY: 0.10,
        },
        description="goal HANGUP: the state to hang up in",
    )
    hangup_within_s: dict[CallState, float] = Field(
        default_factory=lambda: {
            CallState.STARTED: 3.0,
            CallState.HOURS: 1.5,
            CallState.PLAY: 10.0,
            CallState.CONSENT: 6.0,
            CallState.MENU: 12.0,
            CallState.QUEUE: 120.0,
            CallState.VOICEMAIL: 30.0,
            CallState.SURVEY: 12.0,
        },
        description="goal HANGUP: the moment is drawn uniformly up to this far into the state",
    )
    talk_hangup: float = Field(0.04, ge=0, le=1, description="goal OPERATOR: hang up during the conversation")
    talk_hangup_max_s: float = Field(120.0, gt=0)

    # --- the survey (callers who stay on after the operator) -----------------------------------------
    survey_answers: float = Field(0.70, ge=0, le=1, description="answer every question")
    survey_hangups: float = Field(0.20, ge=0, le=1, description="hang up part-way; the rest press nothing")

    @model_validator(mode="after")
    def _consistent(self) -> TrafficModel:
        _shares("topics", self.topics)
        _shares("languages", self.languages)
        _shares("goals", {str(k): v for k, v in self.goals.items()})
        _shares("consent", self.consent)
        _shares("hangup_states", {str(k): v for k, v in self.hangup_states.items()})
        if set(self.consent) != {"yes", "no", "silence"}:
            raise ValueError("consent: the shares are yes, no and silence")
        unknown = set(self.topics) - set(self.menu.values())
        if unknown:
            raise ValueError(f"topics: {', '.join(sorted(unknown))} not reachable from the menu")
        spoken = set(self.languages) - {self.service_language} - set(self.language_keys)
        if spoken:
            raise ValueError(f"languages: {', '.join(sorted(spoken))} not offered (language_keys)")
        clash = set(self.wrong_key_pool) & (set("".join(self.menu)) | {self.repeat_key or ""})
        if clash:
            raise ValueError(f"wrong_key_pool: {''.join(sorted(clash))} are menu keys")
        bad = set(self.hangup_states) - HANGUP_STATES
        if bad:
            raise ValueError(f"hangup_states: cannot hang up in {', '.join(sorted(bad))}")
        missing = set(self.hangup_states) - set(self.hangup_within_s)
        if missing:
            raise ValueError(f"hangup_within_s: no time for {', '.join(sorted(missing))}")
        if self.survey_answers + self.survey_hangups > 1:
            raise ValueError("survey_answers + survey_hangups must not exceed 1")
        if self.key_after_max_s < self.key_after_min_s:
            raise ValueError("key_after_max_s must not be below key_after_min_s")
        return self

    @classmethod
    def for_line(
        cls, flow: Flow, language_keys: Mapping[str, str], service_language: str = "it", **shares: object
    ) -> TrafficModel:
        """The default proportions on this line's own menu, consent keys, survey and languages."""
        base = cls()
        menu = _first(flow, MenuNode)
        line: dict[str, object] = {"service_language": service_language, "language_keys": dict(language_keys)}
        if menu is not None:
            keys = {k: o.topic for k, o in menu.options.items() if o.topic}
            line |= {"menu": keys, "repeat_key": menu.repeat_key, "max_attempts": menu.max_attempts}
            line["default_topic"] = menu.default.topic or next(iter(keys.values()))
            # No option, nor the repeat or operator key, nor a language key (a slip at the welcome).
            taken = {k[0] for k in menu.options} | {menu.repeat_key or "", menu.operator_key or ""}
            taken |= set(language_keys.values())
            line["wrong_key_pool"] = "".join(d for d in "0123456789" if d not in taken)
            topics = set(keys.values())
            if topics != set(base.topics):
                line["topics"] = {t: 1 / len(topics) for t in sorted(topics)}
        consent = _first(flow, ConsentNode)
        if consent is not None:
            line |= {"accept_key": consent.accept_key, "refuse_key": consent.refuse_key}
        survey = _first(flow, SurveyNode)
        if survey is not None:
            known = {q.id: q for q in base.survey}
            line["survey"] = [
                known[q.id]
                if q.id in known and set(known[q.id].answers) == set(q.keys)
                else SurveyQuestion(id=q.id, answers={k: 1 / len(q.keys) for k in q.keys})
                for q in survey.questions
            ]
        others = sorted(language_keys)
        if set(base.languages) != {service_language, *others}:
            spread = {c: 0.05 / len(others) for c in others}
            line["languages"] = {service_language: 0.95 if others else 1.0, **spread}
        return cls.model_validate(base.model_dump() | line | shares)


def _first(flow: Flow, kind: type[N]) -> N | None:
    return next((n for n in flow.nodes.values() if isinstance(n, kind)), None)


class Numbers:
    """Unique numbers from one generator: a caller id or typed number is never used twice."""

    def __init__(self, rng: random.Random) -> None:
        self.rng, self.used = rng, set[str]()

    def mobile(self) -> str:
        """A national mobile number, as typed on a keypad (`3471234567`)."""
        while True:
            number = self.rng.choice(MOBILE_PREFIXES) + f"{self.rng.randrange(10**7):07d}"
            if number not in self.used:
                self.used.add(number)
                return number

    def refused(self) -> str:
        return self.rng.choice(REFUSED_PREFIXES) + f"{self.rng.randrange(10**6):06d}"


def arrivals(rng: random.Random, duration_s: float, calls_per_min: float, at_least: int = 0) -> list[float]:
    """A Poisson process at the rate. A draw below `at_least` (a profile's promised minimum) is
    replaced by that many uniform points, the process's law given its count."""
    if duration_s <= 0 or calls_per_min <= 0:
        raise ValueError("duration_s and calls_per_min must be positive")
    rate, t, times = calls_per_min / 60.0, 0.0, []
    while True:
        t += rng.expovariate(rate)
        if t >= duration_s:
            break
        times.append(round(t, 3))
    if len(times) < at_least:
        times = sorted(round(rng.uniform(0, duration_s), 3) for _ in range(at_least))
    return times


def plan(
    model: TrafficModel, seed: int, duration_s: float, calls_per_min: float, *, at_least: int = 0
) -> list[Journey]:
    """Every call of the soak, in order of arrival."""
    rng = random.Random(seed)
    numbers = Numbers(rng)
    return [_journey(model, rng, numbers, at) for at in arrivals(rng, duration_s, calls_per_min, at_least)]


def _journey(m: TrafficModel, rng: random.Random, numbers: Numbers, at_s: float) -> Journey:
    goal = Goal(_pick(rng, {str(k): v for k, v in m.goals.items()}))
    withheld = rng.random() < m.withheld
    caller = "" if withheld else "+39" + numbers.mobile()
    silent = goal is Goal.SILENT
    language = m.service_language if silent else _pick(rng, m.languages)
    keys, topic = ([], m.default_topic) if silent else _menu(m, rng)
    consent = {"yes": m.accept_key, "no": m.refuse_key, "silence": None}[_pick(rng, m.consent)]
    fields: dict[str, object] = {}
    if goal is Goal.ABANDON:
        fields["patience_s"] = round(min(m.abandon_max_s, 1.0 + rng.expovariate(1 / m.abandon_mean_s)), 1)
    elif goal in (Goal.VOICEMAIL, Goal.CALLBACK):
        fields["patience_s"] = round(rng.uniform(m.key_after_min_s, m.key_after_max_s), 1)
    else:
        fields["patience_s"] = m.patience_s
    if goal is Goal.HANGUP:
        state = CallState(_pick(rng, {str(k): v for k, v in m.hangup_states.items()}))
        fields["hangup_state"] = str(state)
        fields["hangup_after_s"] = round(rng.uniform(0, m.hangup_within_s[state]), 2)
        if state is CallState.VOICEMAIL:  # gets there by the leave key, then hangs up in it
            fields["patience_s"] = round(rng.uniform(m.key_after_min_s, m.key_after_max_s), 1)
        if state is CallState.SURVEY:
            fields |= _survey(m, rng, hangup=True)
    elif goal is Goal.OPERATOR:
        if rng.random() < m.talk_hangup:
            fields["talk_hangup_s"] = round(rng.uniform(1.0, m.talk_hangup_max_s), 1)
        else:
            fields |= _survey(m, rng)
    speaks = goal is Goal.VOICEMAIL or (not silent and rng.random() < m.speaks_when_sent)
    fields["message_s"] = round(min(m.message_max_s, 3.0 + rng.expovariate(1 / m.message_mean_s)), 1) if speaks else 0
    if not silent and (withheld or rng.random() < m.typed_number):
        typed = [numbers.refused()] if rng.random() < m.refused_first else []
        fields["typed_numbers"] = [*typed, numbers.mobile()]
    return Journey.model_validate(
        {
            "name": f"{goal}/{topic}/{language}",
            "goal": goal,
            "at_s": at_s,
            "caller": caller,
            "language": language,
            "language_key": m.language_keys.get(language) if language != m.service_language else None,
            "menu_keys": keys,
            "topic": topic,
            "consent_key": None if silent else consent,
            **fields,
        }
    )


def _menu(m: TrafficModel, rng: random.Random) -> tuple[list[str], str]:
    """The keys pressed at the menu and the topic the line routes to."""
    meant = _pick(rng, m.topics)
    key = next(k for k in sorted(m.menu) if m.menu[k] == meant)
    if rng.random() < m.no_keys:
        return [], m.default_topic
    keys: list[str] = []
    if m.repeat_key and rng.random() < m.repeat:
        keys.append(m.repeat_key)
    if rng.random() < m.wrong_keys:
        wrong = 1
        while wrong < m.max_attempts and rng.random() < 0.25:
            wrong += 1
        keys += [rng.choice(m.wrong_key_pool) for _ in range(wrong)]
        if wrong >= m.max_attempts:  # out of attempts: the default route, the right key never pressed
            return keys, m.default_topic
    return [*keys, key], meant


def _survey(m: TrafficModel, rng: random.Random, hangup: bool = False) -> dict[str, object]:
    answers = [_pick(rng, q.answers) for q in m.survey]
    draw = rng.random()
    if hangup or m.survey_answers <= draw < m.survey_answers + m.survey_hangups:
        return {"survey_keys": answers[: rng.randrange(len(answers))], "survey_hangup": True}
    if draw < m.survey_answers:
        return {"survey_keys": answers}
    return {}


def summary_counts(journeys: Iterable[Journey]) -> dict[str, dict[str, int]]:
    """Calls per goal, topic and language, for the plan's printout and the report."""
    out: dict[str, dict[str, int]] = {"goal": {}, "topic": {}, "language": {}}
    for j in journeys:
        for name, value in (("goal", str(j.goal)), ("topic", j.topic or "-"), ("language", j.language)):
            out[name][value] = out[name].get(value, 0) + 1
    return out
