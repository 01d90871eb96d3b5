"""What happens on the line besides calls, as data: web requests and their answers, supervisors
listening, closures, operators' presence and call handling, outcomes filed.

Timed things are `Action`s (a kind, a moment, a few parameters) that the soak's driver carries
out at that moment. What an operator does with each conversation cannot be timed in advance
(which operator takes which call is the line's business), so it is a sequence of `DeskStep`s the
simulated operators take in turn, one per conversation: deterministic for a seed all the same.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable, Sequence
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field, model_validator

from ivr.lab.soak.days import ServiceDay
from ivr.lab.soak.faults import Fault

Param = str | int | float | bool
# ivr/console/desk.py's PAUSE_REASONS: the reasons an operator picks on the desk.
PAUSE_REASONS = ("Pausa", "Pranzo", "Formazione", "Riunione", "Attività di back office")
OUTCOMES = ("resolved", "escalated", "referred")  # ivr/tickets/store.py
SECOND_LEVEL_BEFORE_END_S = 60.0  # inside the day's quiet end (ivr.lab.soak.plan.DAY_QUIET_S)


class ActionKind(StrEnum):
    WEB_REQUEST = "web_request"  # a citizen files a request (ref, topic, email)
    WEB_REPLY = "web_reply"  # the first level answers it (ref)
    WEB_ESCALATE = "web_escalate"  # passed to the second level; the citizen is told by e-mail (ref)
    WEB_SECOND_REPLY = "web_second_reply"  # the second level's answer by e-mail (ref)
    LISTEN_RECORDING = "listen_recording"  # a supervisor plays a recording (the latest not yet heard)
    LISTEN_VOICEMAIL = "listen_voicemail"  # ... a voicemail message
    CLOSURE_ON = "closure_on"  # an extra closure starts now (ref, reason)
    CLOSURE_OFF = "closure_off"  # ... and is lifted (ref)
    NOTICE_ON = "notice_on"  # a service notice, said after the welcome from now (ref)
    NOTICE_OFF = "notice_off"  # ... and lifted (ref)
    PAUSE = "pause"  # operator, reason (during a call: after it)
    AVAILABLE = "available"  # operator back from a pause or a login
    END_WRAP_UP = "end_wrap_up"  # operator presses "Disponibile" during wrap-up (skipped if not in it)
    LOGOUT = "logout"  # operator
    LOGIN = "login"  # operator
    HOLD = "hold"  # the conversation up longest: caller on hold for hold_s
    TRANSFER = "transfer"  # ... sent back to the queue of topic
    CONSULT = "consult"  # ... a colleague consulted; complete (pass the call) or cancel
    CONFERENCE = "conference"  # ... a colleague added (a supervisor's right)
    SECOND_LEVEL_ROUND = "second_level_round"  # the day's phone callbacks: each assigned, its call recorded
    SUPERVISE = "supervise"  # the team leader listens to the conversation up longest, coaches, leaves


class Action(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    kind: ActionKind
    at_s: float = Field(ge=0, description="seconds after the soak's start")
    params: dict[str, Param] = Field(default_factory=dict)


class ActionModel(BaseModel):
    """Rates of the non-call traffic, per hour of soak (per operator where said)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    web_requests_per_h: float = Field(60.0, ge=0)
    web_with_email: float = Field(0.85, ge=0, le=1, description="the citizen gives an e-mail address")
    web_replied: float = Field(0.80, ge=0, le=1, description="answered at the first level")
    web_escalated: float = Field(0.15, ge=0, le=1, description="passed to the second level; the rest wait")
    web_second_replied: float = Field(0.80, ge=0, le=1, description="of those escalated: answered")
    web_answer_within_s: float = Field(900.0, gt=0, description="real seconds to each answer, at most")
    recordings_listened_per_h: float = Field(6.0, ge=0)
    voicemail_listened_per_h: float = Field(12.0, ge=0)
    closures_per_day: int = Field(1, ge=0, description="on days of at least closure_min_day_s")
    closure_s: float = Field(120.0, gt=0)
    closure_min_day_s: float = Field(600.0, gt=0)
    notices_per_day: int = Field(1, ge=0, description="on days of at least notice_min_day_s")
    notice_s: float = Field(90.0, gt=0)
    notice_min_day_s: float = Field(120.0, gt=0)
    pauses_per_operator_h: float = Field(2.0, ge=0)
    pause_s: tuple[float, float] = (30.0, 180.0)
    logouts_per_operator_h: float = Field(0.5, ge=0)
    away_s: tuple[float, float] = (60.0, 300.0)
    wrap_up_ends_per_operator_h: float = Field(3.0, ge=0)
    holds_per_h: float = Field(10.0, ge=0)
    hold_s: tuple[float, float] = (5.0, 40.0)
    transfers_per_h: float = Field(4.0, ge=0)
    consults_per_h: float = Field(4.0, ge=0)
    consult_completed: float = Field(0.6, ge=0, le=1)
    conferences_per_h: float = Field(1.0, ge=0)
    supervisions_per_day: int = Field(1, ge=0, description="on days of at least supervision_min_day_s")
    supervision_min_day_s: float = Field(120.0, gt=0)
    supervise_mode_s: float = Field(4.0, gt=0, description="how long the leader stays in each mode")
    supervise_wait_s: float = Field(
        90.0, ge=0, description="how long the leader, paused, waits for their own call to end, and a call up"
    )

    @model_validator(mode="after")
    def _valid(self) -> ActionModel:
        if self.web_replied + self.web_escalated > 1:
            raise ValueError("web_replied + web_escalated must not exceed 1")
        for name in ("pause_s", "away_s", "hold_s"):
            low, high = getattr(self, name)
            if not 0 < low <= high:
                raise ValueError(f"{name}: (shortest, longest), both positive")
        return self


