"""Console pages beyond access: live events, call recordings, run-time campaigns, and the
console's tables on both database backends."""

from __future__ import annotations

import asyncio
import json
from dataclasses import replace
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from sqlalchemy import select
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from ivr.api.deps import QueueView
from ivr.console.accounts import AccountError, Accounts
from ivr.console.app import mount_console
from ivr.recordings.campaigns import CampaignError, RuntimeCampaigns
from ivr.recordings.paths import recordings_dir
from ivr.schema.tickets import Recording, Voicemail
from ivr.tickets.db import make_engine, upgrade
from ivr.tickets.store import SqlTicketStore
from ivr.voicemail import messages
from tests.console_support import CSRF_FIELD, MORNING, PASSWORD, ConsoleLab, console_lab, write_tone


@pytest.fixture
async def lab(tmp_path: Path) -> Any:
    async with console_lab(tmp_path) as lab:
        yield lab


async def _first_view(response: Any) -> dict[str, Any]:
    buffer = b""
    while b"\n\n" not in buffer:
        buffer += await response.content.readany()
    event, data = buffer.split(b"\n\n")[0].decode().split("\n")
    assert event == "event: view"
    parsed: dict[str, Any] = json.loads(data.removeprefix("data: "))
    return parsed


async def test_desk_events_follow_presence(lab: ConsoleLab) -> None:
    anna = await lab.login("anna")
    response = await anna.get("/console/desk/events")
    assert response.status == 200 and response.content_type == "text/event-stream"
    first = await _first_view(response)
    assert first["view"]["state"] == "logged_out" and "Disconnesso" in first["state_html"]
    await lab.deps.distributor.set_presence("anna", "paused", "Pranzo")
    second = await _first_view(response)
    assert (second["view"]["state"], second["view"]["reason"]) == ("paused", "Pranzo")
    response.close()


async def test_a_field_too_long_is_a_400_that_says_why(lab: ConsoleLab) -> None:
    """Found by the console fuzz: a handler that does not show its form again let the length
    check escape as a 500."""
    anna = await lab.login("anna")
    token = await lab.csrf(anna, "/console/desk")
    response = await anna.post(
        "/console/desk/presence", data={"_csrf": token, "presence": "9" * 200}, allow_redirects=False
    )
    assert response.status == 400
    assert "al massimo 16 caratteri" in await response.text()
    assert lab.deps.distributor.agents["anna"].state.value == "logged_out"  # nothing changed


async def test_wallboard_events_count_waiting_and_admissions(lab: ConsoleLab) -> None:
    sara = await lab.login("sara")
    response = await sara.get("/console/wallboard/events")
    first = await _first_view(response)
    assert 'id="wb-admitted">0 / 400<' in first["board_html"]
    await lab.deps.cap.admit(lab.clock.now())
    lab.deps.console.live.notify()
    second = await _first_view(response)
    assert 'id="wb-admitted">1 / 400<' in second["board_html"]
    response.close()


class CountingCap:
    """Today's admissions as a fixed count: the wallboard reads only these three things of the cap."""

    limit = 400

    def __init__(self, admitted: int) -> None:
        self.admitted = admitted

    def day_of(self, at: datetime) -> date:
        return at.date()

    async def count(self, at: datetime) -> int:
        return self.admitted


async def test_the_console_stands_on_its_dependencies_alone(lab: ConsoleLab) -> None:
    """The console app from its dependency objects only (no engine, no API around it): a fake
    day's count behind the queue view reaches the wallboard."""
    real = lab.deps.console
    queue = QueueView(real.queue.distributor, CountingCap(7), lambda: 2)  # type: ignore[arg-type]
    app = web.Application()
    mount_console(app, replace(real, queue=queue))  # under /console/, as the engine's server has it
    server = TestServer(app, host="127.0.0.1")
    client: TestClient[Any, Any] = TestClient(server)
    await client.start_server()
    try:
        page = await client.get("/console/login")
        token = CSRF_FIELD.search(await page.text())
        assert token is not None
        data = {"_csrf": token.group(1), "login": "sara", "password": PASSWORD, "next": "/console/wallboard"}
        response = await client.post("/console/login", data=data)
        assert response.status == 200 and 'id="wb-admitted">7 / 400<' in await response.text()
    finally:
        await client.close()


