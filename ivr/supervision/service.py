"""Supervision sessions: a supervisor's phone rung, then on an operator's live conversation in one
of three modes (ivr.supervision.modes) until either hangs up, the supervisor ends it, or the
conversation ends for that operator.

The supervisor is rung like a colleague joining a call (ivr.acd.control): on the phone of the
operator account their console user is linked to (desk, softphone or an outside number that
confirms with 1), only while logged in, and reserved from the queue meanwhile. Their phone and
one snoop channel share a bridge of their own; a change of mode puts the new snoop in before the
old one leaves, so the supervisor hears no gap. The conversation's bridge is never touched.

Every session leaves three kinds of audit entries, under the supervised operator's login:
`supervision_started` (asked, before anything rings), `supervision_mode` per change and
`supervision_ended` with why and how long; an operator reads their own on the desk.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from ivr.acd.control import CallControl, ControlError, LiveCall, Party
from ivr.acd.offers import OFFERING, OfferFailed, Offering
from ivr.callflows.recovery_plan import supervision_bridge
from ivr.clock import Clock
from ivr.supervision.config import SupervisionSettings
from ivr.supervision.modes import HELD_LISTEN, LABELS, TAPS, Mode
from ivr.tasks import TaskSupervisor
from ivr.telephony.errors import AriError, AriUnavailable, CallerHungUp
from ivr.telephony.ports import CallChannel, Snoops
from ivr.tickets.audit import Actor, AuditSink, record

log = logging.getLogger(__name__)
_GONE = (CallerHungUp, AriError, AriUnavailable)
END_WAIT_S = 10.0


class SupervisionError(Exception):
    """Why a session cannot start or change now, in words for the supervisor."""


class SupervisionRefused(SupervisionError):
    """Not allowed at all (off on this line, not this user's role or session)."""


@dataclass
class Session:
    number: int
    operator: str  # the login of the operator followed
    by: Actor
    by_name: str
    ticket_id: int
    mode: Mode
    started_at: datetime
    live: LiveCall
    party: Party  # the supervisor's phone: the operator account their user is linked to
    state: str = "ringing"  # -> "on" -> "ended"
    tap: CallChannel | None = None
    bridge_id: str | None = None
    inside: bool = False  # the supervisor's phone in the conversation's bridge (the caller holding)
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)  # one move of the phone at a time
    modes: list[str] = field(default_factory=list)
    reason: str | None = None  # why it ended, once somebody ended it
    task: asyncio.Task[None] | None = None
    done: asyncio.Event = field(default_factory=asyncio.Event)

    def view(self) -> dict[str, Any]:
        return {
            "session": self.number,
            "operator": self.operator,
            "by": self.by_name,
            "by_login": self.by.name,
            "mode": str(self.mode),
            "label": LABELS[self.mode],
            "state": self.state,
            "ticket": self.ticket_id,
            "since": self.started_at.isoformat(timespec="seconds"),
        }


