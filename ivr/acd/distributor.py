"""Matches waiting calls with operators: longest-idle first, by skill, one offer per operator.

Everything here runs on the event loop, so state changes need no locks; slow work (dialling an
operator) runs in tasks that report back. Presence lives in the store (it survives restarts);
offered / busy / wrap-up live here.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from datetime import datetime
from statistics import mean
from typing import Any, Protocol

from ivr.acd.agents import PRESENCE_STATES, Agent, AgentState
from ivr.acd.config import QueueSettings
from ivr.acd.offers import OFFERING, Offering
from ivr.acd.offers import OfferFailed as OfferFailed  # the queue's callers catch it from here too
from ivr.acd.operators import OperatorInfo
from ivr.clock import Clock
from ivr.dialout.guard import DIAL_CONTEXT
from ivr.ha.guard import Fenced
from ivr.logcontext import bind_call
from ivr.subscribers import Subscribers
from ivr.tasks import TaskSupervisor
from ivr.telephony.ports import CallChannel
from ivr.tickets.events import EventKind
from ivr.tickets.status import QueueResult

log = logging.getLogger(__name__)

LINE_FAULT_RETRY_S = 1.0


def line_failed(cause: str) -> bool:
    """The offer failed on the line's side, not the operator's: Asterisk refused to place it (its
    HTTP answering 5xx while it restarts) or the engine failed. Counted as missed, it paused every
    operator it was tried on in an Asterisk restart, and queued callbacks waited for nobody."""
    return cause == "error" or cause.startswith("refused:5")


class Offerer(Protocol):
    async def dial(
        self, endpoint: str, *, caller_id: str | None, timeout: float, cancelled: asyncio.Event
    ) -> CallChannel:
        """Ring an operator; return their answered leg, or raise OfferFailed."""
        ...


PresenceSink = Callable[[str, str, str | None], Coroutine[Any, Any, None]]
TicketEventSink = Callable[[int, str, dict[str, Any]], Coroutine[Any, Any, None]]
StateSink = Callable[[str, str, str | None, datetime], None]  # login, state, pause reason, when (not awaited)


@dataclass
class Assignment:
    agent: Agent
    leg: CallChannel


@dataclass
class WaitingCall:
    """A place in the queue. `channel` is None for a queued callback (`virtual`): the caller hung
    up and keeps the place; `ready` says when it may be served (office hours, retry delay)."""

    ticket_id: int
    channel: CallChannel | None
    topic: str | None
    caller: str | None
    since: float  # monotonic time of admission: the order of service
    assigned: asyncio.Future[Assignment] = field(default_factory=lambda: asyncio.get_running_loop().create_future())
    withdrawn: asyncio.Event = field(default_factory=asyncio.Event)
    offering: Agent | None = None
    language: str | None = None  # None: the line's own language, anyone can take it
    virtual: bool = False
    held: bool = False  # the caller is giving a callback number: not offered meanwhile, place kept
    sent_away: QueueResult | None = None  # an emergency closure's choice for this caller (`send_away`)
    # Set with `sent_away`: an announcement being said stops for it (measured on a real call: the
    # caller heard why 12.7 s after the switch, once the queue's welcome had ended).
    away: asyncio.Event = field(default_factory=asyncio.Event)
    told_closed: bool = False  # ... and the caller has heard why
    ready: Callable[[], bool] | None = None

    def servable(self) -> bool:
        return not self.held and not self.withdrawn.is_set() and (self.ready is None or self.ready())


class Distributor:
    def __init__(
        self,
        offerer: Offerer,
        settings: QueueSettings,
        clock: Clock,
        persist_presence: PresenceSink | None = None,
        ticket_event: TicketEventSink | None = None,
        tasks: TaskSupervisor | None = None,
        history: StateSink | None = None,
    ) -> None:
        self.offerer = offerer
        self.history = history  # every operator's every move, with the time (operator time)
        self.ticket_event = ticket_event
        self.settings = settings
        self.clock = clock
        self.persist_presence = persist_presence
        self.agents: dict[str, Agent] = {}
        self.waiting: list[WaitingCall] = []
        self.offers_made = 0
        self._wrapups: dict[str, asyncio.TimerHandle] = {}
        self.tasks = tasks or TaskSupervisor(type(self).__name__)
        self.on_change: Subscribers[[]] = Subscribers()  # a call queued, an operator rung, a presence set

    # --- operators ----------------------------------------------------------------------------

    def sync(self, infos: list[OperatorInfo]) -> None:
        """Bring agents in line with the store (new operators, edits, presence set elsewhere)."""
        now = self.clock.monotonic()
        seen = set()
        for info in infos:
            seen.add(info.login)
            agent = self.agents.get(info.login)
            if agent is None:
                agent = self.agents[info.login] = Agent(info, since=now, idle_since=now, observer=self._moved)
            agent.info = info
            if agent.presence_applied == info.presence_at and info.presence_at is not None:
                continue  # nothing new in the store (our own changes come back this way too)
            agent.presence_applied = info.presence_at
            wanted = PRESENCE_STATES.get(info.presence, AgentState.LOGGED_OUT)
            if agent.state in (AgentState.OFFERED, AgentState.BUSY, AgentState.WRAP_UP):
                if wanted is not AgentState.AVAILABLE:
                    agent.deferred = (wanted, info.pause_reason)
            elif agent.state != wanted or (wanted is AgentState.PAUSED and agent.pause_reason != info.pause_reason):
                agent.move(wanted, now, info.pause_reason)
        for login in set(self.agents) - seen:
            agent = self.agents[login]
            if agent.state in (AgentState.AVAILABLE, AgentState.PAUSED, AgentState.LOGGED_OUT):
                del self.agents[login]
        self._kick()

    def _moved(self, agent: Agent) -> None:
        if self.history is not None:
            self.history(agent.login, agent.state.value, agent.pause_reason, self.clock.now())

    async def set_presence(self, login: str, presence: str, reason: str | None = None) -> Agent:
        agent = self.agents[login]
        wanted = PRESENCE_STATES[presence]
        if (
            agent.state in (AgentState.OFFERED, AgentState.BUSY, AgentState.WRAP_UP)
            and wanted is not AgentState.AVAILABLE
        ):
            agent.deferred = (wanted, reason)
        else:
            if wanted is AgentState.AVAILABLE:
                agent.missed = 0
            # What was asked for during the call is superseded (a pause asked for, then
            # "Disponibile" pressed in wrap-up, paused the operator after their next call).
            agent.deferred = None
            agent.move(wanted, self.clock.monotonic(), reason)
        if self.persist_presence is not None:
            await self.persist_presence(login, presence, reason)
        self._kick()
        return agent

    def phone_registered(self, login: str, registered: bool, *, desk: bool = False) -> None:
        """The softphone (or, with `desk`, the desk's browser phone) registered or went away: an
        unreachable operator is paused, and taken back when a phone returns (only if that was
        the reason for the pause)."""
        agent = self.agents.get(login)
        if agent is None or (agent.desk if desk else agent.registered) == registered:
            return
        log.info("operator %s %s %s", login, "desk" if desk else "softphone", "registered" if registered else "gone")
        if desk:
            # An unregistered desk is simply not rung. Whether the operator is paused follows the
            # desk's heartbeat (ivr.acd.sync), which tells a reload from a closed tab.
            agent.desk = registered
            self._kick()
            return
        agent.registered = registered
        if not registered and not agent.reachable and agent.state is AgentState.AVAILABLE:
            self._auto_pause(agent, "phone_unregistered")
        elif registered and agent.state is AgentState.PAUSED and agent.pause_reason == "phone_unregistered":
            self._auto_resume(agent)
        self._kick()

    def _auto_pause(self, agent: Agent, reason: str) -> None:
        agent.move(AgentState.PAUSED, self.clock.monotonic(), reason)
        if self.persist_presence is not None:
            self.tasks.spawn(self.persist_presence(agent.login, "paused", reason), name=f"presence-{agent.login}")

    def _auto_resume(self, agent: Agent) -> None:
        agent.move(AgentState.AVAILABLE, self.clock.monotonic())
        if self.persist_presence is not None:
            self.tasks.spawn(self.persist_presence(agent.login, "available", None), name=f"presence-{agent.login}")

    # --- calls --------------------------------------------------------------------------------

    def staffed(self, topic: str | None, language: str | None = None) -> bool:
        """Is anyone logged in who could take this call (now or after their current one)?"""
        return any(
            a.handles(topic, self.settings.skill_routing, language)
            and a.reachable
            and a.state is not AgentState.LOGGED_OUT
            and not (a.state is AgentState.PAUSED and a.pause_reason == "phone_unregistered")
            for a in self.agents.values()
        )

    def enqueue(
        self,
        ticket_id: int,
        channel: CallChannel | None,
        topic: str | None,
        caller: str | None,
        *,
        language: str | None = None,
        since: float | None = None,
        virtual: bool = False,
        ready: Callable[[], bool] | None = None,
        head: bool = False,
    ) -> WaitingCall:
        """A call joins the queue at its place by admission time (`since`, monotonic; now when
        not given): a queued callback keeps the place its caller had. With `head`, first of all
        (a call an operator transferred, keeping its arrival time)."""
        when = self.clock.monotonic() if since is None else since
        call = WaitingCall(ticket_id, channel, topic, caller, when, language=language, virtual=virtual, ready=ready)
        index = 0 if head else next((i for i, o in enumerate(self.waiting) if o.since > when), len(self.waiting))
        self.waiting.insert(index, call)
        self._kick()
        return call

    def kick(self) -> None:
        """Look again at the queue (a retry delay ran out, the line opened)."""
        self._kick()

    def withdraw(self, call: WaitingCall) -> None:
        """The call leaves the queue (hangup, voicemail key, too long a wait)."""
        call.withdrawn.set()
        if call in self.waiting:
            self.waiting.remove(call)
        self._changed()

    def send_away(self, result: QueueResult) -> int:
        """An emergency closure's choice for the callers on the line waiting now: each leaves the
        queue within a second, to leave a message (`CLOSED`) or to book a callback (`CALLBACK`).
        A caller whose operator's phone is ringing is served; booked callbacks keep their place
        (dialled when the line reopens). How many were sent."""
        sent = 0
        for call in self.waiting:
            if not call.virtual and call.offering is None and call.sent_away is None:
                call.sent_away, sent = result, sent + 1
                call.away.set()
        log.info("emergency closure: %d waiting caller(s) sent to %s", sent, result)
        return sent

    def ahead(self, call: WaitingCall) -> int:
        """Calls that will be served before this one (same pool of operators)."""
        try:
            index = self.waiting.index(call)
        except ValueError:
            return 0
        return sum(1 for other in self.waiting[:index] if other.topic == call.topic or not self.settings.skill_routing)

    def estimated_wait_s(self, call: WaitingCall) -> float:
        routing = self.settings.skill_routing
        pool = [a for a in self.agents.values() if a.working and a.handles(call.topic, routing, call.language)]
        times = [t for a in self.agents.values() for t in a.handle_times[-20:]]
        handle = mean(times) if times else self.settings.default_handle_s
        return (self.ahead(call) + 1) * handle / max(1, len(pool))

    def resume_busy(self, login: str, ticket_id: int) -> Agent:
        """An operator found talking after an engine restart: busy with that call now, and
        back to the presence they had once it ends (through the usual wrap-up)."""
        agent = self.agents[login]
        now = self.clock.monotonic()
        if agent.state is not AgentState.AVAILABLE:
            if agent.state in (AgentState.PAUSED, AgentState.LOGGED_OUT):
                agent.deferred = (agent.state, agent.pause_reason)
            agent.move(AgentState.AVAILABLE, now)
        agent.move(AgentState.OFFERED, now)
        agent.move(AgentState.BUSY, now)
        agent.ticket_id = ticket_id
        self._changed()
        return agent

    def finished(self, agent: Agent, handle_s: float) -> None:
        """The operator's call ended: wrap-up, then available again (or the presence asked for)."""
        now = self.clock.monotonic()
        agent.handle_times = [*agent.handle_times[-19:], handle_s]
        agent.ticket_id = None
        agent.move(AgentState.WRAP_UP, now)
        delay = self.settings.wrap_up_s if handle_s > 0 else 0.0  # nothing to write up after no talk
        loop = asyncio.get_running_loop()
        self._wrapups[agent.login] = loop.call_later(delay, self._wrap_up_done, agent.login)
        self._changed()

    def _wrap_up_done(self, login: str) -> None:
        self._wrapups.pop(login, None)
        agent = self.agents.get(login)
        if agent is None or agent.state is not AgentState.WRAP_UP:
            return
        now = self.clock.monotonic()
        if agent.deferred is not None:
            state, reason = agent.deferred
            agent.deferred = None
            agent.move(state, now, reason)
        else:
            agent.move(AgentState.AVAILABLE, now)
        self._kick()

    # --- colleagues rung from a call (ivr.acd.control) ------------------------------------------

    def reserve(self, login: str, ticket_id: int) -> Agent:
        """An available operator rung by a colleague: offered, so no queue call rings them too."""
        agent = self.agents[login]
        agent.move(AgentState.OFFERED, self.clock.monotonic())
        agent.ticket_id = ticket_id
        self._changed()
        return agent

    def engage(self, agent: Agent) -> None:
        agent.move(AgentState.BUSY, self.clock.monotonic())
        agent.calls += 1
        self._changed()

    def unreserve(self, agent: Agent) -> None:
        """The colleague did not answer: free again, with no missed offer counted."""
        agent.ticket_id = None
        agent.move(AgentState.AVAILABLE, self.clock.monotonic())
        self._kick()

    # --- matching -----------------------------------------------------------------------------

    def _kick(self) -> None:
        """Offer waiting calls to free operators; safe to call any time, from anywhere."""
        for call in list(self.waiting):
            if call.offering is not None or not call.servable():
                continue
            agent = self._pick(call)
            if agent is None:
                continue
            call.offering = agent
            agent.move(AgentState.OFFERED, self.clock.monotonic())
            agent.ticket_id = call.ticket_id
            self.offers_made += 1
            detail: dict[str, Any] = {"operator": agent.login, "via": agent.via}
            if call.virtual:
                detail["callback"] = True
            self._note(call, EventKind.OFFER, **detail)
            self.tasks.spawn(self._offer(call, agent), name=f"offer-{agent.login}-{call.ticket_id}")
        self._changed()

    def _pick(self, call: WaitingCall) -> Agent | None:
        free = [
            a
            for a in self.agents.values()
            if a.state is AgentState.AVAILABLE
            and a.reachable
            and a.handles(call.topic, self.settings.skill_routing, call.language)
        ]
        return min(free, key=lambda a: a.idle_since) if free else None

    async def _offer(self, call: WaitingCall, agent: Agent) -> None:
        OFFERING.set(Offering(call.ticket_id, call.topic, agent.login))  # this offer's task only
        # The task may have been started from another call's (a callback freeing its operator):
        # its log lines and dial audit belong to the call offered, not to that one.
        call_id = call.channel.id if call.channel is not None else f"callback-{call.ticket_id}"
        bind_call(call_id, call.ticket_id, call.caller)
        DIAL_CONTEXT.set({"login": agent.login, "ticket": call.ticket_id})
        try:
            endpoint = agent.endpoint()
            leg = await self.offerer.dial(
                endpoint, caller_id=call.caller, timeout=self.settings.ring_timeout_s, cancelled=call.withdrawn
            )
        except OfferFailed as exc:
            self._missed(call, agent, exc.cause)
            return
        except Fenced:  # not the operator's miss: this engine may not offer anything any more
            raise
        except Exception:
            log.exception("offer to %s failed", agent.login)
            self._missed(call, agent, "error")
            return
        if call.withdrawn.is_set() or call.assigned.done():
            log.info("call %s left while %s answered; releasing the operator", call.ticket_id, agent.login)
            await leg.hangup()
            call.offering = None
            agent.ticket_id = None
            agent.move(AgentState.AVAILABLE, self.clock.monotonic())
            self._kick()
            return
        agent.missed = 0
        agent.calls += 1
        agent.move(AgentState.BUSY, self.clock.monotonic())
        if call in self.waiting:
            self.waiting.remove(call)
        call.assigned.set_result(Assignment(agent, leg))
        self._kick()

    def _note(self, call: WaitingCall, kind: str, **detail: Any) -> None:
        """Offers on the ticket's timeline: supervisors see who was rung and why it failed."""
        if self.ticket_event is not None:
            self.tasks.spawn(self.ticket_event(call.ticket_id, kind, detail), name=f"ticket-event-{call.ticket_id}")

    def _missed(self, call: WaitingCall, agent: Agent, cause: str) -> None:
        self._note(call, EventKind.OFFER_MISSED, operator=agent.login, cause=cause)
        call.offering = None
        agent.ticket_id = None
        now = self.clock.monotonic()
        line_fault = line_failed(cause)
        if line_fault:
            log.warning("offer to %s failed on the line's side (%s): not counted as missed", agent.login, cause)
        elif cause != "cancelled":
            agent.missed += 1
            log.info("offer to %s not answered (%s); missed %d", agent.login, cause, agent.missed)
        if agent.missed >= self.settings.max_missed_offers:
            agent.move(AgentState.PAUSED, now, "missed_offers")
            if self.persist_presence is not None:
                self.tasks.spawn(
                    self.persist_presence(agent.login, "paused", "missed_offers"), name=f"presence-{agent.login}"
                )
        elif agent.deferred is not None:
            state, reason = agent.deferred
            agent.deferred = None
            agent.move(state, now, reason)
        else:
            agent.move(AgentState.AVAILABLE, now)  # to the back of the idle line: others get a turn
        if line_fault:  # the PBX refuses every offer while it restarts: try again in a moment, not at once
            asyncio.get_running_loop().call_later(LINE_FAULT_RETRY_S, self._kick)
        else:
            self._kick()

    def _changed(self) -> None:
        self.on_change()

    # --- what the console and `ivr queue status` show ----------------------------------------

    def snapshot(self) -> dict[str, Any]:
        now = self.clock.monotonic()
        return {
            "waiting": [
                {
                    "ticket": c.ticket_id,
                    "caller": c.caller,
                    "topic": c.topic,
                    "waited_s": round(now - c.since, 1),
                    "offered_to": c.offering.login if c.offering else None,
                    "callback": c.virtual,
                    "language": c.language,
                }
                for c in self.waiting
            ],
            "in_person": sum(1 for c in self.waiting if not c.virtual),
            "callbacks": sum(1 for c in self.waiting if c.virtual),
            "longest_wait_s": round(max((now - c.since for c in self.waiting if not c.virtual), default=0.0), 1),
            "operators": [
                {
                    "login": a.login,
                    "name": a.info.name,
                    "state": str(a.state),
                    "since_s": round(now - a.since, 1),
                    "reason": a.pause_reason,
                    "registered": a.registered,
                    "desk": a.desk,
                    "reachable": a.reachable,
                    "skills": list(a.info.skills),
                    "calls": a.calls,
                    "ticket": a.ticket_id,
                }
                for a in sorted(self.agents.values(), key=lambda a: a.login)
            ],
        }
