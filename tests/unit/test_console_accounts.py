"""Console accounts and sessions: argon2 hashes, hashed session tokens, expiry, lockout, logout,
the access audit, the `ivr user` commands, and the callback service with fake phones."""

from __future__ import annotations

import asyncio
import io
import sys
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from ivr.acd.agents import AgentState
from ivr.acd.callbacks import CallbackService
from ivr.acd.distributor import OfferFailed
from ivr.schema.console import AuditEntry, ConsoleSession, ConsoleUser
from ivr.schema.tickets import CallbackAttempt
from ivr.telephony.ports import CallChannel
from tests.console_support import PASSWORD, ConsoleLab, console_lab, lab_settings
from tests.fakes import FakeChannel


@pytest.fixture
async def lab(tmp_path: Path) -> Any:
    async with console_lab(tmp_path, {"console": {"api_token": "t" * 24, "login_max_failures": 3}}) as lab:
        yield lab


async def test_passwords_and_tokens_are_never_stored_in_clear(lab: ConsoleLab) -> None:
    client = await lab.login("sara")
    token = next(c.value for c in client.session.cookie_jar if c.key == "nul_session")
    cookie = next(c for c in client.session.cookie_jar if c.key == "nul_session")
    assert cookie["httponly"] and cookie["samesite"] == "Strict"
    rows = await lab.deps.store.run_read(lambda s: list(s.scalars(select(ConsoleSession))))
    assert rows and all(token not in (r.token_hash, r.csrf) for r in rows)
    users = await lab.deps.store.run_read(lambda s: list(s.scalars(select(ConsoleUser))))
    assert all(u.password_hash.startswith("$argon2id$") and PASSWORD not in u.password_hash for u in users)


async def test_wrong_passwords_lock_the_login(lab: ConsoleLab) -> None:
    client = await lab.client()
    for _ in range(3):
        response = await lab.post_login(client, "sara", "sbagliata-del-tutto")
        assert response.status == 401
        assert "non corretti" in await response.text()
    locked = await lab.post_login(client, "sara", PASSWORD)  # even the right one waits now
    assert locked.status == 429
    entries = await lab.accounts.audit_entries(login="sara")
    assert [e.action for e in entries][:4] == ["login_locked", "login_failed", "login_failed", "login_failed"]
    assert (await lab.post_login(await lab.client(), "ada", PASSWORD)).status == 303  # others are not affected


async def test_sessions_expire_when_idle_or_too_old_and_on_logout(lab: ConsoleLab) -> None:
    client = await lab.login("sara")
    assert (await client.get("/console/wallboard", allow_redirects=False)).status == 200
    lab.clock.set(lab.clock.now() + timedelta(minutes=29))
    assert (await client.get("/console/wallboard", allow_redirects=False)).status == 200  # touched again
    lab.clock.set(lab.clock.now() + timedelta(minutes=31))
    expired = await client.get("/console/wallboard", allow_redirects=False)
    assert expired.status == 303 and expired.headers["Location"].startswith("/console/login")

    client = await lab.login("sara")
    for _ in range(25):  # used every 25 minutes: never idle, but 10 hours is the limit
        lab.clock.set(lab.clock.now() + timedelta(minutes=25))
        response = await client.get("/console/wallboard", allow_redirects=False)
    assert response.status == 303

    client = await lab.login("sara")
    token = await lab.csrf(client)
    out = await client.post("/console/logout", data={"_csrf": token}, allow_redirects=False)
    assert out.status == 303
    assert (await client.get("/console/wallboard", allow_redirects=False)).status == 303


async def test_disabling_a_user_ends_their_sessions(lab: ConsoleLab) -> None:
    anna = await lab.login("anna")
    assert (await anna.get("/console/desk", allow_redirects=False)).status == 200
    ada = await lab.login("ada")
    token = await lab.csrf(ada)
    response = await ada.post("/console/users/anna/active", data={"_csrf": token, "active": "0"}, allow_redirects=False)
    assert response.status == 303
    assert (await anna.get("/console/desk", allow_redirects=False)).status == 303
    assert (await lab.post_login(await lab.client(), "anna", PASSWORD)).status == 401
    new = await ada.post("/console/users", data={"_csrf": token, "login": "carla", "role": "supervisor"})
    page = await new.text()
    assert new.status == 200 and "una sola volta" in page
    secret = page.split('<code id="secret-value">')[1].split("</code>")[0]
    assert (await lab.post_login(await lab.client(), "carla", secret)).status == 303


