"""A desk's SIP credential lives no longer than the console session it was made for: however the
session ends (logout, idle or absolute expiry, the user disabled, a new password, the operator
deactivated), the `web-<login>` auth leaves the PJSIP file the engine writes for Asterisk, and
the desk is never rung again. The console, store, accounts, distributor and operator sync are
real; only Asterisk's side (reload, registrations) is a fake that records what it was asked."""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from sqlalchemy import update

from ivr.acd.agents import AgentState
from ivr.acd.sync import OperatorSync
from ivr.api.deps import OperatorAdmin
from ivr.schema.console import ConsoleSession
from ivr.telephony.ports import PbxEvent
from ivr.webphone.desks import DeskPhones
from tests.console_support import ConsoleLab, console_lab


class FakePbx:
    """Asterisk as the sync sees it: reloads counted, the desks' endpoints online as told."""

    def __init__(self) -> None:
        self.reloads = 0
        self.reloaded = asyncio.Event()
        self.online: set[str] = set()
        self.removed: list[str] = []

    async def reload_module(self, module: str) -> None:
        self.reloads += 1
        self.reloaded.set()

    async def rotate_log(self, channel: str) -> None:
        pass

    async def online_endpoints(self, tech: str) -> set[str]:
        return set(self.online)

    async def remove_contact(self, contact_id: str) -> None:
        self.removed.append(contact_id)


class FakeAmi:
    def __init__(self) -> None:
        self.handlers: dict[str, Callable[[PbxEvent], None]] = {}

    async def start(self) -> None:
        pass

    async def stop(self) -> None:
        pass

    async def alive(self) -> bool:
        return True

    def on_event(self, pattern: str, callback: Callable[[PbxEvent], None]) -> None:
        self.handlers[pattern] = callback


class Line:
    """The console lab with the engine's operator sync writing the PJSIP file."""

    def __init__(self, lab: ConsoleLab, tmp: Path) -> None:
        self.lab = lab
        self.pbx, self.ami = FakePbx(), FakeAmi()
        self.conf = tmp / "pjsip_operators.conf"
        desks = lab.deps.console.desks
        assert desks is not None
        self.desks: DeskPhones = desks
        self.sync = OperatorSync(
            lab.deps.operators,
            lab.deps.distributor,
            self.pbx,
            self.ami,
            self.conf,
            ["alaw"],
            desks=desks,
        )
        lab.deps.console.operators = OperatorAdmin(lab.deps.operators, self.sync.run_once)

    def pjsip(self) -> str:
        return self.conf.read_text() if self.conf.exists() else ""

    async def desk_open(self, login: str = "anna") -> tuple[TestClient[Any, Any], str]:
        """`login` logged in, their desk given its SIP password; returns the client and the digest."""
        client = await self.lab.login(login)
        response = await client.get("/console/desk/phone/account")
        assert response.status == 200, await response.text()
        await self.sync.run_once()
        digest = self.desks.digests()[login]
        assert f"[web-{login}-auth]" in self.pjsip() and f"md5_cred = {digest}" in self.pjsip()
        return client, digest

    async def admin_post(self, path: str, **data: str) -> int:
        admin = await self.lab.login("ada")
        token = await self.lab.csrf(admin, "/console/users")
        response = await admin.post(path, data={"_csrf": token, **data}, allow_redirects=False)
        return response.status

    def gone(self, login: str, digest: str) -> bool:
        text = self.pjsip()
        return f"web-{login}" not in text and digest not in text and login not in self.desks.digests()


@pytest.fixture
async def line(tmp_path: Path) -> Any:
    async with console_lab(tmp_path) as lab:
        yield Line(lab, tmp_path)


async def test_logout_takes_the_credential_out_of_asterisk_at_once(line: Line) -> None:
    client, digest = await line.desk_open()
    reloads = line.pbx.reloads
    token = await line.lab.csrf(client, "/console/desk")
    await client.post("/console/logout", data={"_csrf": token}, allow_redirects=False)
    assert line.gone("anna", digest)  # rewritten by the logout itself, not at the next sweep
    assert line.pbx.reloads == reloads + 1


async def test_disabling_the_user_in_the_console_takes_the_credential_out(line: Line) -> None:
    _, digest = await line.desk_open()
    assert await line.admin_post("/console/users/anna/active", active="0") == 303
    assert line.gone("anna", digest)


async def test_a_password_reset_in_the_console_takes_the_credential_out(line: Line) -> None:
    _, digest = await line.desk_open()
    assert await line.admin_post("/console/users/anna/password") == 200
    assert line.gone("anna", digest)


