"""The console against an attacker: parallel password guessing, listening without a trace, and
client addresses behind a TLS proxy (spoofable headers trusted only from the proxy)."""

from __future__ import annotations

import asyncio
import threading
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from ivr.console.accounts import UserInfo
from ivr.recordings.paths import recordings_dir
from ivr.schema.console import AuditEntry
from ivr.schema.tickets import Recording
from tests.console_support import CSRF_FIELD, PASSWORD, ConsoleLab, console_lab, write_tone

WRONG = "sbagliata-del-tutto"


def _console(**extra: Any) -> dict[str, Any]:
    return {"console": {"api_token": "t" * 24, **extra}}


class Spy:
    """Counts password verifications and how many run at once (the real argon2 check runs)."""

    def __init__(self, lab: ConsoleLab) -> None:
        self.calls = self.running = self.peak = 0
        self._lock = threading.Lock()
        real = lab.accounts.authenticate

        async def counted(*args: Any, **kwargs: Any) -> UserInfo | None:
            with self._lock:
                self.calls += 1
                self.running += 1
                self.peak = max(self.peak, self.running)
            try:
                return await real(*args, **kwargs)
            finally:
                with self._lock:
                    self.running -= 1

        lab.accounts.authenticate = counted  # type: ignore[method-assign]


async def _parallel_logins(lab: ConsoleLab, logins: list[str], password: str) -> list[int]:
    """Many login posts at once, all with one valid login-form token (as a script would)."""
    client = await lab.client()
    token = CSRF_FIELD.search(await (await client.get("/console/login")).text())
    assert token is not None

    async def attempt(login: str) -> int:
        data = {"_csrf": token.group(1), "login": login, "password": password}
        response = await client.post("/console/login", data=data, allow_redirects=False)
        return response.status

    return list(await asyncio.gather(*(attempt(login) for login in logins)))


# --- item 3: the login throttle holds under parallel guesses ------------------------------------


async def test_parallel_wrong_passwords_are_counted_before_verifying(tmp_path: Path) -> None:
    async with console_lab(tmp_path, _console(login_max_failures=5)) as lab:
        spy = Spy(lab)
        statuses = await _parallel_logins(lab, ["sara"] * 50, WRONG)
        assert statuses.count(401) == 5 and statuses.count(429) == 45, sorted(statuses)
        assert spy.calls == 5 and spy.peak == 1  # one verification at a time per login
        failed = [e for e in await lab.accounts.audit_entries(login="sara") if e.action == "login_failed"]
        assert len(failed) == 5
        right = await lab.post_login(await lab.client(), "sara", PASSWORD)
        assert right.status == 429  # locked: even the right password waits
        assert spy.calls == 5


async def test_a_flood_of_logins_is_capped_in_cpu(tmp_path: Path) -> None:
    async with console_lab(tmp_path, _console(login_max_failures=5, login_max_concurrent=2)) as lab:
        spy = Spy(lab)
        statuses = await _parallel_logins(lab, [f"nessuno{i}" for i in range(50)], WRONG)
        assert statuses.count(401) == 20 and statuses.count(429) == 30  # the address: 4 x 5 failures
        assert spy.calls == 20 and spy.peak <= 2
        assert (await lab.post_login(await lab.client(), "ada", PASSWORD)).status == 429  # same address


async def test_a_right_password_releases_its_reservation(tmp_path: Path) -> None:
    async with console_lab(tmp_path, _console(login_max_failures=2)) as lab:
        statuses = await _parallel_logins(lab, ["sara"] * 6, PASSWORD)
        assert statuses.count(303) == 6  # successes do not count as failures
        assert (await lab.post_login(await lab.client(), "sara", WRONG)).status == 401
        assert (await lab.post_login(await lab.client(), "sara", PASSWORD)).status == 303


# --- item 4: every way of fetching audio leaves an audit entry -----------------------------------


