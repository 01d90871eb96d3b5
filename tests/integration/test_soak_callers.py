"""The soak's callers and operators against an engine in its own process (issue 24): six journeys
at once on the lab carrier, each written down from what its caller heard, then held against the
engine's tickets. The callers never see the engine's notes; only their ears tell them where the
call is."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from ivr.acd.operators import OperatorDirectory
from ivr.asterisk.instance import free_port
from ivr.lab.carrier import LabPhoneCall
from ivr.lab.soak.callers import CallerKit, run_journeys
from ivr.lab.soak.checker import run_checks
from ivr.lab.soak.evidence import SoakEvidence
from ivr.lab.soak.journal import CallRecord, HungUpBy, Journal
from ivr.lab.soak.model import Goal, Journey
from ivr.lab.soak.operators import OutsideOperator, OutsideOperators, SoftphoneOperator
from ivr.lab.softphone import LabSoftphone
from ivr.schema.tickets import SurveyAnswer, Ticket, Voicemail
from ivr.telephony.errors import CallerHungUp
from ivr.tickets.db import make_engine, upgrade
from ivr.tickets.store import SqlTicketStore
from tests.harness.engine_process import EngineProcess
from tests.harness.pbx import OPEN_MOMENT, PbxPair
from tests.harness.queueline import QUICK
from tests.harness.voices import Voices, synthesise

pytestmark = pytest.mark.asterisk

FLOW = """
name: soak-callers
start: consent
nodes:
  consent: {type: consent, next: menu, timeout_s: 3, attempts: 1}
  menu:
    type: menu
    prompt: menu_main
    options:
      "1": {next: queue, topic: citizens}
      "2": {next: queue, topic: employers}
    default: {next: queue, topic: citizens}
    first_digit_timeout_s: 2
    max_attempts: 2
  queue: {type: queue, fallback: voicemail, next: survey}
  survey:
    type: survey
    timeout_s: 3
    questions:
      - {id: satisfaction, prompt: survey_satisfaction, keys: "12345"}
      - {id: solved, prompt: survey_solved, keys: "12"}
  voicemail: {type: voicemail, reason: busy}
"""
CAMPAIGN = {"id": "quality", "name": "Quality check", "from": "2026-02-01", "to": "2026-02-28"}

JOURNEYS = [
    Journey(name="operator+survey", goal=Goal.OPERATOR, at_s=0.0, caller="3475550001",
            menu_keys=["7", "1"], topic="citizens", consent_key="1", survey_keys=["4", "1"]),
    Journey(name="refused+operator", goal=Goal.OPERATOR, at_s=1.0, caller="3475550002",
            menu_keys=["2"], topic="employers", consent_key="2", survey_keys=["5"]),
    Journey(name="silent", goal=Goal.SILENT, at_s=2.0, caller="3475550003"),
    Journey(name="menu-hangup", goal=Goal.HANGUP, at_s=3.0, caller="3475550004", consent_key="1",
            hangup_state="menu", hangup_after_s=1.5),
    Journey(name="abandon", goal=Goal.ABANDON, at_s=9.0, caller="3475550005", menu_keys=["1"],
            topic="citizens", consent_key="1", patience_s=2.0),
    Journey(name="voicemail", goal=Goal.VOICEMAIL, at_s=10.0, caller="3475550006", menu_keys=["2"],
            topic="employers", consent_key="2", message_s=3.0),
]  # fmt: skip


def _read(url: str, fn: Callable[[Session], Any]) -> Any:
    db = make_engine(url)
    try:
        with Session(db) as session:
            return fn(session)
    finally:
        db.dispose()


async def _operators(url: str, numbers: dict[str, str | None]) -> dict[str, str | None]:
    """Operators in the store before the engine starts, available: login -> outside number, or
    None for a softphone. Returns each one's SIP password (None for an outside number)."""
    db = make_engine(url)
    upgrade(db)
    store = SqlTicketStore(db)
    passwords: dict[str, str | None] = {}
    try:
        directory = OperatorDirectory(store)
        now = datetime.fromisoformat(OPEN_MOMENT)
        for login, number in numbers.items():
            _, passwords[login] = await directory.add(
                login, login.title(), now=now, softphone=number is None, outside_number=number
            )
            await directory.set_presence(login, "available", None, now)
    finally:
        await store.stop()
        db.dispose()
    return passwords