async def test_listening_to_a_voicemail_is_audited(lab: ConsoleLab, tmp_path: Path) -> None:
    message = await lab.voicemail("3335550001")
    sara = await lab.login("sara")
    page = await (await sara.get(f"/console/voicemail/{message}")).text()
    assert f'src="/console/voicemail/{message}/audio"' in page
    audio = await sara.get(f"/console/voicemail/{message}/audio")
    assert audio.status == 200 and audio.content_type.startswith("audio/") and len(await audio.read()) > 1000
    ranged = await sara.get(f"/console/voicemail/{message}/audio", headers={"Range": "bytes=2000-"})
    assert ranged.status == 206
    download = await sara.get(f"/console/voicemail/{message}/audio?download=1")
    assert "attachment" in download.headers["Content-Disposition"]
    entries = await lab.deps.store.run_read(
        lambda s: list(s.scalars(select(AuditEntry).where(AuditEntry.object_kind == "voicemail")))
    )
    actions = [(e.login, e.action, e.object_id) for e in entries]
    assert actions == [
        ("sara", "voicemail_view", str(message)),
        ("sara", "voicemail_listen", str(message)),
        ("sara", "voicemail_download", str(message)),
    ]
    assert all(e.address == "127.0.0.1" for e in entries)
    ada = await lab.login("ada")
    log = await (await ada.get("/console/audit?kind=voicemail")).text()
    assert "voicemail_listen" in log and "sara" in log


def test_user_commands(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    from ivr import cli

    settings = lab_settings(tmp_path)
    monkeypatch.setattr(cli, "_settings", lambda args: settings)
    assert cli.main(["user", "add", "admin", "--role", "administrator", "--name", "Ada"]) == 0
    out = capsys.readouterr().out
    assert "password (shown once):" in out
    monkeypatch.setattr(sys, "stdin", io.StringIO("una-password-scelta\n"))
    assert cli.main(["user", "add", "sup", "--role", "supervisor", "--password-stdin"]) == 0
    assert "shown once" not in capsys.readouterr().out
    assert cli.main(["user", "add", "op", "--role", "operator"]) == 1  # needs --operator
    assert "--operator" in capsys.readouterr().err
    monkeypatch.setattr(sys, "stdin", io.StringIO("un-altra-password\n"))
    assert cli.main(["user", "passwd", "sup", "--password-stdin"]) == 0
    assert "every session of the user is closed" in capsys.readouterr().out
    monkeypatch.setattr(sys, "stdin", io.StringIO("un-altra-password\n"))
    assert cli.main(["user", "passwd", "nessuno", "--password-stdin"]) == 1
    assert "no user 'nessuno'" in capsys.readouterr().err
    assert cli.main(["user", "disable", "sup"]) == 0
    assert cli.main(["user", "list"]) == 0
    listing = capsys.readouterr().out
    assert "admin" in listing and "disabled" in listing


class Phones:
    """The operator's phone answers; the citizen's answers or not, as the test says."""

    def __init__(self, citizen_answers: bool) -> None:
        self.citizen_answers = citizen_answers
        self.dialled: list[tuple[str, str | None]] = []

    async def dial(
        self, endpoint: str, *, caller_id: str | None, timeout: float, cancelled: asyncio.Event
    ) -> CallChannel:
        self.dialled.append((endpoint, caller_id))
        await asyncio.sleep(0.01)
        if "3470000001" in endpoint or self.citizen_answers:
            return FakeChannel(f"leg-{len(self.dialled)}")
        raise OfferFailed("no_answer")


class Talk:
    def __init__(self) -> None:
        self.bridged: list[tuple[str, str]] = []

    async def converse(self, caller: CallChannel, operator: CallChannel, *, record_as: str | None) -> Any:
        self.bridged.append((caller.id, operator.id))
        await asyncio.sleep(0.05)
        return type("Talked", (), {"ended_by": "operator", "recording": None})()


@pytest.mark.parametrize("answers", [True, False])
async def test_callback_rings_the_operator_then_the_citizen(lab: ConsoleLab, tmp_path: Path, answers: bool) -> None:
    message = await lab.voicemail("3336660001", assigned_to="anna")
    ticket_id = await lab.deps.store.run_read(
        lambda s: s.execute(select(CallbackAttempt.ticket_id)).scalar()  # none yet
    )
    assert ticket_id is None
    deps = lab.deps
    await deps.distributor.set_presence("anna", "available")
    phones, talk = Phones(answers), Talk()
    service = CallbackService(
        phones, talk, deps.distributor, deps.store, deps.clock, ring_timeout_s=5, caller_id="800000039"
    )
    anna = await lab.login("anna")
    desk = await (await anna.get("/console/desk")).text()
    assert "Richiama 3336660001" in desk
    from ivr.voicemail import messages

    vm_ticket = await deps.store.run_read(lambda s: messages.ticket_of(s, message))
    call = await service.start("anna", vm_ticket, "3336660001")
    assert deps.distributor.agents["anna"].state is AgentState.PAUSED  # no queue call meanwhile
    assert call.task is not None
    await asyncio.wait_for(call.task, 5)
    assert phones.dialled == [("PJSIP/3470000001@carrier", "3336660001"), ("PJSIP/3336660001@carrier", "800000039")]
    attempts = await deps.store.run_read(lambda s: list(s.scalars(select(CallbackAttempt))))
    assert [(a.ticket_id, a.operator, a.result) for a in attempts] == [
        (vm_ticket, "anna", "answered" if answers else "no_answer")
    ]
    assert len(talk.bridged) == (1 if answers else 0)
    ticket = await deps.store.get(vm_ticket)
    assert ticket is not None and ticket.status == ("called_back" if answers else "assigned")
    assert deps.distributor.agents["anna"].state is AgentState.AVAILABLE  # back as she was
