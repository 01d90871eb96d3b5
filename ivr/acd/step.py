"""The `queue` node: admission under the daily cap, waiting with music and useful
announcements, the voicemail key, then the conversation with an operator.

Every way out is named on the ticket (`queue_result`): answered, cap, no_operators, max_wait,
caller_choice, or abandoned when the caller hangs up while waiting.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import uuid
from collections.abc import Coroutine
from datetime import datetime
from typing import Any, Protocol

from ivr.acd.cap import DailyCap
from ivr.acd.config import QueueSettings
from ivr.acd.control import CallControl, LiveCall
from ivr.acd.distributor import Assignment, Distributor, WaitingCall
from ivr.callflows.dialogues import CONFIRMED, TYPED, ask_callback_number
from ivr.callflows.facts import Rejoin
from ivr.callflows.model import QueueNode
from ivr.callflows.session import CallContext
from ivr.dialout.config import DialoutSettings
from ivr.recordings.store import RecordingStore
from ivr.telephony.errors import AriError, AriUnavailable, CallerHungUp
from ivr.telephony.ports import CallChannel
from ivr.tickets import events
from ivr.tickets.status import Consent, QueueResult, VoicemailReason
from ivr.tickets.writer import StoreUnavailable
from ivr.voicemail.config import VoicemailSettings

log = logging.getLogger(__name__)


class Conversation(Protocol):
    @property
    def ended_by(self) -> str: ...

    @property
    def recording(self) -> str | None: ...


class Bridging(Protocol):
    async def converse(
        self,
        caller: CallChannel,
        operator: CallChannel,
        *,
        record_as: str | None,
        bridge_id: str | None = None,
        live: LiveCall | None = None,
    ) -> Conversation: ...


class _Transfer:
    """The operator sent the caller to another topic's queue (a blind transfer)."""

    def __init__(self, topic: str) -> None:
        self.topic = topic
        self.since: float | None = None  # when the caller first entered the queue (monotonic)


class CallbackBooking(Protocol):
    async def accept(self, call: WaitingCall, number: str, source: str, arrived_at: datetime, ahead: int) -> object:
        """The caller hangs up and keeps the place of `call`; called back on `number`."""
        ...