class DeskModel(BaseModel):
    """What operators do with a conversation."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    talk_s: tuple[float, float] = (20.0, 150.0)
    outcomes: dict[str, float] = Field(default_factory=lambda: {"resolved": 0.75, "escalated": 0.15, "referred": 0.10})
    with_article: float = Field(0.5, ge=0, le=1, description="an outcome filed with a knowledge-base article")

    @model_validator(mode="after")
    def _valid(self) -> DeskModel:
        if set(self.outcomes) - set(OUTCOMES) or abs(sum(self.outcomes.values()) - 1) > 1e-6:
            raise ValueError(f"outcomes: shares of {', '.join(OUTCOMES)} adding up to 1")
        if not 0 < self.talk_s[0] <= self.talk_s[1]:
            raise ValueError("talk_s: (shortest, longest), both positive")
        return self


class DeskStep(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    talk_s: float = Field(gt=0, description="the operator hangs up after this long")
    outcome: str
    article: bool = Field(description="the outcome is filed with a knowledge-base article of the call's topic")


def plan_desk(model: DeskModel, seed: int, count: int) -> list[DeskStep]:
    rng = random.Random(f"desk:{seed}")
    names = sorted(model.outcomes)
    return [
        DeskStep(
            talk_s=round(rng.uniform(*model.talk_s), 1),
            outcome=rng.choices(names, weights=[model.outcomes[n] for n in names])[0],
            article=rng.random() < model.with_article,
        )
        for _ in range(count)
    ]


def _times(rng: random.Random, per_h: float, start: float, end: float) -> list[float]:
    """A Poisson process of `per_h` events per hour over [start, end)."""
    out: list[float] = []
    if per_h <= 0:
        return out
    t = start
    while True:
        t += rng.expovariate(per_h / 3600)
        if t >= end:
            return out
        out.append(t)


def plan_actions(
    model: ActionModel,
    seed: int,
    until_s: float,
    days: Sequence[ServiceDay],
    operators: Sequence[str],
    topics: Sequence[str],
    faults: Sequence[Fault] = (),
) -> list[Action]:
    """Every timed action before `until_s` (the drain: nothing new after it), in time order.
    Each operator's presence episodes follow one another and end logged in and available; a
    supervision is placed clear of `faults` where its day has room (`clear_of_faults`)."""
    rng = random.Random(f"actions:{seed}")
    out: list[Action] = []

    def add(kind: ActionKind, at_s: float, **params: Param) -> None:
        out.append(Action(kind=kind, at_s=math.floor(at_s * 10) / 10, params=params))  # never rounded past until_s

    for n, at in enumerate(_times(rng, model.web_requests_per_h, 0, until_s)):
        ref = f"web-{n + 1:04d}"
        add(ActionKind.WEB_REQUEST, at, ref=ref, topic=rng.choice(topics), email=rng.random() < model.web_with_email)
        draw, later = rng.random(), at + rng.uniform(10, model.web_answer_within_s)
        if draw < model.web_replied and later < until_s:
            add(ActionKind.WEB_REPLY, later, ref=ref)
        elif draw < model.web_replied + model.web_escalated and later < until_s:
            add(ActionKind.WEB_ESCALATE, later, ref=ref)
            second = later + rng.uniform(10, model.web_answer_within_s)
            if rng.random() < model.web_second_replied and second < until_s:
                add(ActionKind.WEB_SECOND_REPLY, second, ref=ref)
    for at in _times(rng, model.recordings_listened_per_h, 0, until_s):
        add(ActionKind.LISTEN_RECORDING, at)
    for at in _times(rng, model.voicemail_listened_per_h, 0, until_s):
        add(ActionKind.LISTEN_VOICEMAIL, at)
    for day in days:
        end = min(day.end_s, until_s)
        if end - day.start_s < model.closure_min_day_s:
            continue
        for c in range(model.closures_per_day):
            length = min(model.closure_s, (end - day.start_s) / 4)
            on = rng.uniform(day.start_s + 30, end - length - 30)
            ref = f"soak-{day.index}-{c + 1}"
            add(ActionKind.CLOSURE_ON, on, ref=ref, reason="Chiusura straordinaria (prova di carico)")
            add(ActionKind.CLOSURE_OFF, on + length, ref=ref)
    notes = random.Random(f"notices:{seed}")  # a draw of its own: the rest of the plan as before notices
    for day in days:
        end = min(day.end_s, until_s)
        if end - day.start_s < model.notice_min_day_s:
            continue
        for c in range(model.notices_per_day):
            length = min(model.notice_s, (end - day.start_s) / 2)
            on = notes.uniform(day.start_s + 20, max(day.start_s + 20, end - length - 20))
            ref = f"avviso-{day.index}-{c + 1}"
            add(ActionKind.NOTICE_ON, on, ref=ref)
            add(ActionKind.NOTICE_OFF, on + length, ref=ref)
    follows = random.Random(f"supervision:{seed}")  # a draw of its own: the rest of the plan as before
    for day in days:
        end = min(day.end_s, until_s)
        if end - day.start_s < model.supervision_min_day_s:
            continue
        for _ in range(model.supervisions_per_day):
            at = clear_of_faults(follows.uniform(day.start_s + 40, end - 40), faults, end)
            add(ActionKind.SUPERVISE, at, mode_s=model.supervise_mode_s, wait_s=model.supervise_wait_s)
    for day in days:  # the second level works through the day's callbacks in its quiet end
        at = min(day.end_s, until_s) - SECOND_LEVEL_BEFORE_END_S
        if at > day.start_s:
            add(ActionKind.SECOND_LEVEL_ROUND, at)
    for login in operators:
        _presence(model, rng, login, until_s, add)
    for kind, per_h in (
        (ActionKind.HOLD, model.holds_per_h),
        (ActionKind.TRANSFER, model.transfers_per_h),
        (ActionKind.CONSULT, model.consults_per_h),
        (ActionKind.CONFERENCE, model.conferences_per_h),
    ):
        for at in _times(rng, per_h, 0, until_s):
            if kind is ActionKind.HOLD:
                add(kind, at, hold_s=round(rng.uniform(*model.hold_s), 1))
            elif kind is ActionKind.TRANSFER:
                add(kind, at, topic=rng.choice(topics))
            elif kind is ActionKind.CONSULT:
                add(kind, at, complete=rng.random() < model.consult_completed)
            else:
                add(kind, at)
    return sorted(out, key=lambda a: (a.at_s, a.kind, sorted(a.params.items())))


def _presence(model: ActionModel, rng: random.Random, login: str, until_s: float, add: Callable[..., None]) -> None:
    """One operator's pauses, logouts and early ends of wrap-up, never two at once."""
    total = model.pauses_per_operator_h + model.logouts_per_operator_h + model.wrap_up_ends_per_operator_h
    if total <= 0:
        return
    t = 0.0
    while True:
        t += rng.expovariate(total / 3600)
        draw = rng.random() * total
        if draw < model.pauses_per_operator_h:
            back = t + rng.uniform(*model.pause_s)
            if back >= until_s:
                return
            add(ActionKind.PAUSE, t, operator=login, reason=rng.choice(PAUSE_REASONS))
            add(ActionKind.AVAILABLE, back, operator=login)
        elif draw < model.pauses_per_operator_h + model.logouts_per_operator_h:
            back = t + rng.uniform(*model.away_s) + 1  # logged in, then available a second later
            if back >= until_s:
                return
            add(ActionKind.LOGOUT, t, operator=login)
            add(ActionKind.LOGIN, back - 1, operator=login)
            add(ActionKind.AVAILABLE, back, operator=login)
        else:
            back = t
            if back >= until_s:
                return
            add(ActionKind.END_WRAP_UP, t, operator=login)
        t = back


# A supervision session spans the leader's wait for their own call to end, the session itself,
# and the 30 s after it in which check 34 holds a fault may have taken its end.
SESSION_REACH_S, AFTER_FAULT_S = 70.0, 10.0


def clear_of_faults(at_s: float, faults: Sequence[Fault], latest_s: float) -> float:
    """A supervision session a fault touches is not judged by check 34 (the short soak's only one
    met an Asterisk restart): it moves past the faults that would touch it when that is still by
    `latest_s` (its day's end for calls: calls placed until then are still up for a while), else
    stays where it was drawn."""
    at = at_s
    while hit := [f for f in faults if f.at_s - SESSION_REACH_S <= at <= f.end_s + AFTER_FAULT_S]:
        at = max(f.end_s for f in hit) + AFTER_FAULT_S + 0.1
    return at if at <= latest_s else at_s
