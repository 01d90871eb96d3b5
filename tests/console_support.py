"""The console and the API built from their dependency objects alone, for fast console tests:
the real store, accounts, distributor and pages, driven through aiohttp's test client, and no
engine (the ARI and AMI clients are built but never connected)."""

from __future__ import annotations

import contextlib
import re
import wave
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from sqlalchemy.orm import Session

from ivr.acd.cap import DailyCap
from ivr.acd.distributor import Distributor
from ivr.acd.operators import OperatorDirectory
from ivr.api.deps import ClosureAdmin, Health, OperatorAdmin, QueueView
from ivr.api.server import WebDeps, make_api
from ivr.assembly import Assembly
from ivr.clock import ShiftedClock
from ivr.configfile import deep_merge
from ivr.console.accounts import Accounts, UserInfo
from ivr.console.services import ConsoleServices
from ivr.dialout.guard import DialGuard, store_audit
from ivr.hours.calendar import LineCalendar
from ivr.hours.closures import RuntimeClosures
from ivr.hours.notices import LONGEST_RECORDING_S
from ivr.prompts.library import convert_recording
from ivr.recordings.campaigns import RuntimeCampaigns
from ivr.schema.tickets import Recording, Ticket
from ivr.settings import Settings, load_settings
from ivr.tasks import TaskSupervisor
from ivr.tickets.db import make_engine, upgrade
from ivr.tickets.store import NewCall, SqlTicketStore
from ivr.voicemail import messages
from ivr.webrequests.channel import WebRequestChannel

REPO = Path(__file__).resolve().parents[1]
ROME = ZoneInfo("Europe/Rome")
MORNING = datetime(2026, 2, 10, 10, 0, tzinfo=ROME)
PASSWORD = "una-password-lunga"
CSRF_FIELD = re.compile(r'name="_csrf" value="([^"]+)"')


@dataclass
class ConsoleDeps:
    """The real parts behind the console's dependency objects, for tests to drive and inspect."""

    settings: Settings
    clock: ShiftedClock
    store: SqlTicketStore
    operators: OperatorDirectory
    distributor: Distributor
    cap: DailyCap
    closures: RuntimeClosures
    calendar: LineCalendar
    tasks: TaskSupervisor
    web: WebDeps

    @property
    def console(self) -> ConsoleServices:
        assert self.web.console is not None
        return self.web.console


@dataclass
class ConsoleLab:
    deps: ConsoleDeps
    server: TestServer
    clock: ShiftedClock
    users: dict[str, UserInfo] = field(default_factory=dict)
    seed: dict[str, int] = field(default_factory=dict)
    clients: list[TestClient[Any, Any]] = field(default_factory=list)

    @property
    def accounts(self) -> Accounts:
        return self.deps.console.accounts

    async def client(self) -> TestClient[Any, Any]:
        client: TestClient[Any, Any] = TestClient(self.server)
        await client.start_server()
        self.clients.append(client)
        return client

    async def login(self, login: str, password: str = PASSWORD) -> TestClient[Any, Any]:
        client = await self.client()
        response = await self.post_login(client, login, password)
        assert response.status == 303, await response.text()
        return client

    @staticmethod
    async def post_login(client: TestClient[Any, Any], login: str, password: str) -> Any:
        page = await client.get("/console/login")
        token = CSRF_FIELD.search(await page.text())
        assert token is not None
        data = {"_csrf": token.group(1), "login": login, "password": password, "next": "/console/"}
        return await client.post("/console/login", data=data, allow_redirects=False)

    @staticmethod
    async def csrf(client: TestClient[Any, Any], page: str = "/console/") -> str:
        response = await client.get(page)
        found = re.search(r'<meta name="csrf-token" content="([^"]+)"', await response.text())
        assert found is not None and found.group(1), "no CSRF token on the page"
        return found.group(1)

    async def call(self, number: str, *, operator: str | None = None, topic: str = "citizens") -> int:
        """A finished call in the store, taken by `operator` (outcome not filed yet)."""
        store = self.deps.store
        at = self.clock.now()
        ticket_id = await store.open_call(NewCall(f"c-{number}-{at.timestamp()}", at, number, None, "800000039"))
        columns: dict[str, Any] = {"topic": topic, "queue_result": "answered", "queued_at": at}
        if operator is not None:
            columns.update(operator_id=(await self.deps.operators.get(operator)).id, operator_answered_at=at)
        await store.update(ticket_id, **columns)
        return ticket_id

    async def voicemail(self, number: str, *, assigned_to: str | None = None) -> int:
        """A voicemail message with a real WAV file (the browser copy) in the line's voicemail
        folder: the console serves no audio from anywhere else."""
        ticket_id = await self.call(number)
        path = self.deps.settings.voicemail_dir / f"vm-{ticket_id}.wav"
        path.parent.mkdir(parents=True, exist_ok=True)
        write_tone(path)
        at = self.clock.now()

        def op(session: Session) -> int:
            recording = Recording(
                ticket_id=ticket_id, kind="voicemail", path=str(path), sha256="0" * 64, bytes=path.stat().st_size,
                duration_s=1.0, created_at=at, web_path=str(path),
            )  # fmt: skip
            session.add(recording)
            session.flush()
            message_id = messages.new_message(
                session, ticket_id=ticket_id, box="citizens", reason="busy", asterisk_name=f"vm-{ticket_id}",
                recording_id=recording.id, duration_s=1.0, speech_s=0.8, empty=False, ended_by="key", at=at,
            )  # fmt: skip
            messages.set_callback(session, message_id, number, "confirmed")
            if assigned_to is not None:
                messages.assign(session, ticket_id, assigned_to, at)
            return message_id

        return await self.deps.store.run_write(op)

    async def ticket(self, ticket_id: int) -> Ticket | None:
        return await self.deps.store.run_read(lambda s: s.get(Ticket, ticket_id))


