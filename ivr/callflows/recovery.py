"""Calls that outlive the engine: picked up where their tickets say they were.

If the engine process dies (killed, crashed, upgraded) Asterisk keeps its calls in the Stasis
app: callers in the menu or the queue, callers talking with an operator in a bridge, callers
leaving a message. When the engine comes back the event socket's resync hands each of them
over here, and each one goes on from its ticket's last state: a conversation keeps its bridge,
a caller in the queue keeps their admission (the daily count is not touched again), a message
being recorded is kept. Tickets whose call ended while nobody watched are closed as lost.

This is the executor: what to do with each call is decided by ivr.callflows.recovery_plan from
the ticket and what the PBX shows; here the PBX is read and acted on, through its ports.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass, field
from typing import Any

from ivr.callflows.dispatcher import CallDispatcher
from ivr.callflows.facts import CallFacts, Rejoin
from ivr.callflows.model import Flow
from ivr.callflows.recovery_plan import (
    LOST_WHILE_DOWN,
    Action,
    CallPlan,
    LostMessage,
    idle_bridges,
    in_voicemail,
    lost_tickets,
    message_left_while_down,
    plan_call,
    recording_left,
    unnamed_message,
)
from ivr.callflows.session import Resume
from ivr.clock import Clock
from ivr.schema.tickets import CallOutcome
from ivr.tasks import TaskSupervisor
from ivr.telephony.errors import AriError, AriUnavailable, CallerHungUp, NotFound
from ivr.telephony.ports import SNOOP_ARG, BridgeInfo, Bridges, CallChannel, Channels
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
class _Found:
    channel: CallChannel
    args: list[str]
    ticket: TicketView | None
    plan: CallPlan


class Recovery:
    def __init__(
        self,
        channels: Channels,
        bridges: Bridges,
        store: SqlTicketStore,
        dispatcher: CallDispatcher,
        flow: Flow,
        claim_operator: Callable[[int, int], str | None],
        clock: Clock,
        *,
        callback_number: Callable[[str | None], str | None],
        keep_recording: Callable[[int, str], Coroutine[Any, Any, None]] | None = None,
        stored_recordings: Callable[[], Awaitable[list[str]]] | None = None,
        tasks: TaskSupervisor | None = None,
    ) -> None:
        self.tasks = tasks or TaskSupervisor(type(self).__name__)
        self.channels = channels
        self.bridges = bridges
        self.store = store
        self.dispatcher = dispatcher
        self.flow = flow
        self.claim_operator = claim_operator  # (operator id, ticket) -> login, marked busy; None if unknown
        self.callback_number = callback_number  # the caller id if the voicemail would call it back, else None
        self.keep_recording = keep_recording  # (ticket, recording name): keeps a recording no engine kept
        self.stored_recordings = stored_recordings  # the names of the recordings Asterisk holds
        self.clock = clock
        self.ready = False
        self.report = RecoveryReport()
        self._held: list[tuple[CallChannel, list[str]]] = []
        self._legs: dict[str, CallChannel] = {}

    def adopt(self, channel: CallChannel, args: list[str]) -> None:
        """A channel found in the app. Until the engine is fully up (operators loaded) it waits."""
        if not self.ready:
            self._held.append((channel, args))
            return
        self.tasks.spawn(self._adopt_all([(channel, args)]), name=f"adopt-{channel.id}")

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

    async def _adopt_all(self, found: list[tuple[CallChannel, list[str]]]) -> None:
        """Decide for every call first, then act: a caller resumed in the queue must not be
        offered to an operator who is still talking with another resumed caller."""
        bridges = await self._bridges()
        for channel, args in found:
            if args[:1] == ["operator"]:
                self._legs[channel.id] = channel
            elif args[:1] == [SNOOP_ARG]:  # a supervisor's ear on a call of the engine that died
                with contextlib.suppress(AriError, AriUnavailable, CallerHungUp):
                    await channel.hangup()
        found = [(channel, args) for channel, args in found if args[:1] != [SNOOP_ARG]]
        calls: list[_Found] = []
        for channel, args in found:
            if args[:1] != ["operator"]:
                try:
                    ticket = await self.store.by_call_uid(channel.id)
                except Exception as exc:  # the store is down: the call is better served from the start
                    log.warning("call %s: ticket not readable (%s); served as a new call", channel.id, exc)
                    ticket = None
                plan = plan_call(self.flow, channel.id, ticket, bridges.get(channel.id), self._legs)
                calls.append(_Found(channel, args, ticket, self._claim(plan, ticket)))
        for call in calls:
            try:
                await self._act(call)
            except (AriError, AriUnavailable, CallerHungUp) as exc:
                log.warning("call %s could not be picked up: %s", call.channel.id, exc)
        for leg in list(self._legs.values()):  # operator legs nobody is talking to any more
            with contextlib.suppress(AriError, AriUnavailable, CallerHungUp):
                await leg.hangup()
            self.report.legs_released += 1
        self._legs.clear()
        await self._remove_idle_bridges()

    def _claim(self, plan: CallPlan, ticket: TicketView | None) -> CallPlan:
        """A conversation goes on only with its operator taken back (marked busy with it) and
        their leg still free; otherwise the plan's fallback."""
        target = plan.rejoin
        if plan.action is not Action.REJOIN or target is None or ticket is None:
            return plan
        assert plan.otherwise is not None
        leg_id = next((leg for leg in target.leg_ids if leg in self._legs), None)
        if leg_id is None:
            return plan.otherwise
        login = self.claim_operator(target.operator_id, ticket.id)
        if login is None:
            return plan.otherwise
        node = (ticket.last_state or "").partition(":")[2]
        rejoin = Rejoin(target.bridge_id, self._legs.pop(leg_id), login, target.recording)
        return CallPlan(Action.REJOIN, resume=Resume(ticket, node, CallFacts(rejoin=rejoin)))

    async def _act(self, call: _Found) -> None:
        plan, channel = call.plan, call.channel
        if plan.action is Action.NEW_CALL:
            self.report.new_calls += 1
            self.dispatcher.on_call(channel, call.args or ["inbound"])
            return
        if plan.action is Action.HANG_UP:
            await channel.hangup()
            self.report.hung_up += 1
            return
        if plan.action is Action.REJOIN and plan.resume is not None:
            self.report.talking += 1
            self.dispatcher.resume(channel, plan.resume)
            return
        if plan.leave_bridge is not None:  # the operator is gone: leave the empty conversation
            with contextlib.suppress(AriError):
                await self.bridges.remove_channel(plan.leave_bridge, channel.id)
            await self._destroy_left(plan.leave_bridge)
        self._keep_left(call.ticket)  # the conversation is over (its bridge gone): its recording is final
        if plan.action is Action.CLOSE_LOST or plan.resume is None:
            await channel.hangup()
            assert call.ticket is not None
            await self._close(call.ticket, CallOutcome.FAILED, plan.reason or "lost_on_restart")
            return
        kind = self.flow.nodes[plan.resume.node].type
        self.report.resumed[kind] = self.report.resumed.get(kind, 0) + 1
        self.dispatcher.resume(channel, plan.resume)

    # --- cleaning up ------------------------------------------------------------------------------

    async def _bridges(self) -> dict[str, BridgeInfo]:
        """channel id -> the bridge it is in."""
        try:
            found = await self.bridges.list()
        except (AriError, AriUnavailable) as exc:
            log.warning("bridges not listed: %s", exc)
            return {}
        return {channel_id: bridge for bridge in found for channel_id in bridge.channels}

    async def _destroy_left(self, bridge_id: str) -> None:
        """The conversation the caller was taken out of is over: its bridge goes now. The sweep
        below spares a bridge named for a call served here (one being set up), and the caller
        goes on being served elsewhere in the flow, so nobody else would ever destroy it (full
        run 6 drained with it still on Asterisk). A failure leaves it to Asterisk's next restart
        rather than keeping the caller from being served."""
        try:
            await self.bridges.destroy(bridge_id)
        except NotFound:
            return  # gone already
        except (AriError, AriUnavailable) as exc:
            log.warning("bridge %s left by its conversation not destroyed: %s", bridge_id, exc)
            return
        self.report.bridges_removed += 1

    async def _remove_idle_bridges(self) -> None:
        try:
            found = await self.bridges.list()
        except (AriError, AriUnavailable):
            return
        for bridge_id in idle_bridges(found, self.dispatcher.sessions):
            with contextlib.suppress(AriError):
                await self.bridges.destroy(bridge_id)
            self.report.bridges_removed += 1

    async def _close_lost_tickets(self) -> None:
        try:
            live = await self.channels.live_ids()
        except (AriError, AriUnavailable) as exc:
            log.warning("open tickets not checked: %s", exc)
            return
        stored: list[str] | None = None
        for ticket in lost_tickets(await self.store.open_calls(), live, self.dispatcher.sessions):
            full = await self.store.get(ticket.id)  # with its timeline (open_calls reads none)
            message = message_left_while_down(self.flow, full) if full is not None else None
            if message is None and full is not None and in_voicemail(full):
                stored = await self._stored() if stored is None else stored
                message = message_left_while_down(self.flow, full, unnamed_message(full.id, stored))
            self._keep_left(full)
            if message is None:
                await self._close(ticket, CallOutcome.FAILED, LOST_WHILE_DOWN)
            else:
                await self._keep_message(ticket, message)

    async def _stored(self) -> list[str]:
        """Asterisk's recordings, read once per sweep; none known when it cannot say."""
        if self.stored_recordings is None:
            return []
        try:
            return await self.stored_recordings()
        except (AriError, AriUnavailable) as exc:
            log.warning("stored recordings not listed: %s", exc)
            return []

    def _keep_left(self, ticket: TicketView | None) -> None:
        """A conversation recording no engine kept is kept now, beside the call going on."""
        if ticket is None or self.keep_recording is None:
            return
        name = recording_left(ticket)
        if name is not None:
            self.tasks.spawn(self.keep_recording(ticket.id, name), name=f"keep-{name}")

    async def _keep_message(self, ticket: TicketView, message: LostMessage) -> None:
        """The caller spoke to the end while no engine watched: the message is theirs (the
        voicemail retry job fetches its audio from Asterisk), the caller id the number to call."""
        message_id = await self.store.execute(
            "voicemail.new_message",
            ticket_id=ticket.id,
            box=message.box,
            reason=message.reason,
            asterisk_name=message.name,
            recording_id=None,
            duration_s=0.0,
            speech_s=0.0,
            empty=False,
            ended_by="hangup",
            at=self.clock.now(),
        )
        number = self.callback_number(ticket.caller_number)
        source = "caller_id" if number is not None else "none"
        await self.store.execute("voicemail.set_callback", message_id=message_id, number=number, source=source)
        await self._close(ticket, CallOutcome.VOICEMAIL, f"voicemail:{message.reason}")
        log.warning("ticket %s: message %s recorded while no engine watched, kept", ticket.id, message.name)

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