def _engine(pbx: PbxPair, tmp_path: Path, url: str) -> EngineProcess:
    flow = tmp_path / "flow.yaml"
    flow.write_text(FLOW)
    data = tmp_path / "engine"
    data.mkdir()
    return EngineProcess(
        pbx,
        data,
        {
            "database": {"url": url},
            "console": {"port": free_port()},
            "callflow": str(flow),
            "queue": {**QUICK, "max_missed_offers": 1, "confirm_timeout_s": 4, "callback_enabled": False},
            "voicemail": {"max_silence_s": 0},
            "campaigns": [CAMPAIGN],
        },
    )


def _kit(pbx: PbxPair, engine: EngineProcess, voices: Voices, operators: dict[str, Path]) -> CallerKit:
    return CallerKit(
        pbx.carrier,
        did=str(engine.config["service"]["did"]),
        prompts_dir=Path(pbx.overrides["prompts"]["build_dir"]),
        operator_voices=operators,
        speech=voices.caller,
        max_call_s=100.0,
    )


async def _tickets(url: str) -> list[tuple[Ticket, list[int], list[Voicemail]]]:
    def read(s: Session) -> list[tuple[Ticket, list[int], list[Voicemail]]]:
        out = []
        for t in s.scalars(select(Ticket).order_by(Ticket.id)):
            answers = list(s.scalars(select(SurveyAnswer.answer).where(SurveyAnswer.ticket_id == t.id)
                                     .order_by(SurveyAnswer.id)))  # fmt: skip
            messages = list(s.scalars(select(Voicemail).where(Voicemail.ticket_id == t.id)))
            s.expunge_all()
            out.append((t, answers, messages))
        return out

    return await asyncio.to_thread(_read, url, read)


async def test_six_soak_journeys_agree_with_their_tickets(pbx: PbxPair, tmp_path: Path, voices: Voices) -> None:
    url = f"sqlite:///{tmp_path / 'line.db'}"
    await _operators(url, {"anna": "3479000001", "segreteria": "3479000002"})
    machine = synthesise("Risponde la segreteria telefonica di Marco.", tmp_path / "machine.wav")
    engine = _engine(pbx, tmp_path, url)
    operators = OutsideOperators(
        pbx.carrier,
        [
            # The talk is cut where it ends: as long as the 5.5 s voice said once (the talk before),
            # so the abandoning caller still gives up before anna is free (2 s of patience: the
            # ear reads every 0.45 s, and with 3 s anna was free first once).
            OutsideOperator("anna", "3479000001", voices.operator, talk_s=(5.5, 6.0)),
            OutsideOperator("segreteria", "3479000002", machine, answering_machine=True),
        ],
        seed=24,
    )
    kit = _kit(pbx, engine, voices, {"anna": voices.operator, "segreteria": machine})
    try:
        await engine.start()
        operators.start()
        records = await asyncio.wait_for(run_journeys(kit, JOURNEYS), 130)
    finally:
        await operators.stop()
        engine.stop()

    journal = Journal(tmp_path / "journal.jsonl")
    for record in records:
        journal.append(record)
    assert list(journal.read()) == records
    print("\n".join(r.model_dump_json(exclude={"placed_at", "ended_at", "carrier_channel"}) for r in records))

    by = {r.journey: r for r in records}
    # What the callers went through, by their own account (the ear found each landmark).
    assert by["operator+survey"].heard_operator and by["operator+survey"].operator == "anna"
    assert by["operator+survey"].survey_keys == ["4", "1"] and by["operator+survey"].hung_up_by == HungUpBy.ENGINE
    assert by["menu-hangup"].hung_up_by == HungUpBy.CALLER and by["menu-hangup"].hangup_state == "menu"
    assert by["abandon"].hung_up_by == HungUpBy.CALLER and not by["abandon"].heard_operator
    assert by["voicemail"].left_message and by["voicemail"].message_s >= 2.5
    assert by["silent"].consent_asked and by["silent"].consent_key is None and not by["silent"].survey_keys
    assert not any(r.operator == "segreteria" for r in records)  # an answering machine never talks to a caller
    assert any(leg.login == "segreteria" for leg in operators.legs)  # though it was offered a call

    rows = await _tickets(url)
    assert sorted(t.caller_number or "" for t, _, _ in rows) == sorted(j.caller for j in JOURNEYS)
    for t, answers, messages in rows:
        _agree(by_caller(records, t.caller_number), t, answers, messages)