@pytest.mark.parametrize(
    "ending",
    ["disabled from the command line", "password changed from the command line", "operator deactivated"],
)
async def test_a_change_in_the_store_ends_the_credential_at_the_next_sweep(line: Line, ending: str) -> None:
    """`ivr user disable`, `ivr user passwd` and `ivr operator update --active no` write to the
    store from another process: the engine's sweep is what notices."""
    _, digest = await line.desk_open()
    accounts, operators = line.lab.accounts, line.lab.deps.operators
    if ending == "disabled from the command line":
        await accounts.set_active("anna", False)
    elif ending == "password changed from the command line":
        await accounts.set_password("anna", "una-password-nuova")
    else:
        await operators.update("anna", active=False)
    assert "web-anna" in line.pjsip()  # nothing rewrote it yet
    await line.sync.run_once()
    assert line.gone("anna", digest)


@pytest.mark.parametrize("limit", ["idle", "absolute"])
async def test_an_expired_session_ends_the_credential(line: Line, limit: str) -> None:
    c = line.lab.deps.settings.console
    _, digest = await line.desk_open()
    clock = line.lab.clock
    if limit == "idle":
        clock.set(clock.now() + timedelta(minutes=c.session_idle_min, seconds=5))
    else:  # used a moment ago (the desk's heartbeats), but logged in longer ago than allowed
        clock.set(clock.now() + timedelta(hours=c.session_max_h, seconds=5))
        at = clock.now()
        await line.lab.deps.store.run_write(
            lambda s: s.execute(update(ConsoleSession).values(last_seen_at=at - timedelta(seconds=30)))
        )
    await line.sync.run_once()
    assert line.gone("anna", digest)


async def test_a_live_session_keeps_its_credential_through_sweeps(line: Line) -> None:
    _, digest = await line.desk_open()
    reloads = line.pbx.reloads
    await line.sync.run_once()
    await line.sync.run_once()
    assert f"md5_cred = {digest}" in line.pjsip() and line.pbx.reloads == reloads  # no needless reload


async def test_a_desk_whose_session_died_is_never_rung_and_its_contact_is_removed(line: Line) -> None:
    """A PJSIP reload leaves a registered contact until it expires: the engine removes it, and in
    any case never counts it (Asterisk may still list it when its removal fails)."""
    await line.desk_open()
    distributor = line.lab.deps.distributor
    await distributor.set_presence("anna", "available")
    line.pbx.online.add("web-anna")
    uri = "sip:web-anna@127.0.0.1:40000;transport=ws;x-ast-orig-host=abc.invalid:0"
    line.ami.handlers["ContactStatus"]({"AOR": "web-anna", "ContactStatus": "Created", "URI": uri})
    await line.sync.run_once()
    assert distributor.agents["anna"].desk and distributor.agents["anna"].endpoint() == "PJSIP/web-anna"
    await line.lab.accounts.set_active("anna", False)
    await line.sync.run_once()  # Asterisk still says web-anna is online
    anna = distributor.agents["anna"]
    assert not anna.desk and anna.endpoint() != "PJSIP/web-anna"
    # and the registration is taken out of Asterisk, which a reload alone leaves in place
    assert line.pbx.removed == [f"web-anna;@{hashlib.md5(uri.encode()).hexdigest()}"]
    line.ami.handlers["ContactStatus"]({"AOR": "web-anna", "ContactStatus": "Reachable", "URI": "sip:x@y"})
    assert not distributor.agents["anna"].desk  # a late contact event does not bring the desk back
    assert anna.state is AgentState.PAUSED  # the desk is closed for good: not left available


async def test_the_periodic_sweep_runs_on_the_engine_task_supervisor(line: Line) -> None:
    """No explicit call: the sync's own loop, started through the supervisor, drops the credential."""
    _, digest = await line.desk_open()
    sync = OperatorSync(
        line.lab.deps.operators,
        line.lab.deps.distributor,
        line.pbx,
        line.ami,
        line.conf,
        ["alaw"],
        every_s=0.05,
        desks=line.desks,
        tasks=line.lab.deps.tasks,
    )
    running = line.lab.deps.tasks.running
    await sync.start()
    try:
        assert line.lab.deps.tasks.running == running + 1
        await line.lab.accounts.set_active("anna", False)
        await _until(line.pbx, lambda: line.gone("anna", digest))
    finally:
        await sync.stop()


async def _until(pbx: FakePbx, condition: Callable[[], bool]) -> None:
    """Each PJSIP reload is a rewritten file: look after each one."""
    while not condition():
        pbx.reloaded.clear()
        await asyncio.wait_for(pbx.reloaded.wait(), 30)  # a bound for a broken loop, not a measured delay
