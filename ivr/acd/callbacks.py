"""Calling a citizen back from the console: the operator's own phone rings first (softphone or
home number, as for queue calls), and once they answer the engine dials the citizen through the
carrier and connects the two. The attempt's result is recorded on the ticket by itself.

While the callback runs the operator is paused (reason "callback"), so the queue does not offer
them a call in the middle of it; their previous presence comes back afterwards. The citizen's
number must pass the dial-out allow-list (`dialout:`), and every leg through the carrier is
audited with the number, the operator and the ticket.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass, field

from ivr.acd.agents import AgentState, AgentTransitionError
from ivr.acd.distributor import Distributor, Offerer
from ivr.acd.offers import OfferFailed
from ivr.acd.step import Bridging
from ivr.clock import Clock
from ivr.dialout.config import DialoutSettings
from ivr.dialout.guard import DIAL_CONTEXT, DialGuard, NumberRefused, check, store_audit
from ivr.ha.guard import UNLEASED, LineGuard
from ivr.subscribers import Subscribers
from ivr.tasks import TaskSupervisor
from ivr.telephony.dialstring import CARRIER_ENDPOINT, carrier_leg
from ivr.telephony.errors import AriError, AriUnavailable, CallerHungUp
from ivr.telephony.ports import CallChannel
from ivr.tickets.store import SqlTicketStore
from ivr.voicemail import messages

log = logging.getLogger(__name__)
PAUSE_REASON = "callback"
NOTE = "richiamata dalla console"


class CallbackError(ValueError):
    pass


@dataclass
class CallbackCall:
    login: str
    ticket_id: int
    number: str
    state: str = "calling_operator"  # calling_operator, calling_citizen, connected, ended
    result: str | None = None  # answered, no_answer, operator_no_answer, failed
    cancelled: asyncio.Event = field(default_factory=asyncio.Event)
    task: asyncio.Task[None] | None = None

    @property
    def done(self) -> bool:
        return self.state == "ended"


class CallbackService:
    def __init__(
        self,
        offerer: Offerer,
        bridging: Bridging,
        distributor: Distributor,
        store: SqlTicketStore,
        clock: Clock,
        *,
        ring_timeout_s: float,
        citizen_timeout_s: float = 40.0,
        carrier: str = CARRIER_ENDPOINT,
        caller_id: str | None = None,
        dialout: DialoutSettings | None = None,
        tasks: TaskSupervisor | None = None,
        guard: LineGuard = UNLEASED,
    ) -> None:
        self.dialout = dialout or DialoutSettings()
        self.offerer = DialGuard(offerer, self.dialout, store_audit(store, clock.now), "callback", guard)
        self.bridging = bridging
        self.distributor = distributor
        self.store = store
        self.clock = clock
        self.ring_timeout_s = ring_timeout_s
        self.citizen_timeout_s = citizen_timeout_s
        self.carrier = carrier
        self.caller_id = caller_id
        self.calls: dict[str, CallbackCall] = {}  # by operator login: the current or last callback
        self.tasks = tasks or TaskSupervisor(type(self).__name__)
        self.on_update: Subscribers[[]] = Subscribers()  # a callback moved on (the console's live views)

    def current(self, login: str) -> CallbackCall | None:
        return self.calls.get(login)

    async def start(self, login: str, ticket_id: int, number: str) -> CallbackCall:
        try:
            number = check(number, self.dialout)
        except NumberRefused as exc:
            log.warning("callback of ticket %s by %s refused: %s", ticket_id, login, exc)
            raise CallbackError(exc.italian) from None
        agent = self.distributor.agents.get(login)
        if agent is None:
            raise CallbackError("operatore non attivo nella coda")
        running = self.calls.get(login)
        if running is not None and not running.done:
            raise CallbackError("c'è già una richiamata in corso")
        if agent.state not in (AgentState.AVAILABLE, AgentState.PAUSED, AgentState.LOGGED_OUT):
            raise CallbackError("termina prima la chiamata in corso")
        try:
            endpoint = agent.endpoint(self.carrier)
        except AgentTransitionError:
            raise CallbackError("il tuo telefono non è raggiungibile (softphone non registrato)") from None
        previous: tuple[str, str | None] = ("logged_out", None)
        if agent.state is AgentState.AVAILABLE:
            previous = ("available", None)
        elif agent.state is AgentState.PAUSED:
            previous = ("paused", agent.pause_reason)
        await self.distributor.set_presence(login, "paused", PAUSE_REASON)
        call = CallbackCall(login, ticket_id, number)
        self.calls[login] = call
        call.task = self.tasks.spawn(self._run(call, endpoint, previous), name=f"callback-{login}-{ticket_id}")
        self._updated()
        return call

    def cancel(self, login: str) -> bool:
        call = self.calls.get(login)
        if call is None or call.done:
            return False
        call.cancelled.set()
        return True

    async def _run(self, call: CallbackCall, endpoint: str, previous: tuple[str, str | None]) -> None:
        operator: CallChannel | None = None
        citizen: CallChannel | None = None
        DIAL_CONTEXT.set({"login": call.login, "ticket": call.ticket_id})  # this task's audit entries
        try:
            try:
                operator = await self.offerer.dial(
                    endpoint, caller_id=call.number, timeout=self.ring_timeout_s, cancelled=call.cancelled
                )
            except OfferFailed as exc:
                log.info("callback %s: operator %s did not answer (%s)", call.ticket_id, call.login, exc.cause)
                self._finish(call, "operator_no_answer")
                return
            self._move(call, "calling_citizen")
            ring = getattr(operator, "ring", None)
            if ring is not None:  # the operator hears it ringing meanwhile
                with contextlib.suppress(CallerHungUp, AriError, AriUnavailable):
                    await ring()
            gone = asyncio.ensure_future(operator.wait_gone())
            gone.add_done_callback(lambda _: call.cancelled.set())
            try:
                citizen = await self.offerer.dial(
                    carrier_leg(call.number, self.carrier),
                    caller_id=self.caller_id,
                    timeout=self.citizen_timeout_s,
                    cancelled=call.cancelled,
                )
            except OfferFailed as exc:
                gone.cancel()
                if operator.hung_up or exc.cause == "cancelled":  # the operator gave up: no attempt
                    self._finish(call, "cancelled")
                    return
                log.info("callback %s: citizen did not answer (%s)", call.ticket_id, exc.cause)
                await self._record(call, "no_answer")
                self._finish(call, "no_answer")
                return
            gone.cancel()
            self._move(call, "connected")
            await self._record(call, "answered")
            await self.bridging.converse(citizen, operator, record_as=None)
            self._finish(call, "answered")
        except Exception:
            log.exception("callback of ticket %s failed", call.ticket_id)
            self._finish(call, call.result or "failed")
        finally:
            for leg in (citizen, operator):
                if leg is not None and not leg.hung_up:
                    with contextlib.suppress(CallerHungUp, AriError, AriUnavailable):
                        await leg.hangup()
            await self._restore(call.login, previous)

    async def _record(self, call: CallbackCall, result: str) -> None:
        at = self.clock.now()
        try:
            await self.store.run_write(
                lambda s: messages.callback_result(s, call.ticket_id, result, at, call.login, NOTE)
            )
        except messages.MessageError as exc:
            log.warning("callback %s: result not recorded: %s", call.ticket_id, exc)
        call.result = result

    async def _restore(self, login: str, previous: tuple[str, str | None]) -> None:
        agent = self.distributor.agents.get(login)
        if agent is None or agent.state is not AgentState.PAUSED or agent.pause_reason != PAUSE_REASON:
            return  # the operator chose another state meanwhile: theirs wins
        await self.distributor.set_presence(login, previous[0], previous[1])

    def _move(self, call: CallbackCall, state: str) -> None:
        call.state = state
        self._updated()

    def _finish(self, call: CallbackCall, result: str) -> None:
        call.result = result
        call.state = "ended"
        self._updated()

    def _updated(self) -> None:
        self.on_update()