def write_tone(path: Path, seconds: float = 1.0) -> None:
    import math
    import struct

    rate = 8000
    frames = b"".join(
        struct.pack("<h", int(8000 * math.sin(2 * math.pi * 440 * n / rate))) for n in range(int(rate * seconds))
    )
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(rate)
        out.writeframes(frames)


def lab_settings(tmp: Path, extra: dict[str, Any] | None = None) -> Any:
    overrides: dict[str, Any] = {
        "paths": {"data_dir": str(tmp)},
        "asterisk": {"ari": {"password": "x" * 16}, "ami": {"password": "x" * 16}},
        "console": {"api_token": "t" * 24},
        "prompts": {"build_dir": str(tmp / "prompts")},
    }
    if extra:
        deep_merge(overrides, extra)  # a section given keeps the lab's other settings of it
    return load_settings(
        REPO / "config" / "nul.yaml", environ={"IVR_SECRETS_FILE": str(tmp / "none.yaml")}, overrides=overrides
    )


def build_console_deps(settings: Settings, clock: ShiftedClock) -> ConsoleDeps:
    """The console's and the API's dependencies from real parts, wired as `ivr.app` wires them,
    without the engine: no call handling, no scheduler, no Asterisk connection."""
    db = make_engine(settings.database_url)
    upgrade(db)
    store = SqlTicketStore(db, tz=settings.service.tz)
    parts = Assembly(settings, clock=clock, store=store)
    operators = OperatorDirectory(store, settings.dialout)
    cap = DailyCap(store, settings.queue.daily_cap, settings.service.tz)
    tasks = parts.tasks
    ari, ami = parts.ari, parts.ami

    async def persist_presence(login: str, presence: str, reason: str | None) -> None:
        await operators.set_presence(login, presence, reason, clock.now())

    offerer = DialGuard(parts.dialler, settings.dialout, store_audit(store, clock.now), "queue")

    def operator_moved(login: str, state: str, reason: str | None, at: datetime) -> None:  # as ivr.app keeps them
        store.post("operator.state", login=login, state=state, reason=reason, at=at)

    distributor = Distributor(offerer, settings.queue, clock, persist_presence, tasks=tasks, history=operator_moved)
    queue = QueueView(distributor, cap, lambda: 0)

    async def resync() -> None:  # what the operator sync does for the queue (Asterisk is not there)
        distributor.sync(await operators.all(False))

    closures, calendar = parts.closures, parts.calendar
    s = settings
    requests = WebRequestChannel(
        store, parts.mailer, clock, s.web_requests, s.sla, tz=s.service.tz, service_name=s.service.name
    )
    console = parts.console(
        RuntimeCampaigns(store),
        queue=queue,
        operators=OperatorAdmin(operators, resync),
        closures=ClosureAdmin(closures, calendar, settings.hours.closures, parts.prompts.build_one, notice_recording),
        requests=requests,
    )
    health = Health(
        ari_connected=ari.connected.is_set,
        ami_logged_in=ami.logged_in.is_set,
        calls_in_progress=queue.calls_in_progress,
        store_degraded=lambda: store.degraded,
        store_outages=lambda: store.writer.outages,
        recordings={},
    )
    web_deps = WebDeps(settings, clock, queue, store, health, requests, console.outcomes, console)
    return ConsoleDeps(settings, clock, store, operators, distributor, cap, closures, calendar, tasks, web_deps)


@contextlib.asynccontextmanager
async def console_lab(tmp: Path, extra: dict[str, Any] | None = None) -> AsyncIterator[ConsoleLab]:
    """Operators anna and bruno; users anna (operator), bruno (operator), sara (supervisor),
    ada (administrator), all with PASSWORD."""
    clock = ShiftedClock(MORNING)
    deps = build_console_deps(lab_settings(tmp, extra), clock)
    await deps.store.start()
    for login in ("anna", "bruno"):
        await deps.operators.add(login, login.title(), now=clock.now(), softphone=False, outside_number="3470000001")
    deps.distributor.sync(await deps.operators.all())
    app: web.Application = make_api(deps.web)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    lab = ConsoleLab(deps, server, clock)
    accounts = deps.console.accounts
    for login, role, operator in (
        ("anna", "operator", "anna"),
        ("bruno", "operator", "bruno"),
        ("sara", "supervisor", None),
        ("ada", "administrator", None),
    ):
        lab.users[login] = await accounts.add(login, role, PASSWORD, clock.now(), name=login.title(), operator=operator)
    try:
        yield lab
    finally:
        for client in lab.clients:
            await client.close()
        await server.close()
        await deps.tasks.stop()
        await deps.store.stop()


def notice_recording(name: str, source: Path, target_dir: Path) -> Path:
    return convert_recording(name, source, target_dir, longest_s=LONGEST_RECORDING_S)
