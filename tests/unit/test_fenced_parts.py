"""Each part that acts outside the database asks the engine's LineGuard first (ivr.ha.guard):
a fenced engine's ARI request, dial-out, e-mail, PJSIP file and feature files never happen."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from ivr.acd.config import QueueSettings
from ivr.acd.distributor import Distributor
from ivr.acd.operators import OperatorDirectory
from ivr.acd.sync import OperatorSync
from ivr.asterisk.instance import free_port
from ivr.clock import SystemClock
from ivr.dialout.config import DialoutSettings
from ivr.dialout.guard import DialGuard
from ivr.ha.guard import Fenced, LineGuard
from ivr.recordings.store import RecordingStore
from ivr.stats.config import StatsSettings
from ivr.stats.export import StatsExporter
from ivr.telephony.ami import AmiMonitor
from ivr.telephony.ari import AriClient
from ivr.telephony.ari_resources import AriPbxAdmin
from ivr.telephony.errors import AriError
from ivr.tickets.db import make_engine
from ivr.tickets.store import SqlTicketStore
from ivr.tickets.writer import Fenced as WriterFenced
from ivr.webrequests.config import MailSettings
from ivr.webrequests.mail import SmtpMailer
from tests.harness.inbox import Inbox, smtp_inbox
from tests.unit.test_dialout import Phones


def lost() -> LineGuard:
    guard = LineGuard()
    guard.hold(guard.now(), 60.0)
    guard.lose("taken by another engine")
    return guard


class Jumps:
    """A monotonic clock that moves `step` seconds at every reading (a process frozen between
    two of them)."""

    def __init__(self, step: float) -> None:
        self.t, self.step = 0.0, step

    def __call__(self) -> float:
        self.t += self.step
        return self.t


# --- dial-outs ---------------------------------------------------------------------------------


async def test_the_dial_out_audit_refused_by_the_lease_stops_the_dial() -> None:
    """The writer refuses the audit entry because another engine holds the line: that is not a
    database outage to ride through, the number must not be rung."""
    phones = Phones()

    async def audit(action: str, number: str, detail: dict[str, Any]) -> None:
        raise WriterFenced("the lease of 'nul' was taken by another engine (token 8)")

    dial = DialGuard(phones, DialoutSettings(), audit, "callback")
    with pytest.raises(Fenced, match="taken by another engine"):
        await dial.dial("PJSIP/3471234567@carrier", caller_id=None, timeout=5, cancelled=asyncio.Event())
    assert phones.dialled == []


async def test_a_fenced_engine_dials_nothing_not_even_a_softphone() -> None:
    phones = Phones()
    audited: list[str] = []

    async def audit(action: str, number: str, detail: dict[str, Any]) -> None:
        audited.append(number)

    dial = DialGuard(phones, DialoutSettings(), audit, "queue", lost())
    for endpoint in ("PJSIP/3471234567@carrier", "PJSIP/op-anna"):
        with pytest.raises(Fenced, match=r"dial-out \(queue\): refused"):
            await dial.dial(endpoint, caller_id=None, timeout=5, cancelled=asyncio.Event())
    assert phones.dialled == [] and audited == []


# --- ARI ---------------------------------------------------------------------------------------


@pytest.fixture
async def asterisk() -> AsyncIterator[tuple[str, list[str]]]:
    """An HTTP server standing in for ARI: records every request that reaches it."""
    seen: list[str] = []

    async def any_request(request: web.Request) -> web.Response:
        seen.append(f"{request.method} {request.path}")
        return web.json_response([])

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", any_request)
    runner = web.AppRunner(app)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    try:
        yield f"http://127.0.0.1:{port}", seen
    finally:
        await runner.cleanup()


async def test_a_fenced_ari_client_sends_no_request(asterisk: tuple[str, list[str]]) -> None:
    url, seen = asterisk
    guard = LineGuard()
    client = AriClient(url, "nul", "u", "p", guard=guard)
    client._session = client._new_session()  # REST only, no event socket
    try:
        assert await client.get("channels") == []
        guard.lose("taken by another engine")
        with pytest.raises(Fenced, match="ARI POST channels/c1/answer: refused") as refused:
            await client.post("channels/c1/answer")
        assert not isinstance(refused.value, AriError)  # no caller takes it for a PBX fault
        with pytest.raises(Fenced):
            await client.download("recordings/stored/r1/file")
    finally:
        await client.close()
    assert seen == ["GET /ari/channels"]


async def test_the_lease_going_stale_while_connecting_still_stops_the_request(asterisk: tuple[str, list[str]]) -> None:
    """Checked again once the connection is there, right before the request is written."""
    url, seen = asterisk
    guard = LineGuard(monotonic=Jumps(1.0))
    guard.hold(0.0, 1.5)  # the first reading (1.0) is within the term, the next (2.0) is not
    client = AriClient(url, "nul", "u", "p", guard=guard)
    client._session = client._new_session()
    try:
        with pytest.raises(Fenced, match="ARI request: refused"):
            await client.get("channels")
    finally:
        await client.close()
    assert seen == []


def test_a_fenced_ari_client_acts_on_no_event() -> None:
    guard = LineGuard()
    client = AriClient("http://127.0.0.1:1", "nul", "u", "p", guard=guard)
    starts: list[str] = []
    client.on_start.subscribe(lambda e: starts.append(e["channel"]["id"]))
    client._on_text('{"type": "StasisStart", "channel": {"id": "c1"}, "args": []}')
    guard.lose("taken by another engine")
    client._on_text('{"type": "StasisStart", "channel": {"id": "c2"}, "args": []}')
    assert starts == ["c1"]


# --- e-mail ------------------------------------------------------------------------------------


@pytest.fixture
def inbox() -> Iterator[tuple[Inbox, int]]:
    with smtp_inbox() as found:
        yield found


async def test_a_fenced_engine_sends_no_mail(inbox: tuple[Inbox, int]) -> None:
    box, port = inbox
    guard = LineGuard()
    mailer = SmtpMailer(MailSettings(host="127.0.0.1", port=port, tls="none"), guard)
    assert await mailer.send("maria@example.org", "Ricevuta", "Testo.")
    guard.lose("taken by another engine")
    with pytest.raises(Fenced, match="send e-mail: refused"):
        await mailer.send("maria@example.org", "Ricevuta", "Testo.")
    assert len(box.mails) == 1


async def test_a_mail_whose_lease_goes_stale_while_connecting_is_not_sent(inbox: tuple[Inbox, int]) -> None:
    box, port = inbox
    guard = LineGuard(monotonic=Jumps(1.0))
    guard.hold(0.0, 1.5)  # allowed at the first check, refused at the one before the message
    mailer = SmtpMailer(MailSettings(host="127.0.0.1", port=port, tls="none"), guard)
    with pytest.raises(Fenced, match="send e-mail: refused"):
        await mailer.send("maria@example.org", "Ricevuta", "Testo.")
    assert box.mails == []


# --- files -------------------------------------------------------------------------------------


class NoPbx:
    async def fetch(self, name: str) -> bytes:
        return b"RIFF" + bytes(100)

    async def delete(self, name: str) -> None:
        raise AssertionError("a fenced engine deletes nothing in Asterisk")


class NoStore:
    async def execute(self, name: str, **values: Any) -> int:
        raise AssertionError("nothing to record: the file was refused")


async def test_a_fenced_engine_writes_no_recording(tmp_path: Path) -> None:
    store = RecordingStore(NoPbx(), tmp_path / "voicemail", NoStore(), lost())  # type: ignore[arg-type]
    at = datetime(2026, 12, 3, 10, tzinfo=UTC)
    with pytest.raises(Fenced, match="write recording vm-1: refused"):
        await store.keep("vm-1", "wav", ticket_id=1, kind="voicemail", at=at)
    assert not (tmp_path / "voicemail").exists()


async def test_a_fenced_engine_writes_no_open_data(tmp_path: Path) -> None:
    async def read(fn: Any) -> Any:
        raise AssertionError("reading is allowed, but this test never gets that far")

    exporter = StatsExporter(read, StatsSettings(), tmp_path / "opendata", SystemClock(), guard=lost())
    with pytest.raises(Fenced, match="write open-data files: refused"):
        await exporter.export(date(2026, 12, 2))
    assert not (tmp_path / "opendata").exists()


async def test_a_fenced_engine_neither_rewrites_the_operators_pjsip_file_nor_reloads(tmp_path: Path) -> None:
    path = tmp_path / "pjsip_operators.conf"
    reloads: list[str] = []

    class Pbx(AriPbxAdmin):
        async def reload_module(self, name: str) -> None:
            reloads.append(name)

    sync = OperatorSync(
        OperatorDirectory(SqlTicketStore(make_engine("sqlite://"))),
        Distributor(Phones(), QueueSettings(), SystemClock()),
        Pbx(AriClient("http://127.0.0.1:1", "nul", "u", "p")),
        AmiMonitor("127.0.0.1", 1, "nul", "not-used"),
        path,
        ["alaw"],
        guard=lost(),
    )
    with pytest.raises(Fenced, match="rewrite the operators' PJSIP file: refused"):
        await asyncio.to_thread(sync._write, "[op-anna]\ntype = endpoint\n")
    with pytest.raises(Fenced, match="reload PJSIP: refused"):
        await sync._reload_pjsip()
    assert not path.exists() and reloads == []
