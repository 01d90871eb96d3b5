"""What an operator does to the call they are on, from the desk: hold with music, a blind
transfer to another topic's queue, a consultation with a colleague that ends in a handover or
back with the caller, and a third party (a supervisor) joining the conversation.

The conversation itself (ivr.acd.legs) owns the bridge and ends when a leg goes; this module
changes who is in the bridge and tells the conversation through `LiveCall.changed`. Every step
goes on the ticket's timeline.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Coroutine, Iterable
from dataclasses import dataclass, field
from typing import Any

from ivr.acd.agents import Agent, AgentState
from ivr.acd.distributor import Distributor, Offerer
from ivr.acd.offers import OFFERING, OfferFailed, Offering
from ivr.subscribers import Subscribers
from ivr.tasks import TaskSupervisor
from ivr.telephony.errors import AriError, AriUnavailable, CallerHungUp
from ivr.telephony.ports import Bridges, CallChannel
from ivr.tickets import events
from ivr.tickets.events import Event

log = logging.getLogger(__name__)
EventSink = Callable[[int, str, dict[str, Any]], Coroutine[Any, Any, None]]
TicketUpdate = Callable[[int, dict[str, Any]], Coroutine[Any, Any, None]]
_GONE = (CallerHungUp, AriError, AriUnavailable)
SECOND_LEVEL = "secondo-livello"  # a consultation target: whoever of the second level is free
SECOND_LEVEL_SKILL = "second_level"  # the skill that makes an operator part of the second level


class ControlError(Exception):
    """Why a command cannot be done now, in words for the operator."""


class ControlRefused(ControlError):
    """The command is not allowed (not merely impossible now): who may be pulled into a call."""


@dataclass
class Party:
    """A colleague rung from the call: consulted, or joining as a third party."""

    login: str
    agent: Agent | None  # reserved from the queue (None: not taking queue calls, e.g. a supervisor)
    leg: CallChannel | None = None
    task: asyncio.Task[None] | None = None
    stop: asyncio.Event = field(default_factory=asyncio.Event)  # stops the ringing


@dataclass
class LiveCall:
    ticket_id: int
    topic: str | None
    caller: CallChannel
    agent: Agent  # the operator talking with the caller now (changes on a handover)
    operator: CallChannel
    started: float
    bridge_id: str | None = None
    held_since: float | None = None
    consult: Party | None = None
    third: Party | None = None
    transfer_to: str | None = None
    changed: asyncio.Event = field(default_factory=asyncio.Event)

    def view(self) -> dict[str, Any]:
        return {
            "ticket": self.ticket_id,
            "held": self.held_since is not None,
            "consult": None
            if self.consult is None
            else {"login": self.consult.login, "answered": self.consult.leg is not None},
            "third": None
            if self.third is None
            else {"login": self.third.login, "answered": self.third.leg is not None},
            "transfer_to": self.transfer_to,
        }


class CallControl:
    def __init__(
        self,
        bridges: Bridges,
        distributor: Distributor,
        offerer: Offerer,
        ticket_event: EventSink,
        ticket_update: TicketUpdate,
        topics: Callable[[], set[str]],
        ring_timeout_s: float,
        *,
        tasks: TaskSupervisor,
    ) -> None:
        self.tasks = tasks  # the rings of colleagues: stopped with the engine, failures logged
        self.bridges = bridges
        self.distributor = distributor
        self.offerer = offerer
        self.ticket_event = ticket_event
        self.ticket_update = ticket_update
        self.topics = topics
        self.ring_timeout_s = ring_timeout_s
        self.calls: dict[str, LiveCall] = {}  # by the login of the operator talking
        # An operator is no longer on a conversation (it ended, or they handed it over): whoever
        # followed them there (a supervisor) leaves too.
        self.on_left: Subscribers[[str, LiveCall]] = Subscribers()
        # The caller was put on hold or taken back (whoever follows the call may move with it).
        self.on_hold: Subscribers[[LiveCall]] = Subscribers()

    # --- the conversation's side --------------------------------------------------------------

    def open(self, ticket_id: int, topic: str | None, caller: CallChannel, agent: Agent, leg: CallChannel) -> LiveCall:
        live = LiveCall(ticket_id, topic, caller, agent, leg, started=self._now())
        self.calls[agent.login] = live
        return live

    async def close(self, live: LiveCall) -> None:
        """The conversation ended: nobody rung from it stays on the line, nobody stays reserved."""
        self.calls.pop(live.agent.login, None)
        self.on_left(live.agent.login, live)
        for party in (live.consult, live.third):
            if party is not None:
                await self.release(party)
        live.consult = live.third = None
        if live.held_since is not None and not live.caller.hung_up:
            with contextlib.suppress(*_GONE):
                await live.caller.stop_moh()
        live.held_since = None

    def of(self, login: str) -> LiveCall:
        live = self.calls.get(login)
        if live is None or live.bridge_id is None:
            raise ControlError("non sei in conversazione con un chiamante")
        return live

    # --- commands -----------------------------------------------------------------------------

    async def hold(self, login: str) -> LiveCall:
        live = self.of(login)
        if live.held_since is None:
            await self._hold(live)
            await self._note(live, events.call_held(login))
        return live

    async def resume(self, login: str) -> LiveCall:
        live = self.of(login)
        if live.consult is not None:
            raise ControlError("prima concludi o annulla la consultazione")
        if live.held_since is not None:
            held = self._now() - live.held_since
            await self._unhold(live)
            await self._note(live, events.call_unheld(login, round(held, 1)))
        return live

    async def transfer(self, login: str, topic: str) -> LiveCall:
        """Blind: the caller goes back to the queue of `topic`, at its head."""
        live = self.of(login)
        if topic not in self.topics():
            raise ControlError(f"argomento sconosciuto: {topic}")
        if topic == live.topic:
            raise ControlError("la chiamata è già di questo argomento")
        if live.consult is not None or live.third is not None:
            raise ControlError("prima chiudi la consultazione o la conferenza")
        if not self.distributor.staffed(topic):
            raise ControlError("nessun operatore collegato per questo argomento")
        if live.held_since is not None:  # back in the bridge, so leaving it is seen as it happens
            await self._unhold(live)
        live.transfer_to = topic
        await self._note(live, events.transferred(login, live.topic, topic))
        live.changed.set()
        return live

    async def consult(self, login: str, other: str) -> LiveCall:
        """Ring a colleague (or, with SECOND_LEVEL, the second-level operator free longest) while
        the caller holds; they talk with the operator only."""
        live = self.of(login)
        if live.consult is not None or live.third is not None:
            raise ControlError("c'è già un collega in linea")
        if other == SECOND_LEVEL:
            other = second_level_colleague(self.distributor.agents.values(), exclude=login)
        party = self.party(other, live)
        if live.held_since is None:
            await self._hold(live)
            await self._note(live, events.call_held(login))
        live.consult = party
        await self._note(live, events.consult_started(login, other))
        party.task = self.tasks.spawn(self._ring(live, party, consult=True), name=f"consult-{other}")
        return live

    async def complete(self, login: str) -> LiveCall:
        """Hand the caller over to the consulted colleague; the operator leaves the call."""
        live = self.of(login)
        party = live.consult
        if party is None or party.leg is None:
            raise ControlError("nessun collega in consultazione ha ancora risposto")
        assert live.bridge_id is not None
        old_agent, old_leg = live.agent, live.operator
        if party.agent is None:
            raise ControlError("si può passare la chiamata solo a un operatore")
        live.consult = None
        if party.task is not None:
            party.task.cancel()  # it watched the leg as a consultation; now it is the call's
        live.agent, live.operator = party.agent, party.leg
        self.calls.pop(old_agent.login, None)
        self.calls[party.login] = live
        self.on_left(old_agent.login, live)
        await self._unhold(live)
        with contextlib.suppress(*_GONE):
            await old_leg.hangup()
        self.distributor.finished(old_agent, self._now() - live.started)
        live.started = self._now()
        await self.ticket_update(
            live.ticket_id, {"operator_id": party.agent.info.id, "destination": f"operator:{party.login}"}
        )
        await self._note(live, events.consult_ended(old_agent.login, party.login, "completed"))
        live.changed.set()
        return live

    async def cancel(self, login: str) -> LiveCall:
        """End the consultation (or the third party's presence) and go back to the caller."""
        live = self.of(login)
        if live.consult is not None:
            party, live.consult = live.consult, None
            await self.release(party)
            await self._note(live, events.consult_ended(login, party.login, "cancelled"))
            await self.resume(login)
        elif live.third is not None:
            party, live.third = live.third, None
            await self.release(party)
            await self._note(live, events.conference_left(party.login, "removed"))
        return live

    async def conference(self, login: str, other: str) -> LiveCall:
        """A third party (a supervisor) joins the operator and the caller."""
        live = self.of(login)
        if live.consult is not None or live.third is not None:
            raise ControlError("c'è già un collega in linea")
        if other == SECOND_LEVEL:
            other = second_level_colleague(self.distributor.agents.values(), exclude=login)
        party = self.party(other, live)
        if live.held_since is not None:
            await self.resume(login)
        live.third = party
        party.task = self.tasks.spawn(self._ring(live, party, consult=False), name=f"conference-{other}")
        return live

    # --- helpers ------------------------------------------------------------------------------

    def _now(self) -> float:
        return self.distributor.clock.monotonic()

    def party(self, other: str, live: LiveCall) -> Party:
        """Only a colleague who is logged in may be rung into a call: a logged-out one is off
        duty (their outside number would ring at home), and nobody rings themself."""
        if other == live.agent.login:
            raise ControlRefused("non puoi chiamare te stesso nella chiamata")
        agent = self.distributor.agents.get(other)
        if agent is None:
            raise ControlError(f"operatore sconosciuto: {other}")
        if agent.state is AgentState.LOGGED_OUT:
            raise ControlRefused(f"{agent.info.name} non è collegato: si possono chiamare solo i colleghi collegati")
        if not agent.reachable:
            raise ControlError(f"{agent.info.name} non ha un telefono raggiungibile ora")
        if agent.state is AgentState.AVAILABLE:
            return Party(other, self.distributor.reserve(other, live.ticket_id))
        if agent.state is AgentState.PAUSED:
            return Party(other, None)  # logged in, not taking queue calls now (a supervisor): rung all the same
        raise ControlError(f"{agent.info.name} è impegnato in un'altra chiamata")

    async def _hold(self, live: LiveCall) -> None:
        assert live.bridge_id is not None
        live.held_since = self._now()
        with contextlib.suppress(AriError):
            await self.bridges.remove_channel(live.bridge_id, live.caller.id)
        await live.caller.start_moh()
        self.on_hold(live)

    async def _unhold(self, live: LiveCall) -> None:
        assert live.bridge_id is not None
        live.held_since = None
        await live.caller.stop_moh()
        await self.bridges.add_channels(live.bridge_id, [live.caller.id])
        self.on_hold(live)

    async def _ring(self, live: LiveCall, party: Party, *, consult: bool) -> None:
        """Ring the colleague; once they answer, into the bridge until they hang up."""
        agent = self.distributor.agents[party.login]
        OFFERING.set(Offering(live.ticket_id, live.topic, party.login))  # at home, they press 1 too
        try:
            leg = await self.offerer.dial(
                agent.endpoint(), caller_id=None, timeout=self.ring_timeout_s, cancelled=party.stop
            )
        except (OfferFailed, AriError, AriUnavailable) as exc:
            cause = exc.cause if isinstance(exc, OfferFailed) else "error"
            await self._party_failed(live, party, consult, cause)
            return
        if (live.consult if consult else live.third) is not party or live.bridge_id is None:
            with contextlib.suppress(*_GONE):
                await leg.hangup()
            return
        party.leg = party.leg or leg
        if party.agent is not None:
            self.distributor.engage(party.agent)
        try:
            await self.bridges.add_channels(live.bridge_id, [leg.id])
        except AriError as exc:
            log.error("ticket %s: %s not joined: %s", live.ticket_id, party.login, exc)
        if not consult:
            await self._note(live, events.conference_joined(live.agent.login, party.login))
        await leg.wait_gone()
        if live.third is party:  # they hung up by themselves
            live.third = None
            await self.release(party)
            await self._note(live, events.conference_left(party.login, "hung_up"))
        elif live.consult is party:
            live.consult = None
            await self.release(party)
            await self._note(live, events.consult_ended(live.agent.login, party.login, "hung_up"))

    async def _party_failed(self, live: LiveCall, party: Party, consult: bool, cause: str) -> None:
        if consult and live.consult is party:
            live.consult = None
            await self._note(live, events.consult_ended(live.agent.login, party.login, cause))
        elif not consult and live.third is party:
            live.third = None
            await self._note(live, events.conference_left(party.login, cause))
        if party.agent is not None and party.agent.state is AgentState.OFFERED:
            self.distributor.unreserve(party.agent)

    async def release(self, party: Party) -> None:
        """Off the line and back to the queue: stop the ring, hang up, end the reservation."""
        party.stop.set()
        if party.leg is not None:
            with contextlib.suppress(*_GONE):
                await party.leg.hangup()
        if party.agent is None:
            return
        if party.agent.state is AgentState.OFFERED:
            self.distributor.unreserve(party.agent)
        elif party.agent.state is AgentState.BUSY:
            self.distributor.finished(party.agent, 0.0)

    async def _note(self, live: LiveCall, event: Event) -> None:
        await self.ticket_event(live.ticket_id, event.kind, event.detail or {})


def second_level_colleague(agents: Iterable[Agent], *, exclude: str) -> str:
    """The second-level operator free and reachable for the longest time (not the one asking)."""
    free = [
        a
        for a in agents
        if a.login != exclude
        and a.state is AgentState.AVAILABLE
        and a.reachable
        and SECOND_LEVEL_SKILL in a.info.skills
    ]
    if not free:
        raise ControlError("nessun operatore del secondo livello è libero ora")
    return min(free, key=lambda a: a.idle_since).login
