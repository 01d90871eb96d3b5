"""One active engine per line (issue 16), with real Asterisk, real PostgreSQL and real calls:
the Stasis app taken by a second connection, the active engine killed or cut off from the
database while a standby waits, two engines started at once."""

from __future__ import annotations

import asyncio
import contextlib
import os
import urllib.error
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from ivr.acd.cap import DailyCap
from ivr.acd.operators import OperatorDirectory
from ivr.app import Engine
from ivr.asterisk.instance import free_port
from ivr.lab.carrier import LabCall, LabPhoneCall
from ivr.schema.tickets import EngineLease, TicketEvent
from ivr.telephony.ari_channel import playback_id
from ivr.tickets.db import make_engine, upgrade
from ivr.tickets.store import SqlTicketStore
from tests.harness.callers import Watcher, run_call
from tests.harness.engine_process import EngineProcess
from tests.harness.faults import FaultyLink
from tests.harness.listen import contains
from tests.harness.pbx import OPEN_MOMENT, PbxPair, ari_get, left_on_asterisk, running_engine
from tests.harness.postgres import PostgresServer
from tests.harness.process_line import TicketReads
from tests.harness.voices import Voices
from tests.harness.waits import until
from tests.integration.test_faults import ROME

pytestmark = pytest.mark.asterisk
HA = {"lease_ttl_s": 3.0, "renew_every_s": 0.5, "standby_poll_s": 0.3, "app_check_every_s": 1.0}


async def _leave_at_menu(call: LabCall, w: Watcher) -> None:
    await w.playing("menu_main")
    await call.hangup()


async def _registered(engine: Engine) -> bool:
    """Asked of Asterisk directly: is the engine's Stasis app there?"""
    try:
        await engine.ari.get(f"applications/{engine.ari.app}")
    except Exception:  # NotFound: missing
        return False
    return True


async def test_a_second_connection_for_the_app_does_not_take_the_line_down(pbx: PbxPair, tmp_path: Path) -> None:
    """The incident: another process opens the app's event socket, then goes away. Asterisk then
    drops the app although the engine's own socket stays open; the engine must notice, register
    it again, and its health must never say ARI is fine while the app is missing."""
    settings = pbx.settings(tmp_path, {"ha": {"app_check_every_s": 1.0}})
    async with running_engine(settings) as engine:
        first, _ = await run_call(engine, pbx.carrier, "3391234600", _leave_at_menu)
        assert first.outcome == "caller_hangup"
        assert engine.http is not None
        health = engine.http.health
        samples: list[tuple[bool, bool, bool]] = []  # (app there before, health's ari, app there after)
        sampling = True

        async def sample() -> None:
            while sampling:
                before = await _registered(engine)
                assert health.refresh is not None
                await health.refresh()
                said = bool(health.report()["ari"])
                samples.append((before, said, await _registered(engine)))
                await asyncio.sleep(0.05)

        sampler = asyncio.ensure_future(sample())
        ari = pbx.overrides["asterisk"]["ari"]
        url = f"ws://127.0.0.1:{ari['port']}/ari/events"
        auth = aiohttp.BasicAuth("nul", ari["password"])
        async with (
            aiohttp.ClientSession(auth=auth) as session,
            session.ws_connect(url, params={"app": engine.ari.app, "subscribeAll": "false"}),
        ):
            await asyncio.sleep(2.0)  # the mistyped second `ivr run`, before it fails on the port
        closed = asyncio.get_running_loop().time()
        await until(lambda: engine.app_watch.reregistered >= 1, "the engine to notice the app is gone", 20)
        await until(lambda: engine.app_watch.healthy()[0], "the app registered again", 20)
        back = asyncio.get_running_loop().time() - closed
        await asyncio.sleep(1.0)
        sampling = False
        await sampler
        served, _ = await run_call(engine, pbx.carrier, "3391234601", _leave_at_menu)
        assert served.outcome == "caller_hangup" and served.last_state == "menu:menu"
        assert served.duration_s is not None and served.duration_s < 30  # an honest duration
        print(f"app registered again {back:.1f} s after the second connection closed")
        assert any(not before for before, _, _ in samples), "the incident was not reproduced: the app never went"
        lies = [s for s in samples if s == (False, True, False)]
        assert not lies, f"health said ARI was fine while the app was missing: {lies}"


