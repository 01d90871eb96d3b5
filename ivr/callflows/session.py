"""One call, one task: walks the flow's nodes as an explicit state machine.

Whatever happens (the caller hangs up at any await, Asterisk fails, the engine stops) the ticket
is closed once, with the state reached, the outcome and the timings.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from ivr.callflows.bus import CallBus, CallNote
from ivr.callflows.facts import CallFacts
from ivr.callflows.model import STATE_OF, Flow
from ivr.callflows.states import CallState, check_transition
from ivr.clock import Clock
from ivr.ha.guard import Fenced
from ivr.logcontext import bind_call
from ivr.prompts.library import PromptLibrary
from ivr.schema.tickets import CallOutcome
from ivr.telephony.errors import AriError, AriUnavailable, CallerHungUp, CallLost, TelephonyError
from ivr.telephony.ports import CallChannel
from ivr.tickets import events
from ivr.tickets.events import Event
from ivr.tickets.status import Consent
from ivr.tickets.store import CallClosing, NewCall, TicketStore, TicketView

log = logging.getLogger(__name__)
FENCED = "fenced"  # the call is the engine holding the line's: this one leaves it untouched


@dataclass
class CallContext:
    """What a node handler may use and change for the call in progress."""

    channel: CallChannel
    store: TicketStore
    clock: Clock
    prompts: PromptLibrary
    ticket_id: int = 0
    answered_at: datetime | None = None
    destination: str | None = None
    outcome: CallOutcome | None = None  # set by a node that knows better than "completed"
    end_reason: str | None = None
    topic: str | None = None  # from the menu: who is calling (citizens, employers, agencies)
    closed_reason: str | None = None  # why the line was closed, when it was
    consent: Consent | None = None  # while a campaign is active
    bus: CallBus | None = None
    facts: CallFacts = field(default_factory=CallFacts)
    language: str | None = None  # chosen by the caller; None: the line's own language

    def note(self, kind: str, **detail: Any) -> None:
        """Tell live watchers (not stored)."""
        if self.bus is not None:
            self.bus.publish(CallNote(self.channel.id, self.channel.caller.number, kind, self.clock.now(), detail))

    async def event(self, event: Event) -> None:
        """Record on the ticket's timeline (and tell live watchers)."""
        await self.store.record(self.ticket_id, event.kind, self.clock.now(), event.detail)
        log.info("event %s", event.kind)  # the detail may hold personal data: it stays on the ticket
        self.note(event.kind, **(event.detail or {}))

    async def say(self, *prompts: str, interruptible: bool = False) -> bool:
        return await self.play_media([self.prompts.media(p) for p in prompts], list(prompts), interruptible)

    async def play_media(self, media: list[str], names: list[str], interruptible: bool = False) -> bool:
        self.note("playing", prompts=names)
        complete = await self.channel.play(media, interruptible=interruptible)
        self.note("played", prompts=names, complete=complete)
        return complete


NodeHandler = Callable[[CallContext, Any], Awaitable[str | None]]


@dataclass(frozen=True)
class Resume:
    """Where a call found alive after an engine restart picks up: its open ticket, the node to
    go on from, and what the node needs to know (e.g. already admitted, the bridge to rejoin)."""

    ticket: TicketView
    node: str
    facts: CallFacts = field(default_factory=lambda: CallFacts(resumed=True))


