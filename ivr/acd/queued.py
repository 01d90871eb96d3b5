"""Queued callbacks: the caller hangs up and keeps the place, and is called back when it comes.

The place is the time the call was admitted: the entry stays in the distributor's queue in that
order, not ahead of those who came earlier (the mistake of callbacks that jump the line) and not
sent to the back (the mistake of callbacks re-queued at request time). When it reaches the head
and an operator is free, the distributor rings the operator as for any call (softphone or outside
number, the citizen's number shown); the operator hears whom they are calling, then the citizen
is dialled through the carrier (the dial-out allow-list applies and the leg is audited), hears
that this is the callback they asked for, and is connected; when the operator hangs up first, the
citizen is asked the flow's questionnaire, as after any call.

Not answered or busy: tried again after `queue.callback_retry_s`, at most `callback_attempts`
times, only while the line is open; not done by closing time: it waits for the next opening
(`callback_carry_over`) or becomes a second-level ticket. Each entry is a row in the store,
written at every step, so a restarted engine rebuilds the same queue.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from ivr.acd.config import QueueSettings
from ivr.acd.distributor import Assignment, Distributor, Offerer, WaitingCall
from ivr.acd.offers import OfferFailed
from ivr.acd.queued_store import CallbackRow, QueuedCallbacks
from ivr.acd.step import Bridging
from ivr.callflows.facts import CallFacts
from ivr.callflows.session import CallContext
from ivr.clock import Clock
from ivr.dialout.guard import DIAL_CONTEXT
from ivr.prompts.library import PromptLibrary
from ivr.tasks import TaskSupervisor
from ivr.telephony.dialstring import CARRIER_ENDPOINT, carrier_leg
from ivr.telephony.errors import AriError, AriUnavailable, CallerHungUp
from ivr.telephony.ports import CallChannel
from ivr.tickets import events
from ivr.tickets.events import Event, EventKind
from ivr.tickets.store import TicketStore

log = logging.getLogger(__name__)
OPERATOR_GONE = "operator_gone"  # the operator hung up before the citizen answered: no attempt
# The conversation was cut by the line (Asterisk went away under it) before it could serve the
# citizen: an attempt on the timeline, and the place kept, dialled again at once. Cut after
# `CUT_REDIAL_S` of talk it was a conversation, and the callback is done (full run 13: citizens
# cut after 81 s were dialled again, did not answer, and their callbacks ended "unreachable").
CUT_OFF = "cut_off"
CUT_REDIAL_S = 20.0
LineOpen = Callable[[datetime], Awaitable[bool]]
PromptsFor = Callable[[str | None], PromptLibrary]
# What the flow does with a caller after an operator's conversation (its questionnaire node, run
# through the flow's own handler): the queue reaches it through the wiring, not by import.
AfterCall = Callable[[CallContext], Awaitable[object]]


class CallbackQueue:
    def __init__(
        self,
        distributor: Distributor,
        repo: QueuedCallbacks,
        store: TicketStore,
        dialer: Offerer,
        bridging: Bridging,
        prompts: PromptsFor,
        clock: Clock,
        settings: QueueSettings,
        line_open: LineOpen,
        tz: ZoneInfo,
        *,
        carrier: str = CARRIER_ENDPOINT,
        caller_id: str | None = None,
        check_every_s: float = 30.0,
        after_call: AfterCall | None = None,
        tasks: TaskSupervisor | None = None,
        cut_redial_s: float = CUT_REDIAL_S,
    ) -> None:
        self.cut_redial_s = cut_redial_s
        self.distributor = distributor
        self.repo = repo
        self.store = store
        self.dialer = dialer
        self.bridging = bridging
        self.prompts = prompts
        self.clock = clock
        self.settings = settings
        self.line_open = line_open
        self.tz = tz
        self.carrier = carrier
        self.caller_id = caller_id
        self.check_every_s = check_every_s
        self.after_call = after_call  # the flow's questionnaire, asked after a callback as after a call
        self.tasks = tasks or TaskSupervisor(type(self).__name__)
        self.entries: dict[int, WaitingCall] = {}  # by callback id: waiting or being served
        self.open = True
        self._carried: set[int] = set()  # noted as carried to the next opening (once per closing)

    # --- joining and rebuilding the queue --------------------------------------------------------

    async def accept(
        self, call: WaitingCall, number: str, source: str, arrived_at: datetime, ahead: int
    ) -> CallbackRow:
        """The caller in `call` asked to be called back on `number`: the same place, no caller."""
        now = self.clock.now()
        row = await self.repo.add(
            call.ticket_id,
            number,
            source,
            topic=call.topic,
            language=call.language,
            arrived_at=arrived_at,
            accepted_at=now,
            day=now.astimezone(self.tz).date(),
        )
        await self._event(row, events.callback_accepted(source, ahead))
        self.distributor.withdraw(call)
        self._enqueue(row, call.since)
        return row

    async def start(self) -> int:
        """Rebuild the queued callbacks from the store (after a restart), then watch the hours."""
        self.open = await self.line_open(self.clock.now())
        rows = await self.repo.pending()
        now, mono = self.clock.now(), self.clock.monotonic()
        for row in rows:
            if row.state == "calling" and row.connected_at is not None:
                # The citizen was talking with the operator when the engine stopped: called back
                # (dialled again, the soak's citizens refused a second call and the callback
                # ended "unreachable" after a conversation).
                await self._event(row, events.callback_try(row.attempts, row.operator or "", "answered"))
                await self.repo.set(row.id, state="completed", ended_at=now)
                continue
            self._enqueue(row, mono - max(0.0, (now - row.arrived_at).total_seconds()))
        if rows:
            log.info("queued callbacks: %d taken back from the store", len(rows))
        self.tasks.spawn(self._watch_hours(), name="callback-hours")
        return len(rows)

    def _enqueue(self, row: CallbackRow, since: float) -> WaitingCall:
        not_before = self.clock.monotonic()
        if row.next_attempt_at is not None:
            not_before += max(0.0, (row.next_attempt_at - self.clock.now()).total_seconds())
            delay = not_before - self.clock.monotonic()
            asyncio.get_running_loop().call_later(delay + 0.05, self.distributor.kick)

        def ready() -> bool:
            if self.clock.monotonic() < not_before:
                return False
            # Closed, it waits for the next opening, unless callers who came after it are still
            # being served: "your place in the queue stays the same", the booking said (the soak
            # saw six callers served during a closure ahead of a callback carried over).
            return self.open or self._served_behind(row.topic, since)

        entry = self.distributor.enqueue(
            row.ticket_id, None, row.topic, row.number, language=row.language, since=since, virtual=True, ready=ready
        )
        self.entries[row.id] = entry
        self.tasks.spawn(self._serve(row, entry), name=f"queued-callback-{row.ticket_id}")
        return entry

    def _served_behind(self, topic: str | None, since: float) -> bool:
        """Callers of the topic who came after `since` are waiting to be served (the line closed on them)."""
        return any(not c.virtual and c.topic == topic and c.since > since for c in self.distributor.waiting)

    # --- serving one entry ----------------------------------------------------------------------

    async def _serve(self, row: CallbackRow, entry: WaitingCall) -> None:
        try:
            assignment = await entry.assigned
        except asyncio.CancelledError:
            if entry.withdrawn.is_set():  # escalated at closing: nothing left to do here
                return
            raise
        attempt = row.attempts + 1
        await self.repo.set(row.id, state="calling", attempts=attempt, operator=assignment.agent.login)
        started = self.clock.monotonic()
        result = "failed"
        try:
            result = await self._attempt(row, assignment)
        except Exception:
            log.exception("queued callback of ticket %s failed", row.ticket_id)
        finally:
            talked = self.clock.monotonic() - started if result == "answered" else 0.0
            self.distributor.finished(assignment.agent, talked)
        self.entries.pop(row.id, None)
        await self._after(row, attempt, assignment.agent.login, result)

    async def _attempt(self, row: CallbackRow, assignment: Assignment) -> str:
        operator = assignment.leg
        DIAL_CONTEXT.set({"login": assignment.agent.login, "ticket": row.ticket_id})
        citizen: CallChannel | None = None
        try:
            try:
                await self._say(operator, None, "callback_operator_notice", digits=row.number)
            except (CallerHungUp, AriError, AriUnavailable):
                return OPERATOR_GONE
            ring = getattr(operator, "ring", None)
            if ring is not None:  # the operator hears it ringing meanwhile
                with contextlib.suppress(CallerHungUp, AriError, AriUnavailable):
                    await ring()
            cancelled = asyncio.Event()
            gone = asyncio.ensure_future(operator.wait_gone())
            gone.add_done_callback(lambda _: cancelled.set())
            try:
                citizen = await self.dialer.dial(
                    carrier_leg(row.number, self.carrier),
                    caller_id=self.caller_id,
                    timeout=self.settings.callback_citizen_timeout_s,
                    cancelled=cancelled,
                )
            except OfferFailed as exc:
                return OPERATOR_GONE if operator.hung_up or exc.cause == "cancelled" else exc.cause
            finally:
                gone.cancel()
            try:
                await self._say(citizen, row.language, "callback_citizen_notice")
            except CallerHungUp:
                return "hung_up"
            if operator.hung_up:  # left during the citizen's notice: nobody to connect to, not the
                return OPERATOR_GONE  # citizen's fault (the same place, dialled again at once)
            now = self.clock.now()
            await self.repo.set(row.id, connected_at=now)
            waited = (now - row.arrived_at).total_seconds()
            await self._event(row, events.callback_connected(assignment.agent.login, waited))
            talking = self.clock.monotonic()
            talk = await self.bridging.converse(citizen, operator, record_as=None)
            if (citizen.lost or operator.lost) and self.clock.monotonic() - talking < self.cut_redial_s:
                return CUT_OFF
            if talk.ended_by == "operator" and self.after_call is not None and not citizen.hung_up:
                await self._survey(row, citizen, assignment)
            return "answered"
        finally:
            for leg in (citizen, operator):
                if leg is not None and not leg.hung_up:
                    with contextlib.suppress(CallerHungUp, AriError, AriUnavailable):
                        await leg.hangup()

    async def _survey(self, row: CallbackRow, citizen: CallChannel, assignment: Assignment) -> None:
        """The questionnaire after the conversation, as after any call: the citizen stays on."""
        assert self.after_call is not None
        ctx = CallContext(
            channel=citizen,
            store=self.store,
            clock=self.clock,
            prompts=self.prompts(row.language),
            ticket_id=row.ticket_id,
            facts=CallFacts(operator_id=assignment.agent.info.id, operator_login=assignment.agent.login),
            language=row.language,
        )
        with contextlib.suppress(CallerHungUp):
            await self.after_call(ctx)

    async def _say(self, leg: CallChannel, language: str | None, prompt: str, digits: str = "") -> None:
        library = self.prompts(language)
        names = [prompt, *(library.counted("digit", int(d)) for d in digits if d.isdigit())]
        await leg.play([library.media(n) for n in names])
        if leg.hung_up:
            raise CallerHungUp(leg.id)

    async def _after(self, row: CallbackRow, attempt: int, login: str, result: str) -> None:
        now = self.clock.now()
        if result == OPERATOR_GONE:  # not the citizen's fault: the same place, at once
            await self.repo.set(row.id, state="waiting", attempts=attempt - 1)
            self._enqueue(dataclasses.replace(row, state="waiting", attempts=attempt - 1), self._since(row))
            return
        await self._event(row, events.callback_try(attempt, login, result))
        if result == "answered":
            await self.repo.set(row.id, state="completed", ended_at=now)
            return
        if result == CUT_OFF:  # full soak run 12, callback 7: connected a second before a restart
            log.info("queued callback of ticket %s: the conversation was cut by the line; dialled again", row.ticket_id)
            await self.repo.set(row.id, state="waiting", attempts=attempt, connected_at=None)
            self._enqueue(
                dataclasses.replace(row, state="waiting", attempts=attempt, connected_at=None), self._since(row)
            )
            return
        if attempt >= self.settings.callback_attempts:
            await self.repo.set(row.id, state="unreachable", ended_at=now)
            await self._event(row, events.callback_closed(EventKind.CALLBACK_UNREACHABLE, attempt))
            log.info("queued callback of ticket %s: unreachable after %d attempts", row.ticket_id, attempt)
            return
        retry = now + timedelta(seconds=self.settings.callback_retry_s)
        await self.repo.set(row.id, state="waiting", attempts=attempt, next_attempt_at=retry)
        # (from the row in hand, not read back: the store may be away, the writes in its outbox)
        again = dataclasses.replace(row, state="waiting", attempts=attempt, next_attempt_at=retry)
        self._enqueue(again, self._since(row))

    def _since(self, row: CallbackRow) -> float:
        return self.clock.monotonic() - max(0.0, (self.clock.now() - row.arrived_at).total_seconds())

    # --- office hours ---------------------------------------------------------------------------

    async def _watch_hours(self) -> None:
        while True:
            await asyncio.sleep(self.check_every_s)
            try:
                await self.check_hours()
            except Exception:
                log.exception("queued callbacks: office hours not checked")

    async def check_hours(self) -> None:
        """Opening: serve the waiting callbacks. Closed with some still waiting: carry them to the
        next opening, or pass them to the second level (`callback_carry_over`)."""
        now = self.clock.now()
        was, self.open = self.open, await self.line_open(now)
        if self.open:
            self._carried.clear()
            if not was:
                self.distributor.kick()
            return
        for callback_id, entry in list(self.entries.items()):
            if entry.offering is not None or entry.assigned.done():
                continue  # an attempt is under way: it ends by itself
            if self._served_behind(entry.topic, entry.since):
                continue  # its turn comes before the callers still served behind it
            row = await self.repo.get(callback_id)
            if row is None:
                continue
            if self.settings.callback_carry_over:
                if callback_id not in self._carried:
                    self._carried.add(callback_id)
                    await self._event(row, events.callback_closed(EventKind.CALLBACK_CARRIED, row.attempts))
                continue
            self.entries.pop(callback_id, None)
            self.distributor.withdraw(entry)
            entry.assigned.cancel()
            await self.repo.escalate(callback_id, now)
            await self._event(row, events.callback_closed(EventKind.CALLBACK_ESCALATED, row.attempts))

    async def _event(self, row: CallbackRow, event: Event) -> None:
        await self.store.record(row.ticket_id, event.kind, self.clock.now(), event.detail)
