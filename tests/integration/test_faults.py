"""Faults with real calls in flight: the engine killed and restarted, Asterisk restarted.
Nothing is lost: every ticket ends closed or resumed, the daily count is unchanged."""

from __future__ import annotations

import asyncio
import contextlib
import json
import subprocess
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from ivr.acd.cap import DailyCap
from ivr.lab.carrier import LabCall, LabPhoneCall
from ivr.schema.callbacks import QueuedCallback
from ivr.schema.tickets import DailyAdmissions, Recording, SurveyAnswer, Ticket, TicketEvent, Voicemail
from ivr.tickets.db import make_engine
from tests.harness.callers import Script, Watcher, place_call, run_call
from tests.harness.pbx import PbxPair, ari_get, left_on_asterisk, running_engine
from tests.harness.postgres import PostgresServer
from tests.harness.process_line import ProcessLine, process_line
from tests.harness.queueline import CONSENT_FLOW, QueueLine, home_operators, queue_line
from tests.harness.voices import Voices
from tests.harness.waits import soon, until

pytestmark = pytest.mark.asterisk
ROME = ZoneInfo("Europe/Rome")
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
TALKING, WAITING, RECORDING = 10, 10, 3  # the last voicemail caller hangs up while no engine runs


async def test_engine_killed_with_calls_in_queue_conversation_and_voicemail(
    pbx: PbxPair, tmp_path: Path, voices: Voices
) -> None:
    config = {
        "queue": {"ring_timeout_s": 10, "wrap_up_s": 1, "announce_every_s": 600},
        "voicemail": {"max_silence_s": 0},
        "transcription": {"retry_every_s": 2},  # the message of the caller gone meanwhile is fetched soon
    }
    operators = {f"op{i:02d}": f"34799{i:05d}" for i in range(TALKING)}
    async with process_line(pbx, tmp_path, FLOW, config, operators=operators) as line:
        await _killed_mid_everything(pbx, voices, line)