class QueueStep:
    def __init__(
        self,
        distributor: Distributor,
        cap: DailyCap,
        bridging: Bridging,
        settings: QueueSettings,
        recordings: RecordingStore | None,
        control: CallControl | None = None,
        *,
        callbacks: CallbackBooking | None = None,
        voicemail: VoicemailSettings | None = None,
        dialout: DialoutSettings | None = None,
    ) -> None:
        self.control = control  # the desk's hold and transfers (None: the call cannot be handled so)
        self.distributor = distributor
        self.cap = cap
        self.bridging = bridging
        self.settings = settings
        self.recordings = recordings
        self.callbacks = callbacks
        self.voicemail = voicemail or VoicemailSettings()
        self.dialout = dialout

    async def __call__(self, ctx: CallContext, node: QueueNode) -> str | None:
        topic = node.topic or ctx.topic
        rejoin = ctx.facts.take_rejoin()
        if rejoin is not None:
            agent = self.distributor.agents[rejoin.operator_login]  # claimed by the pick-up
            done = await self._talk(ctx, node, Assignment(agent, rejoin.leg), topic, rejoin)
            if not isinstance(done, _Transfer):
                return done
            return await self._queue(ctx, node, done.topic, since=self.distributor.clock.monotonic())
        admitted_at: datetime | None = None
        if not ctx.facts.take_admitted():  # a caller resumed after a restart was counted already
            if not self.distributor.staffed(topic):
                return await self._not_served(ctx, node, QueueResult.NO_OPERATORS, "queue_no_operators")
            admitted_at = ctx.clock.now()
            if not await self.cap.admit(admitted_at, ctx.ticket_id):  # marks the ticket queued too
                return await self._not_served(ctx, node, QueueResult.CAP, "queue_cap")
            await ctx.event(events.queue_admitted(topic))
        return await self._queue(ctx, node, topic, arrived=admitted_at)

    async def _queue(
        self,
        ctx: CallContext,
        node: QueueNode,
        topic: str | None,
        since: float | None = None,
        arrived: datetime | None = None,
    ) -> str | None:
        """Wait and talk; a blind transfer comes back here with the new topic, at the head of its
        queue with the first arrival time kept (and not counted again by the cap). `arrived`: when
        the call was admitted, the place a queued callback keeps (the ticket's `queued_at`)."""
        while True:
            done = await self._wait_and_talk(ctx, node, topic, since, arrived)
            if not isinstance(done, _Transfer):
                return done
            topic, since, arrived = done.topic, done.since, None
            ctx.topic = topic
            await ctx.store.update(ctx.ticket_id, topic=topic)

    async def _wait_and_talk(
        self, ctx: CallContext, node: QueueNode, topic: str | None, since: float | None, arrived: datetime | None
    ) -> str | _Transfer | None:
        language = ctx.language if ctx.language and self.distributor.staffed(topic, ctx.language) else None
        # A slow admission write (an outbox replay, a busy database) took seconds before the call
        # joined the queue: the callback kept that later moment, not the call's place (full run 7).
        arrived = arrived or ctx.clock.now()
        call = self.distributor.enqueue(
            ctx.ticket_id,
            ctx.channel,
            topic,
            ctx.channel.caller.number,
            language=language,
            since=since,
            head=since is not None,
        )
        entered = ctx.clock.monotonic()
        announcer = _Announcer(self.distributor, call, ctx, self._callback_offer_s())
        try:
            while True:
                assignment = await self._wait(ctx, call, announcer)
                if assignment is not QueueResult.CALLBACK:
                    break
                if await self._book_callback(ctx, call, arrived):
                    await ctx.store.update(
                        ctx.ticket_id,
                        queue_result=QueueResult.CALLBACK,
                        wait_s=round(ctx.clock.monotonic() - entered, 3),
                    )
                    ctx.end_reason = "callback_queued"
                    await ctx.say("queue_callback_booked")
                    return None
        except CallerHungUp:
            await ctx.store.update(
                ctx.ticket_id, queue_result=QueueResult.ABANDONED, wait_s=round(ctx.clock.monotonic() - entered, 3)
            )
            await self._release(call)
            raise
        finally:
            self.distributor.withdraw(call)
            if not call.assigned.done():
                call.assigned.cancel()
        await ctx.store.update(ctx.ticket_id, wait_s=round(ctx.clock.monotonic() - entered, 3))
        if isinstance(assignment, QueueResult):  # left the queue without an operator
            prompt = "queue_max_wait" if assignment is QueueResult.MAX_WAIT else None
            return await self._not_served(ctx, node, assignment, prompt)
        done = await self._talk(ctx, node, assignment, topic)
        if isinstance(done, _Transfer):
            done.since = call.since
        return done

    def _callback_offer_s(self) -> float | None:
        """The estimated wait from which the callback is offered; None when it is not."""
        if self.callbacks is None or not self.settings.callback_enabled:
            return None
        return self.settings.callback_offer_after_s

    async def _book_callback(self, ctx: CallContext, call: WaitingCall, arrived: datetime) -> bool:
        """The number dialogue, with the place held (not offered meanwhile, not lost); True once
        the callback is queued. An operator freed meanwhile takes the call when it resumes."""
        assert self.callbacks is not None
        call.held = True
        try:
            number = await ask_callback_number(ctx, self.voicemail, self.dialout)
        finally:
            call.held = False
        if number.number is None or number.source not in (CONFIRMED, TYPED):
            await ctx.event(events.callback_number(number.source, number.number is not None))
            await ctx.say("queue_callback_no_number")
            self.distributor.kick()
            return False
        try:
            await self.callbacks.accept(call, number.number, number.source, arrived, self.distributor.ahead(call))
        except StoreUnavailable as exc:  # the place cannot be kept without the database: keep waiting
            log.error("ticket %s: callback not queued, database unavailable (%s)", ctx.ticket_id, exc)
            await ctx.say("queue_callback_not_booked")  # told, not left to wonder why nobody calls
            self.distributor.kick()
            return False
        return True

    async def _release(self, call: WaitingCall) -> None:
        """The caller left just as an operator answered: free the operator at once."""
        if call.assigned.done() and not call.assigned.cancelled():
            assignment = call.assigned.result()
            with contextlib.suppress(CallerHungUp, AriError, AriUnavailable):
                await assignment.leg.hangup()
            self.distributor.finished(assignment.agent, 0.0)

    async def _not_served(self, ctx: CallContext, node: QueueNode, result: QueueResult, prompt: str | None) -> str:
        await ctx.store.update(ctx.ticket_id, queue_result=result)
        await ctx.event(events.queue_not_served(result))
        ctx.facts.voicemail_reason = VoicemailReason(result)
        if prompt:
            await ctx.say(prompt)
        return node.fallback

    async def _wait(self, ctx: CallContext, call: WaitingCall, announcer: _Announcer) -> Assignment | QueueResult:
        """Wait for an operator; returns the assignment, or why the caller leaves the queue.

        While an operator's phone rings the caller hears music; announcements are made only
        when nobody is being rung, and are cut short the moment an operator answers."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.settings.max_wait_s
        next_announce = loop.time()
        moh = False
        try:
            while not call.assigned.done():
                now = loop.time()
                if call.sent_away is not None:
                    return await self._sent_away(ctx, call)
                if now >= deadline:
                    return QueueResult.MAX_WAIT
                if call.offering is None and now >= next_announce:
                    if moh:
                        await ctx.channel.stop_moh()
                        moh = False
                    await self._unless_assigned(announcer.announce(), call)
                    next_announce = loop.time() + self.settings.announce_every_s
                    continue
                if not moh:
                    await ctx.channel.start_moh()
                    moh = True
                pause = max(0.05, min(1.0, deadline - now, next_announce - now))
                key = asyncio.ensure_future(ctx.channel.next_digit(pause))
                both: list[asyncio.Future[Any]] = [key, call.assigned]
                done, _ = await asyncio.wait(both, return_when=asyncio.FIRST_COMPLETED)
                if key not in done:
                    key.cancel()
                    with contextlib.suppress(asyncio.CancelledError):
                        await key
                elif (pressed := key.result()) == self.settings.leave_key:  # raises CallerHungUp on a hangup
                    await ctx.event(events.queue_left(self.settings.leave_key))
                    return QueueResult.CALLER_CHOICE
                elif pressed == self.settings.callback_key and announcer.callback_offered and call.offering is None:
                    return QueueResult.CALLBACK
            return call.assigned.result()
        finally:
            if moh and not ctx.channel.hung_up:
                with contextlib.suppress(CallerHungUp):
                    await ctx.channel.stop_moh()

    async def _sent_away(self, ctx: CallContext, call: WaitingCall) -> QueueResult:
        """An emergency closure's choice, said once: a callback (a message if callbacks are off,
        or if the booking does not go through), or a message."""
        sent = call.sent_away
        if sent is QueueResult.CALLBACK and self.callbacks is None:
            sent = QueueResult.CLOSED
        call.sent_away = QueueResult.CLOSED if sent is QueueResult.CALLBACK else None
        if not call.told_closed:
            call.told_closed = True
            await ctx.event(events.queue_sent_away(str(sent)))
            await ctx.say("queue_closed_now")
        return sent or QueueResult.CLOSED

    @staticmethod
    async def _unless_assigned(speech: Coroutine[Any, Any, None], call: WaitingCall) -> None:
        """Say it, unless an operator answers or an emergency closure sends the caller away."""
        task = asyncio.ensure_future(speech)
        away = asyncio.ensure_future(call.away.wait())
        either: list[asyncio.Future[Any]] = [task, call.assigned, away]
        try:
            await asyncio.wait(either, return_when=asyncio.FIRST_COMPLETED)
        finally:
            away.cancel()
        if not task.done():
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        else:
            task.result()  # CallerHungUp goes on up

    async def _talk(
        self,
        ctx: CallContext,
        node: QueueNode,
        assignment: Assignment,
        topic: str | None,
        rejoin: Rejoin | None = None,
    ) -> str | _Transfer | None:
        agent = assignment.agent
        ctx.destination = f"operator:{agent.login}"
        ctx.facts.operator_login = agent.login
        ctx.facts.operator_id = agent.info.id
        if rejoin is None:
            await ctx.store.update(
                ctx.ticket_id,
                queue_result=QueueResult.ANSWERED,
                operator_id=agent.info.id,
                operator_answered_at=ctx.clock.now(),
                destination=ctx.destination,
            )
            await ctx.event(events.operator_answered(agent.login))
            record = ctx.consent == Consent.ACCEPTED and ctx.facts.campaign is not None
            name = f"call-{ctx.ticket_id}-{uuid.uuid4().hex[:8]}" if record else None
            if name is not None:  # named on the timeline first, so a restart can still keep it
                await ctx.event(events.recording_started(name))
        else:
            name = rejoin.recording
            await ctx.event(events.operator_rejoined(agent.login))
        started = ctx.clock.monotonic()
        live = None
        if self.control is not None:
            live = self.control.open(ctx.ticket_id, topic, ctx.channel, agent, assignment.leg)
        try:
            talk = await self.bridging.converse(
                ctx.channel, assignment.leg, record_as=name, bridge_id=rejoin.bridge_id if rejoin else None, live=live
            )
        finally:
            if live is not None:
                await self.control_close(live)
                if live.agent is not agent:  # handed over: the colleague closes the call
                    ctx.destination = f"operator:{live.agent.login}"
                    ctx.facts.operator_login, ctx.facts.operator_id = live.agent.login, live.agent.info.id
                agent, started = live.agent, live.started
            handled = ctx.clock.monotonic() - started
            self.distributor.finished(agent, handled)
            await ctx.store.update(ctx.ticket_id, operator_ended_at=ctx.clock.now(), handle_s=round(handled, 3))
        await ctx.event(events.operator_call_ended(talk.ended_by, talk.recording is not None))
        if talk.recording is not None:
            await self._keep_recording(ctx, talk.recording)
        if talk.ended_by == "caller":
            raise CallerHungUp(ctx.channel.id)
        if talk.ended_by == "transfer" and live is not None and live.transfer_to is not None:
            return _Transfer(live.transfer_to)
        if node.next is None and node.after_call_prompt:
            await ctx.say(node.after_call_prompt)
        return node.next

    async def control_close(self, live: LiveCall) -> None:
        if self.control is not None:
            await self.control.close(live)

    async def _keep_recording(self, ctx: CallContext, name: str) -> None:
        if self.recordings is None:
            return
        try:
            info = await self.recordings.keep(
                name, self.settings.record_format, ticket_id=ctx.ticket_id, kind="call", at=ctx.clock.now()
            )
        except (AriError, AriUnavailable, OSError) as exc:
            log.error("ticket %s: call recording %s not kept: %s", ctx.ticket_id, name, exc)
            await ctx.event(events.recording_failed(name, str(exc)))
            return
        await ctx.event(events.recording_kept(info.id, info.sha256, round(info.duration_s, 1)))


class _Announcer:
    """Position and estimated wait, said only when they tell the caller something new."""

    def __init__(self, distributor: Distributor, call: WaitingCall, ctx: CallContext, offer_s: float | None) -> None:
        self.distributor = distributor
        self.call = call
        self.ctx = ctx
        self.offer_s = offer_s  # estimated wait from which a callback is offered (None: never)
        self.callback_offered = False
        self.last_ahead: int | None = None
        self.last_minutes: int | None = None
        self.rounds = 0

    async def announce(self) -> None:
        first = self.rounds == 0
        ahead = self.distributor.ahead(self.call)
        estimate = self.distributor.estimated_wait_s(self.call)
        minutes = max(1, math.ceil(estimate / 60))
        prompts: list[str] = ["queue_enter"] if first else []
        if ahead != self.last_ahead:
            prompts.append(self.ctx.prompts.counted("queue_ahead", ahead))
        if minutes != self.last_minutes and (minutes > 1 or first):
            prompts.append(self.ctx.prompts.counted("queue_wait", minutes))
        long_wait = self.offer_s is not None and estimate >= self.offer_s
        if long_wait and (not self.callback_offered or self.rounds % 4 == 3):
            prompts.append("queue_callback_offer")
            if not self.callback_offered:
                self.callback_offered = True
                await self.ctx.event(events.callback_offered(minutes))
        if first or self.rounds % 4 == 3:
            prompts.append("queue_leave_offer")
        self.rounds += 1
        self.last_ahead, self.last_minutes = ahead, minutes
        if prompts:
            self.ctx.note("queue_announce", ahead=ahead, minutes=minutes)
            await self.ctx.say(*prompts, interruptible=True)