def by_caller(records: list[CallRecord], number: str | None) -> CallRecord:
    (record,) = [r for r in records if r.caller == number]
    return record


def _agree(r: CallRecord, t: Ticket, answers: list[int], messages: list[Voicemail]) -> None:
    """The checker's rule for one call: the ticket says what the caller went through."""
    where = f"{r.journey}: ticket {t.id} {t.queue_result}/{t.outcome}"
    assert not t.open, where
    assert r.heard_operator == (t.queue_result == "answered" and t.operator_id is not None), where
    assert r.left_message == any(m.duration_s > 1.0 for m in messages), where
    assert answers == [int(k) for k in r.survey_keys], where
    if r.topic is not None:
        assert t.topic == r.topic, where
    if r.consent_asked:
        expected = {"1": "accepted", "2": "refused", None: "no_answer"}[r.consent_key]
        assert t.consent == expected, where


async def test_a_softphone_operator_answers_by_itself_talks_and_hangs_up(
    pbx: PbxPair, tmp_path: Path, voices: Voices
) -> None:
    url = f"sqlite:///{tmp_path / 'line.db'}"
    password = (await _operators(url, {"bruno": None}))["bruno"]
    assert password is not None
    engine = _engine(pbx, tmp_path, url)
    sip = engine.config["asterisk"]["sip"]
    phone = LabSoftphone("bruno", password, (sip["bind"], sip["port"]), voices.operator_padded)
    operator = SoftphoneOperator(phone, talk_s=(4.0, 5.0), seed=7)
    kit = _kit(pbx, engine, voices, {"bruno": voices.operator_padded})
    journey = Journey(name="softphone+survey", goal=Goal.OPERATOR, at_s=2.0, caller="3475550101",
                      menu_keys=["1"], topic="citizens", consent_key="1", survey_keys=["3", "2"])  # fmt: skip
    try:
        await engine.start()
        await phone.start()
        operator.start()
        (record,) = await asyncio.wait_for(run_journeys(kit, [journey]), 100)
    finally:
        await operator.stop()
        await phone.stop()
        engine.stop()
    print(record.model_dump_json(exclude={"placed_at", "ended_at", "carrier_channel"}))
    assert record.heard_operator and record.operator == "bruno" and record.survey_keys == ["3", "2"]
    (leg,) = operator.legs
    assert leg.hung_up_by_operator and leg.ended_at is not None
    ((ticket, answers, messages),) = await _tickets(url)
    assert ticket.caller_number == journey.caller
    _agree(record, ticket, answers, messages)


# --- queued callbacks and English callers, by ear ---------------------------------------------

LANGUAGES_FLOW = """
name: soak-callbacks
start: welcome
nodes:
  welcome: {type: play, prompt: welcome, languages: true, next: menu}
  menu:
    type: menu
    prompt: menu_main
    options:
      "1": {next: queue, topic: citizens}
    default: {next: queue, topic: citizens}
    first_digit_timeout_s: 2
    max_attempts: 2
  queue: {type: queue, fallback: voicemail, next: survey}
  survey:
    type: survey
    timeout_s: 4
    questions:
      - {id: satisfaction, prompt: survey_satisfaction, keys: "12345"}
      - {id: solved, prompt: survey_solved, keys: "12"}
  voicemail: {type: voicemail, reason: busy}
"""


JUDGED = (
    "one_ticket",
    "outcome",
    "survey_after_operator",
    "callbacks",
    "callback_dialled",
    "callback_one_leg",
    "callback_number",
    "callback_order",
    "callback_heard_operator",
    "language",
)


class Talker:
    """An operator at home who confirms with 1 and then keeps talking (the voice again every
    few seconds) for `talk_s`: on a queued callback the citizen joins only after the operator
    heard whom they call and the citizen's phone rang, so a single greeting would be missed."""

    def __init__(self, pbx: PbxPair, number: str, voice: Path, talk_s: float) -> None:
        self.pbx, self.number, self.talk_s = pbx, number, talk_s
        self.media = pbx.carrier.add_voice("soak-talker", voice)
        self.rings: list[str] = []
        self._task: asyncio.Task[None] | None = None
        self._calls: set[asyncio.Task[None]] = set()

    def start(self) -> None:
        self._task = asyncio.ensure_future(self._serve())

    async def stop(self) -> None:
        for task in [*self._calls, *([self._task] if self._task else [])]:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def _serve(self) -> None:
        while True:
            ring = await self.pbx.carrier.phones.get()  # the citizens' rings never come here
            self.rings.append(ring.number)
            if ring.number != self.number:
                await ring.hangup()
                continue
            task = asyncio.ensure_future(self._talk(ring))
            self._calls.add(task)
            task.add_done_callback(self._calls.discard)

    async def _talk(self, ring: LabPhoneCall) -> None:
        with contextlib.suppress(CallerHungUp):
            await ring.take_offer(after_s=1.0)
            loop = asyncio.get_running_loop()
            until = loop.time() + self.talk_s
            await ring.channel.sleep(2.0)
            while loop.time() < until:
                await ring.channel.play([self.media])
                await ring.channel.sleep(2.0)
            await ring.hangup()


