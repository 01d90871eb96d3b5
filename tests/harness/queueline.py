"""A line with the operator queue for real-call tests: operators with real registered
softphones or home phones reached through the carrier, and callers with unique numbers."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ivr.acd.agents import AgentState
from ivr.app import Engine
from ivr.asterisk.managed import TLS_CERT
from ivr.clock import ShiftedClock
from ivr.lab.carrier import LabCall
from tests.harness.callers import Script, Watcher, run_call
from tests.harness.pbx import PbxPair, running_engine
from tests.harness.softphone import Softphone
from tests.harness.voices import Voices

DIRECT_FLOW = """
name: queue-only
start: queue
nodes:
  queue: {type: queue, fallback: voicemail}
  voicemail: {type: voicemail, reason: busy}
"""
CONSENT_FLOW = """
name: consent-queue
start: consent
nodes:
  consent: {type: consent, next: queue}
  queue: {type: queue, fallback: voicemail}
  voicemail: {type: voicemail, reason: busy}
"""
_NUMBERS = itertools.count(1)  # every call of the module has its own caller number
QUICK = {"ring_timeout_s": 4, "wrap_up_s": 2, "announce_every_s": 10, "max_missed_offers": 2}


@dataclass
class QueueLine:
    engine: Engine
    pbx: PbxPair
    voices: Voices
    phones: list[Softphone] = field(default_factory=list)

    async def operator(
        self,
        login: str,
        *,
        softphone: bool = True,
        answer: bool = True,
        phone: str | None = None,
        presence: str = "available",
        skills: list[str] | None = None,
        tls: bool = False,
    ) -> Softphone | None:
        """Create an operator, start their softphone (registered), set their presence.
        `tls`: the softphone registers over TLS with SRTP media, as from home."""
        password: str | None
        if login in {o.login for o in await self.engine.operators.all()}:  # known already (a restarted engine)
            password = await self.engine.operators.set_password(login)
        else:
            _, password = await self.engine.operators.add(
                login,
                login.title(),
                now=self.engine.clock.now(),
                softphone=softphone,
                outside_number=phone,
                skills=skills,
            )
        await self.engine.operator_sync.run_once()  # endpoints written, PJSIP reloaded
        phone_app = None
        if softphone and password is not None:
            a = self.engine.settings.asterisk
            if tls:
                assert a.sip.tls_port is not None, "the engine's Asterisk has no TLS listener"
                ca = self.pbx.engine_asterisk.host("etc") / TLS_CERT
                address, ca_file = (a.sip.bind, a.sip.tls_port), ca
            else:
                address, ca_file = (a.sip.bind, a.sip.port), None
            phone_app = Softphone(login, password, address, self.voices.operator_padded, answer=answer, tls_ca=ca_file)
            await phone_app.start()
            self.phones.append(phone_app)
            await self.until(lambda: self.engine.distributor.agents[login].registered, f"{login} registered")
        await self.engine.distributor.set_presence(login, presence)
        return phone_app

    async def until(self, predicate: Any, what: str, timeout: float = 15) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while not predicate():
            if loop.time() > deadline:
                raise AssertionError(f"timed out waiting for {what}")
            await self.engine.operator_sync.run_once()
            await asyncio.sleep(0.1)

    async def call(self, script: Script) -> tuple[Any, LabCall]:
        return await run_call(self.engine, self.pbx.carrier, f"34{next(_NUMBERS):08d}", script)

    def state(self, login: str) -> AgentState:
        return self.engine.distributor.agents[login].state


@contextlib.asynccontextmanager
async def queue_line(
    pbx: PbxPair, tmp: Path, voices: Voices, flow: str = DIRECT_FLOW, clock: ShiftedClock | None = None, **extra: Any
) -> AsyncIterator[QueueLine]:
    flow_file = tmp / "flow.yaml"
    flow_file.write_text(flow)
    queue = {**QUICK, **extra.pop("queue", {})}
    settings = pbx.settings(tmp, {"callflow": str(flow_file), "queue": queue, **extra})
    async with running_engine(settings, clock) as engine:
        line = QueueLine(engine, pbx, voices)
        try:
            yield line
        finally:
            for phone in line.phones:
                await phone.stop()
                phone.cleanup()


def talk(seconds: float = 6.0, say: str | None = None) -> Script:
    """Wait for an operator, speak, listen for a while, hang up."""

    async def script(call: LabCall, w: Watcher) -> None:
        await w.until_event("operator_answered", timeout=60)
        if say is not None:
            await asyncio.sleep(1.0)  # the caller starts talking once connected, not mid-connection
            await call.say(say)
        await asyncio.sleep(seconds)
        await call.hangup()

    return script


@contextlib.asynccontextmanager
async def home_operators(
    line: QueueLine, pbx: PbxPair, operators: dict[str, str], talk_s: float = 2.0
) -> AsyncIterator[None]:
    """Operators at home (login -> outside number): every ring is picked up through the carrier,
    the operator talks for a moment, then hangs up first."""
    for login, number in operators.items():
        await line.operator(login, softphone=False, phone=number)

    async def answer_one(ring: Any) -> None:
        await ring.take_offer()
        with contextlib.suppress(Exception):
            await ring.channel.sleep(1.0)  # the key is pressed, the caller is being connected
            await ring.channel.sleep(talk_s)
        await ring.hangup()

    async def serve() -> None:
        tasks: set[asyncio.Task[None]] = set()
        try:
            while True:
                ring = await pbx.carrier.phones.get()
                task = asyncio.ensure_future(answer_one(ring))
                tasks.add(task)
                task.add_done_callback(tasks.discard)
        finally:
            for task in tasks:
                task.cancel()

    server = asyncio.ensure_future(serve())
    try:
        yield
    finally:
        server.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await server
