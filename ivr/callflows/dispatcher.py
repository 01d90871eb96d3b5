"""Receives calls from the PBX and runs one CallSession task per call."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from ivr.callflows.session import CallSession, Resume
from ivr.ha.guard import Fenced
from ivr.subscribers import Subscribers
from ivr.tasks import TaskSupervisor
from ivr.telephony.ports import CallChannel

log = logging.getLogger(__name__)

SessionFactory = Callable[[CallChannel, Resume | None], CallSession]


class CallDispatcher:
    def __init__(self, new_session: SessionFactory, *, tasks: TaskSupervisor | None = None) -> None:
        self._new_session = new_session
        self._background = tasks or TaskSupervisor("dispatcher")  # hangups of calls refused at the door
        self.sessions: dict[str, CallSession] = {}
        self._tasks: dict[str, asyncio.Task[None]] = {}
        self.accepting = True
        self.served = 0
        self.on_ended: Subscribers[[int]] = Subscribers()  # a call's ticket was closed (its id)

    def on_call(self, channel: CallChannel, args: list[str]) -> None:
        kind = args[0] if args else "inbound"
        if kind != "inbound":
            log.warning("channel %s entered the app as %r, which nothing handles; hanging up", channel.id, kind)
            self._background.spawn(channel.hangup())
            return
        if not self.accepting:
            self._background.spawn(channel.hangup("congestion"))
            return
        self._start(channel, None)

    def resume(self, channel: CallChannel, resume: Resume) -> None:
        """A call found alive after a restart goes on from where its ticket says it was."""
        self._start(channel, resume)

    def _start(self, channel: CallChannel, resume: Resume | None) -> None:
        session = self._new_session(channel, resume)
        self.sessions[channel.id] = session
        task = asyncio.create_task(self._run(channel.id, session), name=f"call-{channel.id}")
        self._tasks[channel.id] = task

    async def _run(self, channel_id: str, session: CallSession) -> None:
        try:
            await session.run()
        except asyncio.CancelledError:
            pass
        except Fenced:
            pass  # the session said so: the call is the other engine's now
        except Exception:
            log.exception("call %s: session crashed", channel_id)
        finally:
            self.served += 1
            self.sessions.pop(channel_id, None)
            self._tasks.pop(channel_id, None)
            if session.ctx.ticket_id and session.closing is not None:
                self.on_ended(session.ctx.ticket_id)

    @property
    def active(self) -> int:
        return len(self._tasks)

    async def drain(self, timeout: float) -> None:
        """Stop taking calls, let the calls in progress finish for up to `timeout` s, then end
        the rest; every ticket is closed before this returns."""
        self.accepting = False
        tasks = list(self._tasks.values())
        if tasks:
            _, pending = await asyncio.wait(tasks, timeout=timeout)
            sessions = list(self.sessions.values())
            for task in pending:
                task.cancel()
            await asyncio.gather(*pending, return_exceptions=True)
            closing = [s.closing for s in sessions if s.closing is not None]
            await asyncio.gather(*closing, return_exceptions=True)