async def _killed_mid_everything(pbx: PbxPair, voices: Voices, line: ProcessLine) -> None:
    engine, store, now, read, tickets, events = line.engine, line.store, line.now, line.read, line.tickets, line.events
    phones: list[LabPhoneCall] = []

    async def answer_phones() -> None:
        while True:
            ring = await pbx.carrier.phones.get()
            await ring.take_offer()
            phones.append(ring)

    answering = asyncio.ensure_future(answer_phones())
    calls: list[LabCall] = []
    by_number: dict[str, LabCall] = {}
    await engine.start()
    try:
        for i in range(TALKING + WAITING):
            number = f"3470{i:06d}"
            calls.append(await pbx.carrier.call("800000039", caller_number=number))
            by_number[number] = calls[-1]
        by_state = await until(
            lambda: (
                [t.queue_result for t in tickets()].count("answered") == TALKING
                and [t.queue_result for t in tickets()].count("waiting") == WAITING
                and len(phones) == TALKING
            ),
            "10 calls talking and 10 waiting",
        )
        assert by_state
        # Two more wait, then choose voicemail (the leave key) and are speaking when it happens.
        speech = pbx.carrier.add_voice("message", voices.caller)
        for i in range(RECORDING):
            calls.append(await pbx.carrier.call("800000039", caller_number=f"3480{i:06d}"))
        await until(lambda: len(tickets()) == TALKING + WAITING + RECORDING, "the voicemail callers' tickets")
        await asyncio.sleep(1.5)  # in the queue, hearing that everyone is busy
        for call in calls[-RECORDING:]:
            await call.press("9")
        await until(lambda: len(events("voicemail_recording")) == RECORDING, "the messages to start recording")
        await asyncio.sleep(1.0)  # the beep
        speaking = [asyncio.ensure_future(call.say([speech, speech])) for call in calls[-RECORDING:]]
        await asyncio.sleep(3.0)
        cap = DailyCap(store, 400, ROME)
        admitted = TALKING + WAITING + RECORDING
        assert await cap.count(now) == admitted
        recording = events("voicemail_recording")
        for t in tickets():  # what an engine taking over finds should the store not have heard of it
            named = f"channels/{t.call_uid}/variable?variable=NUL_RECORDING"
            if t.id in recording:
                assert ari_get(pbx, named)["value"].startswith(f"vm-{t.id}-"), t.id
            else:
                with pytest.raises(urllib.error.HTTPError, match="404"):
                    ari_get(pbx, named)

        engine.kill()  # SIGKILL, mid-conversation and mid-queue
        await asyncio.sleep(1.0)
        assert not any(c.ended for c in calls)  # Asterisk keeps every call while the engine is away
        # One voicemail caller finishes speaking and hangs up before any engine is back: Asterisk
        # ends the recording; the engine coming back must keep it (it closed the ticket as lost).
        speaking[-1].cancel()
        await calls[-1].hangup()
        gone = next(t.id for t in tickets() if t.caller_number == f"3480{RECORDING - 1:06d}")
        await asyncio.sleep(1.0)
        await engine.start()

        talking = {t.id for t in tickets() if t.queue_result == "answered"}
        waiting = {t.id for t in tickets() if t.queue_result == "waiting"}
        await until(lambda: events("operator_rejoined") >= talking, "the conversations to be picked up")
        resumed = talking | waiting | (recording - {gone})
        await until(lambda: events("call_resumed") >= resumed, "every call to be resumed")
        assert "picked up" in engine.log()
        # What the voicemail callers had said is kept, and they are asked for their number.
        await until(lambda: events("voicemail_left") >= recording, "the interrupted messages to be saved")
        for task in speaking:
            task.cancel()
        for call in calls[-RECORDING:-1]:
            with contextlib.suppress(Exception):
                await call.hangup()

        # The ones waiting give up; the conversations end with the operator hanging up first, and
        # those callers go on to the survey, then leave.
        # (which calls got an operator first depends on the order their offers were answered in)
        for ticket in tickets():
            if ticket.id in waiting and ticket.caller_number is not None:
                await by_number[ticket.caller_number].hangup()
        await until(lambda: all(not t.open for t in tickets() if t.id in waiting), "the waiting tickets to close")
        for phone in phones:
            await phone.hangup()
        await until(lambda: events("survey_offered") >= talking, "the survey after the restart")
        for call in by_number.values():
            with contextlib.suppress(Exception):
                await call.hangup()
        await until(lambda: all(not t.open for t in tickets()), "every ticket to close")

        final = {t.id: t for t in tickets()}
        assert len(final) == admitted  # no ticket doubled by the pick-up
        for ticket_id in talking:
            t = final[ticket_id]
            assert (t.queue_result, t.survey_status) == ("answered", "not_answered"), t.id
            assert t.end_reason == "caller_hangup_in_survey" and t.handle_s is not None
        for ticket_id in waiting:
            t = final[ticket_id]
            assert (t.queue_result, t.outcome) == ("abandoned", "caller_hangup"), t.id
        assert gone not in events("call_resumed")

        def message_of(ticket_id: int) -> Voicemail:
            return read(lambda s: s.scalars(select(Voicemail).where(Voicemail.ticket_id == ticket_id)).one())

        await until(lambda: message_of(gone).recording_id is not None, "the audio of the message left meanwhile")
        for ticket_id in recording:
            t = final[ticket_id]
            assert (t.queue_result, t.outcome, t.level) == ("caller_choice", "voicemail", 2), t.id
            message = message_of(ticket_id)
            ended = "hangup" if ticket_id == gone else "interrupted"
            assert message.ended_by == ended and message.recording_id is not None
            assert message.duration_s > 2.0 and not message.empty  # what was said before and after the kill
            assert message.callback_number == t.caller_number
        assert await cap.count(now) == admitted  # resumed callers were not counted twice
        await until(lambda: not left_on_asterisk(pbx), "Asterisk to hold no channel or bridge", timeout=20)
    finally:
        answering.cancel()
        engine.stop()
        for call in calls:
            with contextlib.suppress(Exception):
                await call.hangup()


async def test_asterisk_restart_closes_lost_calls_as_failures(pbx: PbxPair, tmp_path: Path) -> None:
    settings = pbx.settings(tmp_path, {"asterisk": {"ari": {"heartbeat_s": 1.0}}})
    async with running_engine(settings) as engine:
        in_menu: asyncio.Future[None] = asyncio.get_running_loop().create_future()

        async def script(call: LabCall, w: Watcher) -> None:
            await w.playing("menu_main")
            in_menu.set_result(None)
            await call.wait_ended(timeout=60)

        lost = asyncio.ensure_future(run_call(engine, pbx.carrier, "3391234500", script))
        await in_menu
        await asyncio.to_thread(pbx.restart_engine_asterisk)
        ticket, _ = await lost
        assert (ticket.outcome, ticket.end_reason) == ("failed", "lost_in_menu")
        assert not ticket.open and ticket.ended_at is not None
        # The line heals by itself: the next call is served.
        await until(lambda: engine.ari.connections >= 2 and engine.ari.connected.is_set(), "ARI back", 20)
        await until(lambda: engine.ami.logins >= 2, "AMI logged in again", 20)
        served, _ = await run_call(engine, pbx.carrier, "3391234501", _leave_at_menu)
        assert served.outcome == "caller_hangup" and served.last_state == "menu:menu"