async def _listens(lab: ConsoleLab, kind: str, object_id: int) -> list[AuditEntry]:
    def read(session: Any) -> list[AuditEntry]:
        query = select(AuditEntry).where(AuditEntry.object_kind == kind, AuditEntry.object_id == str(object_id))
        return [e for e in session.scalars(query) if e.action.endswith(("_listen", "_download"))]

    return await lab.deps.store.run_read(read)


RANGES = [
    ["bytes=-100"],
    ["bytes=1-"],
    ["bytes=0-0", "bytes=1-"],
    [None],
    ["bytes=10-20, 30-"],
    ["bytes=zzz"],
    ["items=0-"],
    ["bytes=999999-"],
]


@pytest.mark.parametrize("ranges", RANGES, ids=lambda r: "+".join(str(x) for x in r))
async def test_audio_is_never_served_without_an_audit_entry(tmp_path: Path, ranges: list[str | None]) -> None:
    async with console_lab(tmp_path, _console()) as lab:
        message = await lab.voicemail("3335550001")
        sara = await lab.login("sara")
        served = 0
        for span in ranges:
            headers = {} if span is None else {"Range": span}
            response = await sara.get(f"/console/voicemail/{message}/audio", headers=headers)
            body = await response.read()
            served += len(body) if response.status in (200, 206) else 0
        entries = await _listens(lab, "voicemail", message)
        assert served == 0 or [(e.login, e.action) for e in entries] == [("sara", "voicemail_listen")]
        assert all(e.address == "127.0.0.1" for e in entries)


async def test_listens_are_audited_per_user_object_and_window(tmp_path: Path) -> None:
    async with console_lab(tmp_path, _console(listen_audit_window_min=10)) as lab:
        ticket_id = await lab.call("3335550002")
        path = recordings_dir(lab.deps.settings) / "call.wav"
        path.parent.mkdir(parents=True)
        write_tone(path)

        def add(session: Any) -> int:
            row = Recording(
                ticket_id=ticket_id, kind="call", path=str(path), sha256="0" * 64, bytes=path.stat().st_size,
                duration_s=1.0, created_at=lab.clock.now(),
            )  # fmt: skip
            session.add(row)
            session.flush()
            return int(row.id)

        recording = await lab.deps.store.run_write(add)
        sara, ada = await lab.login("sara"), await lab.login("ada")
        url = f"/console/recordings/{recording}/audio"
        assert (await sara.get(url, headers={"Range": "bytes=-500"})).status == 206
        assert (await sara.get(url, headers={"Range": "bytes=1-"})).status == 206
        assert (await ada.get(url, headers={"Range": "bytes=1-"})).status == 206
        assert [e.login for e in await _listens(lab, "recording", recording)] == ["sara", "ada"]
        lab.clock.set(lab.clock.now() + timedelta(minutes=11))  # the window has passed
        assert (await sara.get(url, headers={"Range": "bytes=1-"})).status == 206
        assert [e.login for e in await _listens(lab, "recording", recording)] == ["sara", "ada", "sara"]


# --- item 6: the client's address behind a trusted proxy -----------------------------------------


@pytest.mark.parametrize(
    ("peer", "headers", "expected"),
    [
        ("127.0.0.1", {"X-Forwarded-For": "203.0.113.9"}, "127.0.0.1"),  # not a trusted proxy: ignored
        ("10.0.0.2", {"X-Forwarded-For": "203.0.113.9"}, "203.0.113.9"),
        ("10.0.0.2", {"X-Forwarded-For": "198.51.100.1, 203.0.113.9"}, "203.0.113.9"),  # right-most
        ("10.0.0.2", {"X-Forwarded-For": "203.0.113.9, 10.0.0.7"}, "203.0.113.9"),  # skip our proxies
        ("10.0.0.2", {"X-Forwarded-For": "not-an-address"}, "10.0.0.2"),  # malformed: ignored
        ("10.0.0.2", {"X-Forwarded-For": "203.0.113.9,,"}, "10.0.0.2"),
        ("10.0.0.2", {}, "10.0.0.2"),
        ("10.0.0.2", {"Forwarded": 'for="[2001:db8::1]:4711";proto=https'}, "2001:db8::1"),
        ("10.0.0.2", {"Forwarded": "for=198.51.100.1, for=203.0.113.9;by=10.0.0.2"}, "203.0.113.9"),
        ("10.0.0.2", {"Forwarded": "for=unknown"}, "10.0.0.2"),
        ("10.0.0.2", {"Forwarded": 'for="203.0.113.9'}, "10.0.0.2"),
    ],
)
def test_forwarded_headers_are_honoured_only_from_trusted_proxies(
    peer: str, headers: dict[str, str], expected: str
) -> None:
    from ipaddress import ip_network

    from ivr.web.clientaddr import resolve

    trusted = [ip_network("10.0.0.0/8")]
    header = "forwarded" if "Forwarded" in headers else "x-forwarded-for"
    assert resolve(peer, list(headers.items()), trusted, header) == expected


