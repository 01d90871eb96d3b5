"""An operator as the distributor sees them: a small state machine with an explicit table."""

from __future__ import annotations

import enum
from collections.abc import Callable
from dataclasses import dataclass, field

from ivr.acd.operators import OperatorInfo
from ivr.telephony.dialstring import CARRIER_ENDPOINT, carrier_leg, desk_leg, softphone_leg


class AgentState(enum.StrEnum):
    LOGGED_OUT = "logged_out"
    AVAILABLE = "available"
    OFFERED = "offered"  # a call is ringing on their phone; never two at once
    BUSY = "busy"
    WRAP_UP = "wrap_up"
    PAUSED = "paused"


A = AgentState
AGENT_TRANSITIONS: dict[AgentState, frozenset[AgentState]] = {
    A.LOGGED_OUT: frozenset({A.AVAILABLE, A.PAUSED}),
    A.AVAILABLE: frozenset({A.OFFERED, A.PAUSED, A.LOGGED_OUT}),
    A.OFFERED: frozenset({A.BUSY, A.AVAILABLE, A.PAUSED}),
    A.BUSY: frozenset({A.WRAP_UP}),
    A.WRAP_UP: frozenset({A.AVAILABLE, A.PAUSED, A.LOGGED_OUT}),
    A.PAUSED: frozenset({A.AVAILABLE, A.LOGGED_OUT}),
}
# Presence an operator may ask for; while on a call it takes effect after the wrap-up.
PRESENCE_STATES = {"available": A.AVAILABLE, "paused": A.PAUSED, "logged_out": A.LOGGED_OUT}


LANGUAGE_SKILL = "lang:"  # a skill "lang:en" means the operator takes calls in English


def language_skill(language: str) -> str:
    return f"{LANGUAGE_SKILL}{language}"


class AgentTransitionError(RuntimeError):
    pass


@dataclass
class Agent:
    info: OperatorInfo
    state: AgentState = AgentState.LOGGED_OUT
    since: float = 0.0  # monotonic time of the last state change
    idle_since: float = 0.0  # when they last became available: longest idle first
    registered: bool = False  # softphone registered now
    desk: bool = False  # the desk's browser phone registered now
    missed: int = 0  # unanswered offers in a row
    pause_reason: str | None = None
    deferred: tuple[AgentState, str | None] | None = None  # presence asked for during a call
    calls: int = 0
    handle_times: list[float] = field(default_factory=list)
    ticket_id: int | None = None
    presence_applied: object = None  # presence_at of the stored presence last applied
    # Told of every move, once made (the distributor keeps operator time: ivr.acd.history).
    observer: Callable[[Agent], None] | None = field(default=None, repr=False, compare=False)

    @property
    def login(self) -> str:
        return self.info.login

    @property
    def reachable(self) -> bool:
        return self.desk or (self.info.softphone and self.registered) or self.info.outside_number is not None

    @property
    def via(self) -> str:
        """How an offer reaches them: "browser" (the desk), "softphone" or "phone" (outside number)."""
        if self.desk:
            return "browser"
        return "softphone" if self.info.softphone and self.registered else "phone"

    def endpoint(self, carrier: str = CARRIER_ENDPOINT) -> str:
        """The desk's browser phone when registered, else the softphone when registered, else
        the outside number through the carrier."""
        if self.desk:
            return desk_leg(self.login)
        if self.info.softphone and self.registered:
            return softphone_leg(self.login)
        if self.info.outside_number is not None:
            return carrier_leg(self.info.outside_number, carrier)
        raise AgentTransitionError(f"{self.login} cannot be reached")

    def handles(self, topic: str | None, skill_routing: bool, language: str | None = None) -> bool:
        """Topic skills route only with `skill_routing`; a call in another language than the
        line's own (`language` given) always goes to operators who speak it."""
        if language is not None and language_skill(language) not in self.info.skills:
            return False
        topics = [s for s in self.info.skills if not s.startswith(LANGUAGE_SKILL)]
        return not skill_routing or not topics or topic is None or topic in topics

    def move(self, state: AgentState, now: float, reason: str | None = None) -> None:
        if state == self.state and state is not AgentState.PAUSED:
            return
        if state not in AGENT_TRANSITIONS[self.state] and state != self.state:
            raise AgentTransitionError(f"{self.login}: {self.state} -> {state} is not allowed")
        self.state, self.since = state, now
        self.pause_reason = reason if state is AgentState.PAUSED else None
        if state is AgentState.AVAILABLE:
            self.idle_since = now
        if self.observer is not None:
            self.observer(self)

    @property
    def working(self) -> bool:
        """Logged in and able to take calls now or soon."""
        return self.state in (A.AVAILABLE, A.OFFERED, A.BUSY, A.WRAP_UP)