async def _leave_at_menu(call: LabCall, w: Watcher) -> None:
    await w.playing("menu_main")
    await call.hangup()


OUTAGE_S = 60.0
OUTAGE_FLOW = """
name: queue-survey-voicemail
start: queue
nodes:
  queue: {type: queue, fallback: voicemail, next: survey}
  survey:
    type: survey
    timeout_s: 4
    questions: [{id: satisfaction, prompt: survey_satisfaction, keys: "12345"}]
  voicemail: {type: voicemail, reason: busy}
"""


async def test_database_away_for_a_minute_loses_and_doubles_nothing(
    pbx: PbxPair, tmp_path: Path, voices: Voices
) -> None:
    """PostgreSQL is stopped for a minute with calls in flight and new calls arriving; a caller
    who asks for a callback meanwhile is told it cannot be booked and is served in the queue."""
    server = PostgresServer()
    await asyncio.to_thread(server.start)
    try:
        url = server.create_database("outage")
        async with (
            queue_line(
                pbx,
                tmp_path,
                voices,
                flow=OUTAGE_FLOW,
                database={"url": url},
                queue={"announce_every_s": 600, "callback_offer_after_s": 0},
            ) as line,
            home_operators(line, pbx, {"pia": "3470000031", "rey": "3470000032"}, talk_s=8.0),
        ):
            speech = pbx.carrier.add_voice("message", voices.caller)

            async def survey_then_leave(call: LabCall, w: Watcher) -> None:
                await w.played("survey_satisfaction", timeout=90)
                await call.press("4")
                await call.wait_ended(timeout=30)

            async def message(call: LabCall, w: Watcher) -> None:
                await w.playing("queue_enter", timeout=60)
                await asyncio.sleep(1.0)
                await call.press("9")  # the leave key, without waiting for the offer to be read out
                await w.played("vm_record_instructions")
                await asyncio.sleep(1.0)
                await call.say(speech)
                await call.press("#")
                await w.played("vm_callback_confirm")
                await call.press("1")
                await call.wait_ended(timeout=30)

            async def callback_then_wait(call: LabCall, w: Watcher) -> None:
                await w.playing("queue_enter", timeout=60)
                await asyncio.sleep(1.0)
                await call.press("2")  # the callback key, as soon as the queue answers
                await w.played("vm_callback_confirm")
                await call.press("1")  # the caller id read back: confirmed
                await w.played("queue_callback_not_booked", timeout=30)  # told, and still in the queue
                await survey_then_leave(call, w)

            def busy() -> int:
                return sum(o["state"] == "busy" for o in line.engine.distributor.snapshot()["operators"])

            def place(number: str, script: Script) -> asyncio.Future[LabCall]:
                return asyncio.ensure_future(place_call(line.engine, pbx.carrier, number, script))

            spanning = place("3490000001", survey_then_leave)  # talking when the database goes
            await soon(lambda: busy() == 1, "the first conversation")
            await asyncio.to_thread(server.pause)
            stopped = asyncio.get_running_loop().time()
            try:
                during = [place("3490000002", survey_then_leave)]
                await soon(lambda: busy() == 2, "both operators talking")
                during.append(place("3490000003", message))  # waits, then leaves a message
                during.append(place("3490000004", survey_then_leave))  # waits for an operator
                during.append(place("3490000005", callback_then_wait))  # asks for a callback meanwhile
                calls = await asyncio.gather(spanning, *during)
                assert all(c.ended for c in calls)
                assert line.engine.store.degraded  # all of it was written to the outbox
                assert line.engine.store.writer.outbox is not None and line.engine.store.writer.outbox.count() > 20
            finally:
                left = OUTAGE_S - (asyncio.get_running_loop().time() - stopped)
                await asyncio.sleep(max(0.0, left))
                await asyncio.to_thread(server.resume)
            await soon(lambda: not line.engine.store.degraded, "the outbox to be replayed", timeout=30)

            db = make_engine(url)
            with Session(db) as session:
                tickets = list(session.scalars(select(Ticket).order_by(Ticket.id)))
                assert len(tickets) == 5 and all(not t.open for t in tickets)
                events = list(session.scalars(select(TicketEvent)))
                for ticket in tickets:
                    kinds = [e.kind for e in events if e.ticket_id == ticket.id]
                    assert kinds.count("call_started") == 1 and kinds.count("call_ended") == 1, kinds
                    assert kinds.count("queue_admitted") == 1, kinds
                answered = [t for t in tickets if t.queue_result == "answered"]
                assert len(answered) == 4 and {t.survey_status for t in answered} == {"completed"}
                assert not list(session.scalars(select(QueuedCallback)))  # none booked, none pretended
                answers = list(session.scalars(select(SurveyAnswer)))
                assert sorted((a.ticket_id, a.answer) for a in answers) == sorted((t.id, 4) for t in answered)
                (left_message,) = [t for t in tickets if t.queue_result == "caller_choice"]
                vm = session.scalars(select(Voicemail).where(Voicemail.ticket_id == left_message.id)).one()
                assert vm.recording_id is not None and vm.callback_number == left_message.caller_number
                recording = session.get(Recording, vm.recording_id)
                assert recording is not None and Path(recording.path).stat().st_size == recording.bytes
                day = session.scalars(select(DailyAdmissions)).one()
                assert day.admitted == 5  # counted once each, outage or not
            db.dispose()
    finally:
        await asyncio.to_thread(server.stop)