async def _lock_address(lab: ConsoleLab, spoof: list[str]) -> None:
    """Wrong passwords on different logins until the address is locked (4 x login_max_failures)."""
    for i in range(12):
        client = await lab.client()
        response = await _login_from(lab, client, f"nessuno{i}", WRONG, spoof[i % len(spoof)])
        assert response.status == 401


async def _login_from(lab: ConsoleLab, client: Any, login: str, password: str, forwarded_for: str) -> Any:
    headers = {"X-Forwarded-For": forwarded_for}
    page = await client.get("/console/login", headers=headers)
    token = CSRF_FIELD.search(await page.text())
    assert token is not None
    data = {"_csrf": token.group(1), "login": login, "password": password}
    return await client.post("/console/login", data=data, headers=headers, allow_redirects=False)


async def test_spoofed_forwarded_for_from_an_untrusted_peer_is_ignored(tmp_path: Path) -> None:
    async with console_lab(tmp_path, _console(login_max_failures=3)) as lab:
        await _lock_address(lab, [f"203.0.113.{i}" for i in range(1, 13)])  # a new "address" each time
        response = await _login_from(lab, await lab.client(), "ada", PASSWORD, "198.51.100.77")
        assert response.status == 429  # the peer is what counts
        entries = await lab.accounts.audit_entries(login="nessuno0")
        assert entries and all(e.address == "127.0.0.1" for e in entries)


async def test_forwarded_for_from_a_trusted_proxy_is_the_client(tmp_path: Path) -> None:
    async with console_lab(tmp_path, _console(login_max_failures=3, trusted_proxies=["127.0.0.1"])) as lab:
        await _lock_address(lab, ["203.0.113.9"])
        locked = await _login_from(lab, await lab.client(), "ada", PASSWORD, "203.0.113.9")
        assert locked.status == 429  # that client is locked out...
        other = await _login_from(lab, await lab.client(), "ada", PASSWORD, "198.51.100.77")
        assert other.status == 303  # ...not everybody behind the proxy
        assert {e.address for e in await lab.accounts.audit_entries(login="nessuno0")} == {"203.0.113.9"}
        assert [e.address for e in await lab.accounts.audit_entries(login="ada")][:2] == [
            "198.51.100.77",
            "203.0.113.9",
        ]


async def test_public_form_limits_each_client_behind_the_proxy(tmp_path: Path) -> None:
    extra = {**_console(trusted_proxies=["127.0.0.0/8"]), "web_requests": {"per_address": 2}}
    async with console_lab(tmp_path, extra) as lab:
        client = await lab.client()
        body = {
            "name": "Maria Rossi", "email": "maria@example.org", "topic": "citizens",
            "subject": "Domanda", "message": "Vorrei sapere come iscrivermi.", "privacy": True,
        }  # fmt: skip

        async def send(client_address: str) -> int:
            headers = {"X-Forwarded-For": client_address}
            return (await client.post("/api/public/requests", json=body, headers=headers)).status

        assert [await send("203.0.113.9") for _ in range(3)] == [201, 201, 429]
        assert await send("198.51.100.77") == 201