class CallSession:
    def __init__(
        self,
        channel: CallChannel,
        flow: Flow,
        handlers: Mapping[str, NodeHandler],
        *,
        store: TicketStore,
        clock: Clock,
        prompts: PromptLibrary,
        bus: CallBus | None = None,
        answer_pause_s: float = 0.0,
        resume: Resume | None = None,
        languages: Mapping[str, PromptLibrary] | None = None,
    ) -> None:
        self.flow = flow
        self.handlers = handlers
        self.ctx = CallContext(channel=channel, store=store, clock=clock, prompts=prompts, bus=bus)
        self.state = CallState.STARTED
        self.node: str | None = None
        self.started_at = clock.now()
        self.closing: asyncio.Future[None] | None = None
        self.answer_pause_s = answer_pause_s
        self.resume = resume
        self.languages = dict(languages or {})  # a resumed call goes on in the language it chose
        self._resumed_in: CallState | None = None  # the state a resumed call's ticket recorded

    @property
    def channel(self) -> CallChannel:
        return self.ctx.channel

    async def run(self) -> None:
        ctx = self.ctx
        caller = ctx.channel.caller
        bind_call(ctx.channel.id, caller=caller.number)  # this task's log lines are this call's
        answering: asyncio.Task[datetime] | None = None
        if self.resume is not None:
            self._restore(self.resume)
        else:
            # The caller hears the line answer at once: the ticket's first write is awaited meanwhile
            # (full run 7: behind a burst of messages being saved it took 3-5 s, and one answer 5.4 s).
            answering = asyncio.ensure_future(self._answer_now())
            try:
                ctx.ticket_id = await ctx.store.open_call(
                    NewCall(
                        call_uid=ctx.channel.id,
                        started_at=self.started_at,
                        caller_number=caller.number,
                        caller_name=caller.name,
                        did=caller.dialed,
                    )
                )
            except BaseException:  # no ticket, no call: not left answered and silent
                await asyncio.wait([answering])
                with contextlib.suppress(TelephonyError):
                    await ctx.channel.hangup()
                raise
        bind_call(ctx.channel.id, ctx.ticket_id, caller.number)
        log.info("call %s", "resumed" if self.resume is not None else "started")
        outcome, reason = CallOutcome.FAILED, "unknown"
        try:
            if self.resume is not None:
                await ctx.event(events.call_resumed(self.resume.node, self.resume.ticket.last_state))
                await self._quiet_after_takeover()
                if ctx.answered_at is None:  # the engine before stopped before its answer was written
                    await self._answer()
                await self._walk(self.resume.node)
            else:
                assert answering is not None
                await self._answered(await answering)  # a failed answer raises here, in the call's handling
                await self._walk(self.flow.start)
            outcome = ctx.outcome or CallOutcome.COMPLETED
            reason = ctx.end_reason or "flow_end"
        except CallLost:
            outcome, reason = CallOutcome.FAILED, f"lost_in_{self.state}"
            log.warning("call %s lost in %s (gone while Asterisk was out of sight)", ctx.channel.id, self.state)
        except CallerHungUp:
            outcome, reason = CallOutcome.CALLER_HANGUP, f"caller_hangup_in_{self.state}"
            if ctx.facts.resume_recording is not None:
                outcome, reason = await self._message_at_takeover(outcome, reason)
        except asyncio.CancelledError:
            outcome, reason = CallOutcome.FAILED, "engine_stopped"
            raise
        except Fenced as exc:
            # Not this engine's call any more (its lease is lost): the engine holding the line has
            # it, ticket and channel; closing or hanging up here would be acting on its call.
            log.warning("call %s in %s left to the engine holding the line: %s", ctx.channel.id, self.state, exc)
            outcome, reason = CallOutcome.FAILED, FENCED
            raise
        except TelephonyError as exc:
            outcome, reason = CallOutcome.FAILED, f"telephony:{type(exc).__name__}"
            log.warning("call %s failed in %s: %s", ctx.channel.id, self.state, exc)
        except Exception as exc:
            outcome, reason = CallOutcome.FAILED, f"error:{type(exc).__name__}"
            log.exception("call %s failed in %s", ctx.channel.id, self.state)
        finally:
            if reason != FENCED:
                await self._finish(outcome, reason)

    async def _answer_now(self) -> datetime:
        await self.ctx.channel.answer()
        return self.ctx.clock.now()

    async def _answer(self) -> None:
        """Answering an answered channel is harmless, so a call taken over whose ticket has no
        answer is answered again and the moment written: the answer is never left unrecorded."""
        await self._answered(await self._answer_now())

    async def _answered(self, at: datetime) -> None:
        ctx = self.ctx
        ctx.answered_at = at
        await ctx.store.update(ctx.ticket_id, answered_at=at)
        if self.answer_pause_s:
            await ctx.channel.sleep(self.answer_pause_s)

    async def _message_at_takeover(self, outcome: CallOutcome, reason: str) -> tuple[CallOutcome, str]:
        """The caller hung up as this engine took the call over, before its voicemail node ran
        again: the message being recorded is still theirs (full run 3 lost one). The node is
        run on the hung-up channel; it saves what Asterisk recorded and the caller id."""
        assert self.resume is not None
        node = self.flow.nodes.get(self.resume.node)
        if node is None or node.type != "voicemail":
            return outcome, reason
        try:
            await self.handlers[node.type](self.ctx, node)
        except Fenced as exc:  # the engine holding the line has the call, and the message
            log.warning("call %s: message left to the engine holding the line: %s", self.ctx.channel.id, exc)
            return outcome, FENCED
        except Exception:  # the hangup stays the call's end; what was recorded is on the log
            log.exception("call %s: message %s not kept", self.ctx.channel.id, self.ctx.facts.resume_recording)
            return outcome, reason
        return self.ctx.outcome or outcome, self.ctx.end_reason or reason

    async def _quiet_after_takeover(self) -> None:
        """Stop what the engine that died left on the line before going on: a prompt of its
        still playing holds every later command on the channel until it ends, bridging
        included, so an operator who answered meanwhile talked to nobody while the caller heard
        the old announcement to its end (the soak's finding 6). A conversation picked up in its
        bridge is left alone: the caller is talking there, or on hold by the operator's choice."""
        if self.ctx.facts.rejoin is not None:
            return
        try:
            await self.ctx.channel.stop_media_left()
        except (AriError, AriUnavailable) as exc:  # the call can still go on; it may be heard late
            log.warning("call %s: what the previous engine left playing was not stopped: %s", self.ctx.channel.id, exc)

    def _restore(self, resume: Resume) -> None:
        """What the call had already decided before the restart, from its ticket."""
        ctx, ticket = self.ctx, resume.ticket
        ctx.ticket_id = ticket.id
        self.started_at = ticket.started_at
        ctx.answered_at = ticket.answered_at
        ctx.topic, ctx.destination = ticket.topic, ticket.destination
        ctx.consent = Consent(ticket.consent) if ticket.consent else None
        ctx.facts = replace(resume.facts)
        # The first move is judged from where the call was, not from a fresh start: a caller
        # taken over in the survey failed as 'started -> survey' before (the soak's finding).
        recorded = (ticket.last_state or "").partition(":")[0]
        self._resumed_in = CallState(recorded) if recorded in {str(c) for c in CallState} else None
        if ticket.campaign:
            ctx.facts.campaign = ticket.campaign
        if ticket.language in self.languages:
            ctx.language, ctx.prompts = ticket.language, self.languages[ticket.language]

    async def _walk(self, start: str) -> None:
        name: str | None = start
        while name is not None:
            node = self.flow.nodes[name]
            state = STATE_OF[node.type]
            if self._resumed_in is None:
                check_transition(self.state, state)
            elif state != self._resumed_in:  # going on in the same state needs no move
                check_transition(self._resumed_in, state)
            self._resumed_in = None
            self.state, self.node = state, name
            await self.ctx.store.update(self.ctx.ticket_id, last_state=f"{state}:{name}")
            self.ctx.note("state", state=str(state), node=name)
            log.info("state %s:%s", state, name)
            name = await self.handlers[node.type](self.ctx, node)
            if name is not None and self.ctx.channel.hung_up:
                channel = self.ctx.channel
                raise CallLost(channel.id) if channel.lost else CallerHungUp(channel.id)

    async def _finish(self, outcome: CallOutcome, reason: str) -> None:
        """Close the ticket and release the channel; shielded so a stop cannot half-do it."""
        ctx = self.ctx
        last = f"{self.state}:{self.node}" if self.node else str(self.state)
        self.state = CallState.ENDED

        async def close() -> None:
            with contextlib.suppress(TelephonyError):
                await ctx.channel.hangup()
            await ctx.store.close_call(
                ctx.ticket_id,
                CallClosing(
                    ended_at=ctx.clock.now(),
                    outcome=outcome,
                    end_reason=reason,
                    last_state=last,
                    answered_at=ctx.answered_at,
                    destination=ctx.destination,
                ),
            )

        self.closing = asyncio.ensure_future(close())
        await asyncio.shield(self.closing)
        ctx.note("ended", outcome=str(outcome), reason=reason, last_state=last)
        log.info("call %s ended: %s (%s) at %s", ctx.channel.id, outcome, reason, last)