@contextlib.contextmanager
def full_disk(folder: Path) -> Iterator[None]:
    """A tiny file system mounted on `folder`, filled to the last byte."""
    folder.mkdir(parents=True, exist_ok=True)
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=16k", "tmpfs", str(folder)], check=True)
    try:
        with contextlib.suppress(OSError), (folder / "filler").open("wb") as filler:
            filler.write(b"\0" * 64 * 1024)
        yield
    finally:
        subprocess.run(["umount", "-l", str(folder)], check=False)


async def test_disk_full_for_recordings_keeps_the_call_and_says_so(
    pbx: PbxPair, tmp_path: Path, voices: Voices
) -> None:
    campaign = [{"id": "q-feb", "name": "Qualità", "from": "2026-02-01", "to": "2026-02-28"}]
    with full_disk(tmp_path / "recordings"):
        async with (
            queue_line(pbx, tmp_path, voices, flow=CONSENT_FLOW, campaigns=campaign) as line,
            home_operators(line, pbx, {"ivo": "3470000041"}, talk_s=4.0),
        ):

            async def consent_then_listen(call: LabCall, w: Watcher) -> None:
                await w.played("consent_notice")
                await call.press("1")
                await call.wait_ended(timeout=60)

            ticket, _ = await line.call(consent_then_listen)
            assert (ticket.consent, ticket.queue_result, ticket.outcome) == ("accepted", "answered", "completed")
            failed = next(e for e in ticket.events if e.kind == "recording_failed")
            assert failed.detail is not None and "No space left" in failed.detail["error"]
            assert await line.engine.recordings.for_ticket(ticket.id) == []  # no row points at a missing file
            assert not list((tmp_path / "recordings").rglob("*.part"))  # and no half file is left
            health = await asyncio.to_thread(_health, line)
            assert health["recordings"]["calls"]["failures"] == 1
            assert "No space left" in health["recordings"]["calls"]["last_error"]
            # Nothing lost: Asterisk still holds the conversation, to be fetched once there is room.
            name = next(e.detail["name"] for e in ticket.events if e.kind == "recording_started" and e.detail)
            stored = await line.engine.ari.get(f"recordings/stored/{name}")
            assert stored["name"] == name
            await line.engine.ari.delete(f"recordings/stored/{name}")  # the Asterisk is shared by later tests


def _health(line: QueueLine) -> dict[str, Any]:
    console = line.engine.settings.console
    assert console.api_token is not None
    request = urllib.request.Request(
        f"http://{console.bind}:{console.port}/api/health",
        headers={"Authorization": f"Bearer {console.api_token.get_secret_value()}"},
    )
    with urllib.request.urlopen(request, timeout=5) as response:
        result: dict[str, Any] = json.loads(response.read())
        return result