async def test_call_recordings_are_for_supervisors_and_audited(lab: ConsoleLab, tmp_path: Path) -> None:
    ticket_id = await lab.call("3338880001", operator="anna")
    wav = recordings_dir(lab.deps.settings) / "call.wav"
    wav.parent.mkdir(parents=True, exist_ok=True)
    write_tone(wav)

    def add(session: Session) -> int:
        row = Recording(
            ticket_id=ticket_id, kind="call", path=str(wav), sha256="0" * 64, bytes=wav.stat().st_size,
            duration_s=1.0, created_at=lab.clock.now(),
        )  # fmt: skip
        session.add(row)
        session.flush()
        return row.id

    recording_id = await lab.deps.store.run_write(add)
    anna = await lab.login("anna")
    assert (await anna.get(f"/console/recordings/{recording_id}/audio")).status == 403
    sara = await lab.login("sara")
    page = await (await sara.get(f"/console/tickets/{ticket_id}")).text()
    assert f"/console/recordings/{recording_id}/audio" in page
    audio = await sara.get(f"/console/recordings/{recording_id}/audio")
    assert audio.status == 200 and audio.content_type.startswith("audio/")
    entries = await lab.accounts.audit_entries(kind="recording")
    assert [(e.login, e.action, e.object_id) for e in entries] == [("sara", "recording_listen", str(recording_id))]


async def test_no_audio_is_served_from_outside_the_audio_folders(lab: ConsoleLab, tmp_path: Path) -> None:
    """A database restored from a forged backup may name any file as audio: the console serves
    none of them, whether named directly or through a link planted in the voicemail folder."""
    secret = tmp_path / "outside" / "secret.wav"
    secret.parent.mkdir()
    write_tone(secret)
    planted = lab.deps.settings.voicemail_dir / "planted.wav"
    planted.parent.mkdir(parents=True, exist_ok=True)
    planted.symlink_to(secret)
    ticket_id = await lab.call("3338880002", operator="anna")
    message = await lab.voicemail("3338880003")

    def tamper(session: Session) -> int:
        row = Recording(
            ticket_id=ticket_id, kind="call", path=str(secret), sha256="0" * 64, bytes=1, duration_s=1.0,
            created_at=lab.clock.now(),
        )  # fmt: skip
        session.add(row)
        found = session.scalars(select(Voicemail).where(Voicemail.id == message)).one()
        vm_rec = session.get(Recording, found.recording_id)
        assert vm_rec is not None
        vm_rec.path, vm_rec.web_path = str(secret), str(planted)
        session.flush()
        return row.id

    recording_id = await lab.deps.store.run_write(tamper)
    sara = await lab.login("sara")
    for url in (f"/console/recordings/{recording_id}/audio", f"/console/voicemail/{message}/audio"):
        response = await sara.get(url)
        assert response.status == 404, url
        assert b"RIFF" not in await response.read()


async def test_campaigns_set_in_the_console_reach_the_consent_step(lab: ConsoleLab) -> None:
    sara = await lab.login("sara")
    token = await lab.csrf(sara)
    form = {"_csrf": token, "id": "q-feb", "name": "Qualità febbraio", "from": "2026-02-09", "to": "2026-02-20"}
    response = await sara.post("/console/campaigns", data=form, allow_redirects=False)
    assert response.status == 303
    campaigns = lab.deps.console.campaigns
    today = MORNING.date()
    active = await campaigns.active(today)
    assert active is not None and active.id == "q-feb"
    again = await sara.post("/console/campaigns", data=form)
    assert again.status == 400 and "esiste già" in await again.text()
    ended = await sara.post("/console/campaigns/q-feb/end", data={"_csrf": token}, allow_redirects=False)
    assert ended.status == 303
    assert await campaigns.on(today) is None and await campaigns.on(today - timedelta(days=1)) is not None


async def test_runtime_campaign_rules(sqlite_store: SqlTicketStore) -> None:
    store = RuntimeCampaigns(sqlite_store, monotonic=lambda: 0.0)
    with pytest.raises(CampaignError):
        await store.add("Bad Id", "x", date(2026, 3, 1), date(2026, 3, 2), MORNING)
    with pytest.raises(CampaignError):
        await store.add("q", "x", date(2026, 3, 2), date(2026, 3, 1), MORNING)
    await store.add("q", "Qualità", date(2026, 3, 10), date(2026, 3, 20), MORNING)
    with pytest.raises(CampaignError, match="esiste già"):
        await store.add("q", "Qualità", date(2026, 3, 10), date(2026, 3, 20), MORNING)
    await store.end("q", date(2026, 3, 1))  # ended before it began: it never runs
    assert all([await store.on(date(2026, 3, d)) is None for d in range(1, 31)])


