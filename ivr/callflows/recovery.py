"""Calls that outlive the engine: picked up where their tickets say they were.

If the engine process dies (killed, crashed, upgraded) Asterisk keeps its calls in the Stasis
app: callers in the menu or the queue, callers talking with an operator in a bridge, callers
leaving a message. When the engine comes back the event socket's resync hands each of them
over here, and each one goes on from its ticket's last state: a conversation keeps its bridge,
a caller in the queue keeps their admission (the daily count is not touched again), a message
being recorded is kept. Tickets whose call ended while nobody watched are closed as lost.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable, Collection
from dataclasses import dataclass, field

from ivr.callflows.dispatcher import CallDispatcher
from ivr.callflows.facts import CallFacts, Rejoin
from ivr.callflows.model import Flow, QueueNode
from ivr.callflows.session import Resume
from ivr.callflows.states import CallState
from ivr.clock import Clock
from ivr.tasks import spawn
from ivr.telephony.ari import AriClient
from ivr.telephony.ari_channel import AriChannel
from ivr.telephony.errors import AriError, AriUnavailable, CallerHungUp
from ivr.tickets.events import MESSAGE_ENDS, RECORDING_ENDS, EventKind
from ivr.tickets.models import CallOutcome
from ivr.tickets.status import QueueResult, not_served_reason
from ivr.tickets.store import CallClosing, SqlTicketStore, TicketView

log = logging.getLogger(__name__)


@dataclass
class RecoveryReport:
    """What the last pick-up found (for the logs, the health API and tests)."""

    talking: int = 0
    resumed: dict[str, int] = field(default_factory=dict)  # node type -> calls resumed there
    new_calls: int = 0
    hung_up: int = 0
    legs_released: int = 0
    bridges_removed: int = 0
    tickets_closed: int = 0


@dataclass(frozen=True)
class _Bridge:
    id: str
    channels: list[str]


class Recovery:
    def __init__(
        self,
        client: AriClient,
        store: SqlTicketStore,
        dispatcher: CallDispatcher,
        flow: Flow,
        claim_operator: Callable[[int, int], str | None],
        clock: Clock,
    ) -> None:
        self.client = client
        self.store = store
        self.dispatcher = dispatcher
        self.flow = flow
        self.claim_operator = claim_operator  # (operator id, ticket) -> login, marked busy; None if unknown
        self.clock = clock
        self.ready = False
        self.report = RecoveryReport()
        self._held: list[tuple[AriChannel, list[str]]] = []
        self._legs: dict[str, AriChannel] = {}

    def adopt(self, channel: AriChannel, args: list[str]) -> None:
        """A channel found in the app. Until the engine is fully up (operators loaded) it waits."""
        if not self.ready:
            self._held.append((channel, args))
            return
        spawn(self._adopt_all([(channel, args)]), name=f"adopt-{channel.id}")

    async def run(self) -> RecoveryReport:
        """Pick up what was found while starting, then close the tickets of calls that are gone."""
        self.ready = True
        held, self._held = self._held, []
        await self._adopt_all(held)
        await self._close_lost_tickets()
        r = self.report
        if held or r.tickets_closed:
            log.info(
                "picked up %d call(s): %d talking, resumed %s, %d new; released %d operator leg(s), "
                "removed %d bridge(s), closed %d lost ticket(s)",
                len(held) - r.legs_released - r.talking,
                r.talking,
                r.resumed,
                r.new_calls,
                r.legs_released,
                r.bridges_removed,
                r.tickets_closed,
            )
        return r

    # --- adopting -------------------------------------------------------------------------------

    async def _adopt_all(self, found: list[tuple[AriChannel, list[str]]]) -> None:
        """Decide for every call first, then act: a caller resumed in the queue must not be
        offered to an operator who is still talking with another resumed caller."""
        bridges = await self._bridges()
        for channel, args in found:
            if args[:1] == ["operator"]:
                self._legs[channel.id] = channel
        plans: list[tuple[AriChannel, list[str], TicketView | None, Resume | None]] = []
        for channel, args in found:
            if args[:1] != ["operator"]:
                try:
                    ticket = await self.store.by_call_uid(channel.id)
                except Exception as exc:  # the store is down: the call is better served from the start
                    log.warning("call %s: ticket not readable (%s); served as a new call", channel.id, exc)
                    ticket = None
                plans.append((channel, args, ticket, self._plan(channel.id, ticket, bridges)))
        for channel, args, ticket, resume in plans:
            try:
                await self._act(channel, args, ticket, resume, bridges)
            except (AriError, AriUnavailable, CallerHungUp) as exc:
                log.warning("call %s could not be picked up: %s", channel.id, exc)
        for leg in list(self._legs.values()):  # operator legs nobody is talking to any more
            with contextlib.suppress(AriError, AriUnavailable, CallerHungUp):
                await leg.hangup()
            self.report.legs_released += 1
        self._legs.clear()
        await self._remove_idle_bridges()

    def _plan(self, caller_id: str, ticket: TicketView | None, bridges: dict[str, _Bridge]) -> Resume | None:
        """Where the call goes on from; a conversation claims its operator at once."""
        if ticket is None or not ticket.open:
            return None
        state, _, node = (ticket.last_state or "").partition(":")
        rejoin = self._rejoin(ticket, node, bridges.get(caller_id), caller_id)
        if rejoin is not None:
            return Resume(ticket, node, CallFacts(rejoin=rejoin))
        return self._where(ticket, state, node)

    async def _act(
        self,
        channel: AriChannel,
        args: list[str],
        ticket: TicketView | None,
        resume: Resume | None,
        bridges: dict[str, _Bridge],
    ) -> None:
        if ticket is None:  # it entered the app while nobody was listening: a new call
            self.report.new_calls += 1
            self.dispatcher.on_call(channel, args or ["inbound"])
            return
        if not ticket.open:  # its end was recorded, only the hangup was missed
            await channel.hangup()
            self.report.hung_up += 1
            return
        bridge = bridges.get(channel.id)
        if resume is not None and resume.facts.rejoin is not None:
            self.report.talking += 1
            self.dispatcher.resume(channel, resume)
            return
        if bridge is not None:  # the operator is gone: leave the empty conversation
            with contextlib.suppress(AriError):
                await self.client.post(f"bridges/{bridge.id}/removeChannel", channel=channel.id)
        if resume is None:
            await channel.hangup()
            await self._close(ticket, CallOutcome.FAILED, "lost_on_restart")
            return
        kind = self.flow.nodes[resume.node].type
        self.report.resumed[kind] = self.report.resumed.get(kind, 0) + 1
        self.dispatcher.resume(channel, resume)

    def _rejoin(self, ticket: TicketView, node: str, bridge: _Bridge | None, caller_id: str) -> Rejoin | None:
        """Still talking with the operator: the same bridge, the same operator (claimed now)."""
        if bridge is None or ticket.operator_id is None or not isinstance(self.flow.nodes.get(node), QueueNode):
            return None
        legs = [c for c in bridge.channels if c != caller_id and c in self._legs]
        if not legs:
            return None
        login = self.claim_operator(ticket.operator_id, ticket.id)
        if login is None:
            return None
        recording = _pending(ticket, EventKind.RECORDING_STARTED, RECORDING_ENDS)
        return Rejoin(bridge.id, self._legs.pop(legs[0]), login, recording)

    def _where(self, ticket: TicketView, state: str, node: str) -> Resume | None:
        """The node to go on from, and what it must know. Why a caller leaves a message is read
        back from the ticket's queue result, whether the engine died in the queue or in the
        voicemail node after it."""
        current = self.flow.nodes.get(node)
        reason = not_served_reason(ticket.queue_result)
        if isinstance(current, QueueNode):
            if ticket.queue_result == QueueResult.WAITING:
                return Resume(ticket, node, CallFacts(resumed=True, admitted=True))
            if ticket.queue_result == QueueResult.ANSWERED:  # the operator left while nobody watched
                target = current.next or current.fallback
                return Resume(ticket, target, CallFacts(resumed=True, operator_id=ticket.operator_id))
            return Resume(ticket, current.fallback, CallFacts(resumed=True, voicemail_reason=reason))
        if state == CallState.VOICEMAIL and current is not None:
            facts = CallFacts(
                resumed=True,
                voicemail_reason=reason,
                resume_message=_saved_message(ticket),
                resume_recording=_pending(ticket, EventKind.VOICEMAIL_RECORDING, MESSAGE_ENDS),
            )
            return Resume(ticket, node, facts)
        if state == CallState.SURVEY and current is not None:
            return Resume(ticket, node, CallFacts(resumed=True, operator_id=ticket.operator_id))
        if current is not None and state not in (CallState.HANGUP, CallState.STUB, CallState.ENDED):
            return Resume(ticket, node, CallFacts(resumed=True))
        return None

    # --- cleaning up ------------------------------------------------------------------------------

    async def _bridges(self) -> dict[str, _Bridge]:
        """channel id -> the bridge it is in."""
        try:
            found = await self.client.get("bridges")
        except (AriError, AriUnavailable) as exc:
            log.warning("bridges not listed: %s", exc)
            return {}
        result: dict[str, _Bridge] = {}
        for item in found if isinstance(found, list) else []:
            if isinstance(item, dict) and isinstance(item.get("id"), str):
                bridge = _Bridge(item["id"], [c for c in item.get("channels") or [] if isinstance(c, str)])
                for channel_id in bridge.channels:
                    result[channel_id] = bridge
        return result

    async def _remove_idle_bridges(self) -> None:
        """Bridges are not destroyed by Asterisk on their own; ours with fewer than two callers
        that this process is not using are leftovers."""
        try:
            found = await self.client.get("bridges")
        except (AriError, AriUnavailable):
            return
        in_use = set(self.dispatcher.sessions)
        for item in found if isinstance(found, list) else []:
            if not isinstance(item, dict) or not str(item.get("name", "")).startswith("call-"):
                continue
            channels = [c for c in item.get("channels") or [] if isinstance(c, str)]
            if len(channels) < 2 and not in_use.intersection(channels):
                with contextlib.suppress(AriError):
                    await self.client.delete(f"bridges/{item['id']}")
                self.report.bridges_removed += 1

    async def _close_lost_tickets(self) -> None:
        try:
            live = {c["id"] for c in await self.client.get("channels") if isinstance(c, dict) and "id" in c}
        except (AriError, AriUnavailable) as exc:
            log.warning("open tickets not checked: %s", exc)
            return
        for ticket in await self.store.open_calls():
            if ticket.call_uid not in live and ticket.call_uid not in self.dispatcher.sessions:
                await self._close(ticket, CallOutcome.FAILED, "lost_while_engine_down")

    async def _close(self, ticket: TicketView, outcome: str, reason: str) -> None:
        await self.store.close_call(
            ticket.id,
            CallClosing(
                ended_at=self.clock.now(),
                outcome=outcome,
                end_reason=reason,
                last_state=ticket.last_state or "started",
                destination=ticket.destination,
            ),
        )
        self.report.tickets_closed += 1


def _pending(ticket: TicketView, started: EventKind, finished: Collection[EventKind]) -> str | None:
    """The name in the last `started` event when no `finished` event after it says the work ended."""
    name: str | None = None
    for event in ticket.events:
        if event.kind == started and event.detail and isinstance(event.detail.get("name"), str):
            name = event.detail["name"]
        elif event.kind in finished:
            name = None
    return name


def _saved_message(ticket: TicketView) -> int | None:
    """The message already saved for this call whose callback number is still to be asked."""
    message: int | None = None
    for event in ticket.events:
        if event.kind == EventKind.VOICEMAIL_LEFT and event.detail and isinstance(event.detail.get("message"), int):
            message = event.detail["message"]
        elif event.kind == EventKind.CALLBACK_NUMBER:
            message = None
    return message