def _engine(pbx: PbxPair, root: Path, name: str, url: str, extra: dict[str, Any] | None = None) -> EngineProcess:
    data = root / name
    data.mkdir()
    config: dict[str, Any] = {"database": {"url": url}, "ha": HA, "console": {"port": free_port()}}
    return EngineProcess(pbx, data, {**config, **(extra or {})})


def _read(url: str, fn: Callable[[Session], Any]) -> Any:
    db = make_engine(url)
    try:
        with Session(db) as session:
            return fn(session)
    finally:
        db.dispose()


@pytest.mark.parametrize("backend", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
async def test_two_engines_started_at_once_make_one_active(
    pbx: PbxPair, tmp_path: Path, backend: str, request: pytest.FixtureRequest
) -> None:
    if backend == "postgres":
        server: PostgresServer = request.getfixturevalue("postgres")
        url = server.create_database(f"ha_twice_{os.getpid()}")
    else:
        url = f"sqlite:///{tmp_path / 'line.db'}"
    a, b = _engine(pbx, tmp_path, "a", url), _engine(pbx, tmp_path, "b", url)
    try:
        procs = [a.spawn(), b.spawn()]  # at once, neither with --standby
        await until(lambda: any(p.poll() is not None for p in procs), "one of the two to give up", 60)
        refused = [e for e, p in zip((a, b), procs, strict=True) if p.poll() is not None]
        assert len(refused) == 1, [p.poll() for p in procs]
        (loser,) = refused
        (winner,) = [e for e in (a, b) if e is not loser]
        assert loser.proc is not None and loser.proc.returncode == 3
        assert winner.proc is not None
        message = loser.log()
        assert "another engine is active" in message and f"pid {winner.proc.pid}" in message, message
        health = await winner.wait_role("active")
        assert health["ready"] and health["lease"]["holder"]["pid"] == winner.proc.pid
        assert (await asyncio.to_thread(loser.health)) is None  # it never opened the API port either
        assert loser.log().count("ARI event socket connected") == 0  # nor touched Asterisk
    finally:
        a.stop()
        b.stop()


FLOW = """
name: queue-survey
start: queue
nodes:
  queue: {type: queue, fallback: voicemail, next: survey}
  survey:
    type: survey
    questions: [{id: satisfaction, prompt: survey_satisfaction, keys: "12345"}]
  voicemail: {type: voicemail, reason: busy}
"""
TALKING, WAITING, RECORDING = 4, 4, 2  # ten calls in flight: conversations, queue, voicemail


class Line(TicketReads):
    """A queue line on PostgreSQL with operators on outside numbers that answer, seen from the test."""

    def __init__(self, pbx: PbxPair, url: str) -> None:
        self.pbx, self.url = pbx, url
        self.db = make_engine(url)
        upgrade(self.db)
        self.store = SqlTicketStore(self.db)
        self.phones: list[LabPhoneCall] = []
        self._answering: asyncio.Future[None] | None = None

    async def operators(self, count: int) -> None:
        directory = OperatorDirectory(self.store)
        now = datetime.fromisoformat(OPEN_MOMENT)
        for i in range(count):
            login = f"op{i:02d}"
            await directory.add(login, login, now=now, softphone=False, outside_number=f"34799{i:05d}")
            await directory.set_presence(login, "available", None, now)

        async def answer() -> None:
            while True:
                ring = await self.pbx.carrier.phones.get()
                await ring.take_offer()
                self.phones.append(ring)

        self._answering = asyncio.ensure_future(answer())

    def counts(self, kind: str) -> dict[int, int]:
        rows = self.read(lambda s: list(s.scalars(select(TicketEvent.ticket_id).where(TicketEvent.kind == kind))))
        return {t: rows.count(t) for t in set(rows)}

    def token(self) -> int:
        return int(self.read(lambda s: s.scalars(select(EngineLease.token)).one()))

    async def close(self) -> None:
        if self._answering is not None:
            self._answering.cancel()
        await self.store.stop()
        self.db.dispose()


def _conversations(pbx: PbxPair) -> int:
    """Bridges of two channels on the engine's Asterisk, asked over ARI (the store may be away)."""
    return sum(len(b["channels"]) == 2 for b in ari_get(pbx, "bridges"))


async def _active_then_standby(a: EngineProcess, b: EngineProcess) -> Any:
    """`a` started first takes the line, then `b` waits as its standby; b's health."""
    a.spawn("--standby")
    await a.wait_role("active")
    b.spawn("--standby")
    return await b.wait_role("standby")


def _queue_line(pbx: PbxPair, root: Path, name: str, url: str, more: dict[str, Any] | None = None) -> EngineProcess:
    flow = root / "flow.yaml"
    flow.write_text(FLOW)
    extra = {
        "callflow": str(flow),
        "queue": {"ring_timeout_s": 10, "wrap_up_s": 1, "announce_every_s": 600},
        "voicemail": {"max_silence_s": 0},
        **(more or {}),
    }
    return _engine(pbx, root, name, url, extra)


@pytest.mark.postgres
async def test_standby_takes_over_ten_calls_from_a_killed_engine(
    pbx: PbxPair, tmp_path: Path, voices: Voices, postgres: PostgresServer
) -> None:
    url = postgres.create_database(f"ha_kill_{os.getpid()}")
    line = Line(pbx, url)
    await line.operators(TALKING)
    a, b = _queue_line(pbx, tmp_path, "a", url), _queue_line(pbx, tmp_path, "b", url)
    calls: dict[str, LabCall] = {}
    try:
        standby = await _active_then_standby(a, b)
        assert a.proc is not None and standby["lease"]["holder"]["pid"] == a.proc.pid
        assert "ARI event socket connected" not in b.log()  # a standby leaves Asterisk alone
        for i in range(TALKING + WAITING):
            number = f"3470{i:06d}"
            calls[number] = await pbx.carrier.call("800000039", caller_number=number)
        await until(
            lambda: (
                [t.queue_result for t in line.tickets()].count("answered") == TALKING
                and [t.queue_result for t in line.tickets()].count("waiting") == WAITING
                and len(line.phones) == TALKING
            ),
            "4 calls talking and 4 waiting",
        )
        speech = pbx.carrier.add_voice("message", voices.caller)
        for i in range(RECORDING):
            calls[f"3480{i:06d}"] = await pbx.carrier.call("800000039", caller_number=f"3480{i:06d}")
        await until(lambda: len(line.tickets()) == TALKING + WAITING + RECORDING, "the voicemail callers' tickets")
        await asyncio.sleep(1.5)
        recorders = list(calls.values())[-RECORDING:]
        for call in recorders:
            await call.press("9")
        await until(lambda: len(line.events("voicemail_recording")) == RECORDING, "the messages to start")
        await asyncio.sleep(1.0)
        speaking = [asyncio.ensure_future(call.say([speech, speech])) for call in recorders]
        await asyncio.sleep(2.0)
        now = datetime.fromisoformat(OPEN_MOMENT)
        cap = DailyCap(line.store, 400, ROME)
        admitted = TALKING + WAITING + RECORDING
        assert await cap.count(now) == admitted
        talking = {t.id for t in line.tickets() if t.queue_result == "answered"}
        waiting = {t.id for t in line.tickets() if t.queue_result == "waiting"}
        recording = line.events("voicemail_recording")
        token = line.token()

        a.kill()  # SIGKILL of the active engine: the standby is on its own
        await b.wait_role("active")
        assert line.token() == token + 1
        calls["3499999999"] = await pbx.carrier.call("800000039", caller_number="3499999999")
        await until(lambda: any(t.caller_number == "3499999999" for t in line.tickets()), "a new call served")

        await until(lambda: line.events("operator_rejoined") >= talking, "the conversations picked up")
        await until(lambda: line.events("call_resumed") >= talking | waiting | recording, "every call resumed")
        await until(lambda: line.events("voicemail_left") >= recording, "the interrupted messages saved")
        for task in speaking:
            task.cancel()
        for call in recorders:
            with contextlib.suppress(Exception):
                await call.hangup()
        for ticket in line.tickets():
            if ticket.open and ticket.id not in talking and ticket.caller_number in calls:
                await calls[ticket.caller_number].hangup()
        for phone in line.phones:
            await phone.hangup()
        await until(lambda: line.events("survey_offered") >= talking, "the survey after the takeover")
        for call in calls.values():
            with contextlib.suppress(Exception):
                await call.hangup()
        await until(lambda: all(not t.open for t in line.tickets()), "every ticket to close")

        final = {t.id: t for t in line.tickets()}
        assert len(final) == admitted + 1  # nothing lost, nothing doubled
        assert all(n == 1 for n in line.counts("call_started").values())
        assert all(n == 1 for n in line.counts("call_ended").values())
        for ticket_id in talking:
            assert final[ticket_id].queue_result == "answered" and final[ticket_id].handle_s is not None
        for ticket_id in waiting:
            assert (final[ticket_id].queue_result, final[ticket_id].outcome) == ("abandoned", "caller_hangup")
        for ticket_id in recording:
            assert (final[ticket_id].outcome, final[ticket_id].level) == ("voicemail", 2)
        admissions = line.counts("queue_admitted")  # the new call may have left before the queue
        assert all(n == 1 for n in admissions.values()) and len(admissions) >= admitted
        assert await cap.count(now) == len(admissions)  # the resumed callers were not counted again
        await until(lambda: not left_on_asterisk(pbx), "Asterisk to hold no channel or bridge", timeout=20)
    finally:
        a.stop()
        b.stop()
        for call in calls.values():
            with contextlib.suppress(Exception):
                await call.hangup()
        await line.close()


@pytest.mark.postgres
async def test_engine_cut_off_from_the_database_stops_and_the_standby_takes_over(
    pbx: PbxPair, tmp_path: Path, postgres: PostgresServer
) -> None:
    url = postgres.create_database(f"ha_cut_{os.getpid()}")
    line = Line(pbx, url)
    await line.operators(1)
    link = FaultyLink("127.0.0.1", postgres.port)
    await link.start()
    a = _queue_line(pbx, tmp_path, "a", url.replace(f":{postgres.port}/", f":{link.port}/"))
    b = _queue_line(pbx, tmp_path, "b", url)
    call: LabCall | None = None
    try:
        await _active_then_standby(a, b)
        call = await pbx.carrier.call("800000039", caller_number="3471111111")
        await until(lambda: len(line.phones) == 1 and line.events("operator_answered"), "the conversation")
        (ticket,) = line.tickets()
        token = line.token()

        link.cut()  # the active engine loses PostgreSQL; the standby still reaches it
        await b.wait_role("active")
        # The old engine rode on Asterisk's word until the new one took the app: then it stopped.
        await until(lambda: a.proc is not None and a.proc.poll() == 4, "the old engine to fence itself")
        assert "lease lost" in a.log() and "Asterisk gave the Stasis app to another" in a.log()
        assert "the app was held by another event socket" in b.log()  # it let the old one's proof run out
        assert line.token() == token + 1
        await until(lambda: ticket.id in line.events("operator_rejoined"), "the conversation picked up")
        assert not call.ended  # the caller is still talking to the operator, across the change
        await line.phones[0].hangup()
        await until(lambda: ticket.id in line.events("survey_offered"), "the survey, from the new engine")
        await call.hangup()
        await until(lambda: not line.tickets()[0].open, "the ticket to close")
        (final,) = line.tickets()
        assert final.queue_result == "answered" and final.outcome is not None
        assert line.counts("call_ended") == {ticket.id: 1} and line.counts("queue_admitted") == {ticket.id: 1}
        link.restore()  # whatever the old engine left in its outbox is never replayed
        await asyncio.sleep(1.0)
        assert line.counts("call_ended") == {ticket.id: 1}
    finally:
        a.stop()
        b.stop()
        if call is not None:
            with contextlib.suppress(Exception):
                await call.hangup()
        await link.stop()
        await line.close()


@pytest.mark.postgres
async def test_a_database_outage_for_both_engines_leaves_the_line_answering_and_every_call_in_the_store(
    pbx: PbxPair, tmp_path: Path, postgres: PostgresServer
) -> None:
    """Neither engine reaches PostgreSQL for longer than the lease: nobody can take the lease, so
    the active one goes on (Asterisk says its app is still its own), a caller of the outage talks
    to an operator, and when the database is back the same engine renews and its outbox writes
    the outage's tickets; the standby never took over."""
    url = postgres.create_database(f"ha_out_{os.getpid()}")
    line = Line(pbx, url)
    await line.operators(2)
    link = FaultyLink("127.0.0.1", postgres.port)
    await link.start()
    cut_url = url.replace(f":{postgres.port}/", f":{link.port}/")
    a, b = _queue_line(pbx, tmp_path, "a", cut_url), _queue_line(pbx, tmp_path, "b", cut_url)
    calls: list[LabCall] = []
    try:
        await _active_then_standby(a, b)
        token = line.token()
        calls.append(await pbx.carrier.call("800000039", caller_number="3471111111"))
        await until(lambda: len(line.phones) == 1, "the first call's conversation")

        link.cut()
        await asyncio.sleep(HA["lease_ttl_s"] + 2.0)  # the lease has run out in the database
        calls.append(await pbx.carrier.call("800000039", caller_number="3472222222"))
        await until(lambda: _conversations(pbx) == 2, "the outage's caller put through to an operator")
        await asyncio.sleep(1.0)
        for phone in line.phones:
            await phone.hangup()
        await asyncio.sleep(1.0)
        for call in calls:
            await call.hangup()
        assert a.proc is not None and a.proc.poll() is None and b.proc is not None and b.proc.poll() is None
        assert "calls go on while Asterisk confirms the app is ours" in a.log()

        link.restore()
        await until(lambda: len(line.tickets()) == 2 and not any(t.open for t in line.tickets()), "both tickets")
        assert line.token() == token  # the same engine, the same lease: nobody took over
        assert "renewed" in a.log() and "ARI event socket connected" not in b.log()
        (before, during) = line.tickets()
        timeline = line.read(
            lambda s: [
                (e.at.isoformat(), e.kind, e.detail)
                for e in s.scalars(select(TicketEvent).where(TicketEvent.ticket_id == during.id))
            ]
        )
        assert during.caller_number == "3472222222" and during.queue_result == "answered", (during.outcome, timeline)
        assert line.counts("call_started") == {before.id: 1, during.id: 1}
        assert line.counts("call_ended") == {before.id: 1, during.id: 1}
        assert line.counts("queue_admitted") == {before.id: 1, during.id: 1}
        cap = DailyCap(line.store, 400, ROME)
        assert await cap.count(datetime.fromisoformat(OPEN_MOMENT)) == 2
    finally:
        a.stop()
        b.stop()
        for call in calls:
            with contextlib.suppress(Exception):
                await call.hangup()
        await link.stop()
        await line.close()


async def _prompt_alive(pbx: PbxPair, prompt: str) -> bool:
    """Asked of the engine's Asterisk: is this prompt still playing (or waiting to)?"""
    try:
        await asyncio.to_thread(ari_get, pbx, f"playbacks/{prompt}")
    except urllib.error.HTTPError as exc:
        if exc.code == 404:
            return False
        raise
    return True


@pytest.mark.postgres
@pytest.mark.parametrize("killed_during", ["announcement", "music"])
async def test_a_caller_taken_over_in_the_queue_hears_the_operator_who_answers_after(
    pbx: PbxPair, tmp_path: Path, voices: Voices, postgres: PostgresServer, killed_during: str
) -> None:
    """The soak's finding 6 (run 4, ticket 45): a caller waiting when the active engine was
    killed, bridged by the standby to an operator who answered after the takeover, heard no
    operator. The dead engine's announcement, started just before the kill, went on playing
    (about 15 s) and held the standby's bridging behind it: the caller heard the announcement to
    its end, the operator spoke to nobody. The standby now stops it first. The caller whose
    operator had answered before the kill must hear that operator after the takeover too. Killed
    during the music on hold that follows the announcement, the same must hold."""
    url = postgres.create_database(f"ha_media_{killed_during}_{os.getpid()}")
    line = Line(pbx, url)
    directory = OperatorDirectory(line.store)
    now = datetime.fromisoformat(OPEN_MOMENT)
    await directory.add("op00", "op00", now=now, softphone=False, outside_number="3479900000")
    await directory.set_presence("op00", "available", None, now)
    voice = pbx.carrier.add_voice("operator-after-takeover", voices.operator)
    a, b = _queue_line(pbx, tmp_path, "a", url), _queue_line(pbx, tmp_path, "b", url)
    calls: list[LabCall] = []
    try:
        await _active_then_standby(a, b)
        calls.append(await pbx.carrier.call("800000039", caller_number="3471000001"))
        first_ring = await asyncio.wait_for(pbx.carrier.phones.get(), 30)
        await first_ring.take_offer()
        await until(lambda: [t.queue_result for t in line.tickets()] == ["answered"], "the first caller talking")
        calls.append(await pbx.carrier.call("800000039", caller_number="3471000002"))
        await until(lambda: [t.queue_result for t in line.tickets()] == ["answered", "waiting"], "one waiting")
        waiting = line.tickets()[1].id
        talking = line.tickets()[0].id
        announcement = playback_id(line.tickets()[1].call_uid, 0)  # the queue's first words
        if killed_during == "announcement":
            assert await _prompt_alive(pbx, announcement), "the kill was meant to come during the announcement"
        else:
            for _ in range(400):  # the announcement lasts about 15 s; then the music plays
                if not await _prompt_alive(pbx, announcement):
                    break
                await asyncio.sleep(0.1)
            else:
                raise AssertionError("the announcement never ended")
            await asyncio.sleep(1.0)

        a.kill()
        await b.wait_role("active")
        await until(lambda: waiting in line.events("call_resumed"), "the waiting caller resumed")
        await until(lambda: talking in line.events("operator_rejoined"), "the first conversation picked up")
        await first_ring.channel.play([voice])  # the operator who answered before the kill talks on
        await first_ring.hangup()  # the first conversation ends: the operator is free after wrap-up
        second_ring = await asyncio.wait_for(pbx.carrier.phones.get(), 30)
        await second_ring.take_offer()
        await until(lambda: waiting in line.events("operator_answered"), "the waiting caller connected")
        await asyncio.sleep(1.0)
        await second_ring.channel.play([voice])
        await second_ring.hangup()
        await until(lambda: waiting in line.events("survey_offered"), "the survey after the talk")
        for call in calls:
            with contextlib.suppress(Exception):
                await call.hangup()
        heard = await calls[1].heard()
        assert contains(heard, voices.operator), "the caller taken over never heard the operator"
        before = await calls[0].heard()
        assert contains(before, voices.operator), "the caller talking across the takeover lost the operator"
    finally:
        a.stop()
        b.stop()
        for call in calls:
            with contextlib.suppress(Exception):
                await call.hangup()
        await line.close()