async def test_a_campaign_read_while_the_database_is_away_takes_the_last_known(
    sqlite_store: SqlTicketStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The full soak: the consent step read the campaign from the stopped database and 40 calls
    failed (error:OperationalError in consent:consent). The last campaign known holds for the
    days it covers; knowing none, no campaign: nothing is recorded (the safe side)."""
    clock = [0.0]
    store = RuntimeCampaigns(sqlite_store, monotonic=lambda: clock[0])
    await store.add("q", "Qualità", date(2026, 3, 10), date(2026, 3, 20), MORNING)
    blind = RuntimeCampaigns(sqlite_store, monotonic=lambda: clock[0])
    assert (await store.active(date(2026, 3, 11))) is not None

    async def away(_day: date) -> None:
        raise OperationalError("SELECT", {}, Exception("connection to server failed"))

    monkeypatch.setattr(store, "on", away)
    monkeypatch.setattr(blind, "on", away)
    clock[0] = 60.0  # the cache has run out
    kept = await store.active(date(2026, 3, 12))
    assert kept is not None and kept.id == "q"
    assert await store.active(date(2026, 3, 21)) is None  # past its last day
    assert await blind.active(date(2026, 3, 12)) is None


async def test_console_tables_on_each_backend(db_url: str) -> None:
    engine = make_engine(db_url)
    upgrade(engine)
    store = SqlTicketStore(engine)
    await store.start()
    accounts = Accounts(store)
    user = await accounts.add("admin", "administrator", PASSWORD, MORNING, name="Ada")
    with pytest.raises(AccountError, match="exists already"):
        await accounts.add("admin", "administrator", PASSWORD, MORNING)
    assert await accounts.authenticate("admin", PASSWORD, MORNING) is not None
    assert await accounts.authenticate("admin", "sbagliata-123", MORNING) is None
    token, _csrf = await accounts.open_session(user.id, MORNING, "127.0.0.1")
    idle, absolute = timedelta(minutes=30), timedelta(hours=10)
    assert await accounts.resolve(token, MORNING + timedelta(minutes=5), idle=idle, absolute=absolute) is not None
    assert await accounts.resolve(token, MORNING + timedelta(hours=2), idle=idle, absolute=absolute) is None
    assert (
        await accounts.resolve(token, MORNING + timedelta(minutes=6), idle=idle, absolute=absolute) is None
    )  # dropped
    await accounts.audit(user, "voicemail_listen", MORNING, kind="voicemail", object_id=7, address="10.1.2.3")
    (entry,) = await accounts.audit_entries(kind="voicemail")
    assert (entry.login, entry.object_id, entry.address) == ("admin", "7", "10.1.2.3")
    await store.stop()
    engine.dispose()


async def test_statistics_page_and_csv_come_from_the_statistics_package(lab: ConsoleLab) -> None:
    await lab.call("3339990001", operator="anna")
    sara = await lab.login("sara")
    page = await sara.get("/console/stats?periodo=giorno&per=operatore")
    text = await page.text()
    assert page.status == 200 and 'id="st-offered">1<' in text and "<svg" in text
    csv = await sara.get("/console/stats.csv?periodo=giorno&per=operatore")
    assert csv.status == 200 and csv.content_type == "text/csv"
    assert "attachment" in csv.headers["Content-Disposition"]
    header, *rows = (await csv.text()).strip().splitlines()
    assert "operator" in header and any("anna" in r for r in rows)
    bad = await sara.get("/console/stats?periodo=anno")
    assert bad.status == 400 and "periodo" in await bad.text()


async def test_operator_time_page_and_csv_for_supervisors_only(lab: ConsoleLab) -> None:
    await lab.deps.distributor.set_presence("anna", "available")
    lab.clock.set(lab.clock.now() + timedelta(minutes=10))
    await lab.deps.distributor.set_presence("anna", "paused", "Pranzo")
    lab.clock.set(lab.clock.now() + timedelta(minutes=5))
    await lab.deps.store.writer.barrier()
    sara = await lab.login("sara")
    page = await sara.get("/console/operators/time")
    text = await page.text()
    assert page.status == 200 and 'data-login="anna"' in text and "Pranzo: 0:05:" in text
    csv = await sara.get("/console/operators/time.csv")
    header, row = (await csv.text()).strip().splitlines()
    assert header.startswith("day,login,logged_in_s") and ",anna," in row and "Pranzo=" in row
    assert (await sara.get("/console/operators/time?da=2026-13-01")).status == 400
    anna = await lab.login("anna")
    assert (await anna.get("/console/operators/time")).status == 403


async def test_a_refused_change_to_a_message_does_not_fail_the_batch(lab: ConsoleLab, tmp_path: Path) -> None:
    message_id = await lab.voicemail("3330000009")
    ticket_id = await lab.deps.store.run_read(lambda s: messages.ticket_of(s, message_id))
    repo, at = lab.deps.console.messages, lab.clock.now()
    await repo.close(ticket_id, at, "risolto al telefono")
    refused, audited = await asyncio.gather(
        repo.assign(ticket_id, "anna", at, by="sara"),
        lab.accounts.audit(None, "probe", at, login="prova"),
        return_exceptions=True,
    )
    assert isinstance(refused, messages.MessageError) and audited is None
    assert [e.action for e in await lab.accounts.audit_entries(login="prova")] == ["probe"]
    found, _operator = await repo.view_with_operator(message_id)
    assert found.status == "closed"