class Supervision:
    def __init__(
        self,
        settings: SupervisionSettings,
        control: CallControl,
        snoops: Snoops,
        audit: AuditSink,
        clock: Clock,
        *,
        tasks: TaskSupervisor,
        notify: Callable[[], None],
    ) -> None:
        self.settings = settings
        self.control = control
        self.snoops = snoops
        self.audit = audit
        self.clock = clock
        self.tasks = tasks
        self.notify = notify
        self.sessions: dict[str, Session] = {}  # by the login of the operator followed
        self._numbers = itertools.count(1)
        control.on_left.subscribe(self._operator_left)
        control.on_hold.subscribe(self._hold_changed)

    # --- reading ------------------------------------------------------------------------------

    def of(self, operator: str) -> Session | None:
        return self.sessions.get(operator)

    def by_user(self, login: str) -> Session | None:
        return next((s for s in self.sessions.values() if s.by.name == login), None)

    def on_phone_of(self, login: str) -> Session | None:
        """The session ringing or heard on the phone of operator account `login` (a supervisor's)."""
        return next((s for s in self.sessions.values() if s.party.login == login), None)

    def views(self) -> dict[str, dict[str, Any]]:
        return {login: s.view() for login, s in self.sessions.items()}

    def may(self, role: str) -> bool:
        return self.settings.enabled and role in self.settings.roles

    # --- commands -----------------------------------------------------------------------------

    async def start(self, by: Actor, name: str, phone: str | None, operator: str, mode: Mode) -> Session:
        """`phone`: the operator login of the supervisor's own phone (their user's link)."""
        self._allowed(by)
        if phone is None:
            raise SupervisionError("il tuo utente non ha un telefono: va collegato a un operatore")
        if operator in self.sessions:
            raise SupervisionError(f"{operator} è già seguito da {self.sessions[operator].by_name}")
        if self.by_user(by.name or "") is not None:
            raise SupervisionError("stai già seguendo un'altra conversazione: chiudi quella prima")
        live = self.control.calls.get(operator)
        if live is None or live.bridge_id is None:
            raise SupervisionError(f"{operator} non è in conversazione con un chiamante")
        try:
            party = self.control.party(phone, live)
        except ControlError as exc:
            raise SupervisionError(str(exc)) from None
        session = Session(
            next(self._numbers), operator, by, name, live.ticket_id, mode, self.clock.now(), live, party, modes=[mode]
        )
        # Known before the first await: the reservation has already woken the desks, and the
        # supervisor's must not show the followed call as one of theirs (measured: it did).
        self.sessions[operator] = session
        try:
            await self._audit(session, "supervision_started", mode=str(mode), phone=phone)
        except BaseException:
            self.sessions.pop(operator, None)
            await self.control.release(party)
            raise
        session.task = self.tasks.spawn(self._run(session), name=f"supervise-{operator}")
        self.notify()
        return session

    async def switch(self, by: Actor, operator: str, mode: Mode) -> Session:
        session = self._own(by, operator)
        if mode is session.mode:
            return session
        before, session.mode = session.mode, mode
        if session.state == "on":
            try:
                await self._tap(session)
            except _GONE as exc:
                session.mode = before
                raise SupervisionError(f"modalità non cambiata: {exc}") from None
        session.modes.append(str(mode))  # the modes it was in, as the audit log says them
        await self._audit(session, "supervision_mode", mode=str(mode), before=str(before))
        self.notify()
        return session

    async def end(self, by: Actor, operator: str) -> None:
        """Any supervisor may end a session (the one who started it may have left the room)."""
        self._allowed(by)
        session = self.sessions.get(operator)
        if session is None:
            raise SupervisionError(f"nessuno sta seguendo {operator}")
        self._stop(session, "ended_by_supervisor" if session.by.name == by.name else f"ended_by:{by.name}")
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(session.done.wait(), END_WAIT_S)

    # --- the session --------------------------------------------------------------------------

    async def _run(self, s: Session) -> None:
        try:
            agent = self.control.distributor.agents[s.party.login]
            OFFERING.set(Offering(s.ticket_id, s.live.topic, s.party.login, on_ticket=False))  # at home: 1 too
            try:
                leg = await self.control.offerer.dial(
                    agent.endpoint(), caller_id=None, timeout=self.settings.ring_timeout_s, cancelled=s.party.stop
                )
            except (OfferFailed, AriError, AriUnavailable) as exc:
                self._stop(s, f"not_answered:{exc.cause if isinstance(exc, OfferFailed) else 'error'}")
                return
            s.party.leg = leg
            if s.reason is not None:
                return
            if s.party.agent is not None:
                self.control.distributor.engage(s.party.agent)
            s.bridge_id = await self.control.bridges.create(supervision_bridge(s.ticket_id, s.number))
            await self.control.bridges.add_channels(s.bridge_id, [leg.id])
            s.state = "on"  # from here a change of mode or a hold places the phone too, one at a time
            await self._tap(s)
            self.notify()
            await self._until_over(s, leg)
        except CallerHungUp:
            self._stop(s, "conversation_ended")
        except (AriError, AriUnavailable) as exc:
            log.error("supervision of %s (ticket %s) failed: %s", s.operator, s.ticket_id, exc)
            self._stop(s, "error")
        finally:
            await self._finish(s)

    async def _until_over(self, s: Session, leg: CallChannel) -> None:
        gone = asyncio.ensure_future(leg.wait_gone())
        stopped = asyncio.ensure_future(s.party.stop.wait())
        try:
            await asyncio.wait([gone, stopped], return_when=asyncio.FIRST_COMPLETED)
        finally:
            gone.cancel()
            stopped.cancel()
        if s.reason is None:
            self._stop(s, "supervisor_hung_up")

    async def _tap(self, s: Session) -> None:
        async with s.lock:
            await self._place(s)

    async def _place(self, s: Session) -> None:
        """A snoop for the session's mode into the supervisor's bridge, then the old one out; while
        the caller holds, coaching and joining are the phone inside the conversation's bridge."""
        assert s.bridge_id is not None and s.party.leg is not None
        bridges, leg = self.control.bridges, s.party.leg
        held = s.live.held_since is not None and s.live.bridge_id is not None
        if held and s.mode is not Mode.LISTEN:
            if not s.inside:
                await bridges.remove_channel(s.bridge_id, leg.id)
                assert s.live.bridge_id is not None
                await bridges.add_channels(s.live.bridge_id, [leg.id])
                s.inside = True
            await self._untap(s)
            return
        if s.inside:
            s.inside = False
            if s.live.bridge_id is not None:
                with contextlib.suppress(AriError):
                    await bridges.remove_channel(s.live.bridge_id, leg.id)
            await bridges.add_channels(s.bridge_id, [leg.id])
        tap = HELD_LISTEN if held else TAPS[s.mode]
        target = s.live.caller if tap.on == "caller" else s.live.operator
        new = await self.snoops.snoop(target.id, spy=tap.spy, whisper=tap.whisper)
        try:
            await bridges.add_channels(s.bridge_id, [new.id])
        except BaseException:
            with contextlib.suppress(*_GONE):
                await new.hangup()
            raise
        await self._untap(s)
        s.tap = new

    async def _untap(self, s: Session) -> None:
        old, s.tap = s.tap, None
        if old is not None:
            with contextlib.suppress(*_GONE):
                await old.hangup()

    def _hold_changed(self, live: LiveCall) -> None:
        session = next((s for s in self.sessions.values() if s.live is live and s.state == "on"), None)
        if session is not None:
            self.tasks.spawn(self._follow_hold(session), name=f"supervise-hold-{session.operator}")

    async def _follow_hold(self, s: Session) -> None:
        try:
            await self._tap(s)
        except _GONE as exc:
            log.warning("supervision of %s: not moved with the hold (%s); ended", s.operator, exc)
            self._stop(s, "error")

    def _stop(self, s: Session, reason: str) -> None:
        if s.reason is None:
            s.reason = reason
        s.party.stop.set()

    async def _finish(self, s: Session) -> None:
        s.state = "ended"
        if self.sessions.get(s.operator) is s:
            del self.sessions[s.operator]
        for channel in (s.tap, s.party.leg):
            if channel is not None:
                with contextlib.suppress(*_GONE):
                    await channel.hangup()
        if s.bridge_id is not None:
            with contextlib.suppress(AriError, AriUnavailable):
                await self.control.bridges.destroy(s.bridge_id)
        await self.control.release(s.party)
        seconds = round((self.clock.now() - s.started_at).total_seconds(), 1)
        try:
            reason = s.reason or "engine_stopped"
            await self._audit(s, "supervision_ended", reason=reason, seconds=seconds, modes=s.modes)
        except Exception:
            log.exception("supervision of %s (ticket %s): its end not in the audit log", s.operator, s.ticket_id)
        s.done.set()
        self.notify()

    def _operator_left(self, login: str, live: LiveCall) -> None:
        session = self.sessions.get(login)
        if session is not None and session.live is live:
            self._stop(session, "conversation_ended")

    # --- helpers ------------------------------------------------------------------------------

    def _allowed(self, by: Actor) -> None:
        if not self.settings.enabled:
            raise SupervisionRefused("l'ascolto delle conversazioni non è attivo su questa linea")
        role = getattr(by.user, "role", None)
        if role is not None and role not in self.settings.roles:
            raise SupervisionRefused("il tuo ruolo non può seguire le conversazioni degli operatori")

    def _own(self, by: Actor, operator: str) -> Session:
        self._allowed(by)
        session = self.sessions.get(operator)
        if session is None:
            raise SupervisionError(f"nessuno sta seguendo {operator}")
        if session.by.name != by.name:
            raise SupervisionRefused(f"la sessione è di {session.by_name}")
        return session

    async def _audit(self, s: Session, action: str, **detail: Any) -> None:
        await record(self.audit, s.by, action, self.clock.now(), "operator", s.operator,
                     ticket=s.ticket_id, session=s.number, **detail)  # fmt: skip