CALLBACK_JOURNEYS = [
    Journey(name="operator/citizens/en", goal=Goal.OPERATOR, at_s=0.0, caller="3475550201", language="en",
            language_key="9", menu_keys=["1"], topic="citizens", survey_keys=["4", "1"]),
    Journey(name="callback/citizens/it", goal=Goal.CALLBACK, at_s=6.0, caller="3475550202", menu_keys=["1"],
            topic="citizens", typed_numbers=["899123456", "3475559999"], survey_keys=["5", "2"]),
]  # fmt: skip


async def test_a_queued_callback_and_an_english_caller_by_ear(pbx: PbxPair, tmp_path: Path, voices: Voices) -> None:
    url = f"sqlite:///{tmp_path / 'line.db'}"
    await _operators(url, {"anna": "3479000011"})
    flow = tmp_path / "flow.yaml"
    flow.write_text(LANGUAGES_FLOW)
    data = tmp_path / "engine"
    data.mkdir()
    queue = {**QUICK, "confirm_timeout_s": 4, "callback_offer_after_s": 0, "callback_citizen_timeout_s": 20}
    engine = EngineProcess(
        pbx, data, {"database": {"url": url}, "console": {"port": free_port()}, "callflow": str(flow), "queue": queue}
    )
    kit = _kit(pbx, engine, voices, {"anna": voices.operator})
    talker = Talker(pbx, "3479000011", voices.operator, talk_s=25.0)
    try:
        await engine.start()
        talker.start()
        records = await asyncio.wait_for(run_journeys(kit, CALLBACK_JOURNEYS), 300)
    finally:
        await talker.stop()
        engine.stop()
    print("\n".join(r.model_dump_json(exclude={"placed_at", "ended_at", "carrier_channel"}) for r in records))
    english, callback = records

    # The English caller chose English at the welcome, followed it by ear, talked, answered.
    assert (english.language_key, english.language_heard) == ("9", "en")
    assert english.heard_operator and english.survey_keys == ["4", "1"]

    # The callback: offered while anna talked, the caller id declined, a premium number refused
    # and typed again, the mobile confirmed and booked; the line called it back.
    assert callback.callback_offered and callback.callback_requested and callback.language_heard == "it"
    assert callback.refused_numbers == ["899123456"] and callback.callback_number == "3475559999"
    assert not callback.heard_operator  # the first leg ended at the booking
    (leg,) = callback.callback_legs
    # The notice is heard: the leg's bridge records from before the answer (set up after it,
    # the recording began after the line had started the notice, and the ear missed it).
    assert leg.number == "3475559999" and leg.answered and not leg.busy and leg.heard_notice
    assert leg.heard_operator and leg.operator == "anna" and leg.survey_keys == ["5", "2"]
    assert "3475559999" not in talker.rings  # the citizen's rings went to the citizen, not the operators

    rows = await _tickets(url)
    by_number = {t.caller_number: (t, answers) for t, answers, _ in rows}
    t, answers = by_number["3475550201"]
    assert t.language == "en" and answers == [4, 1]
    t, answers = by_number["3475550202"]
    assert t.queue_result == "callback" and answers == [5, 2]  # the questionnaire after the callback

    # The checker over this run's journal and store: the callback and language promises kept.
    evidence = SoakEvidence(
        journal=records,
        db_url=url,
        voicemail_dir=tmp_path / "no-voicemail",
        recordings_dir=tmp_path / "no-recordings",
        daily_cap=400,
        ended_at=datetime.fromisoformat(OPEN_MOMENT),
    )
    results = {r.name: r for r in run_checks(evidence)}
    for name in JUDGED:
        assert results[name].passed, (name, [v.detail for v in results[name].violations])
