"""The soak's browser desk operator (issue 24) against an engine in its own process: one call from
the lab carrier, answered at the desk in headless Chromium, the desk's voice heard by the caller's
ear, hung up from the desk and its card filed with a knowledge-base article; the ticket says an
operator answered. Run under the shared lock: `flock /tmp/soak.lock .venv/bin/pytest ...`."""

from __future__ import annotations

import asyncio
from datetime import datetime
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from ivr.asterisk.instance import free_port
from ivr.lab.soak.actions import DeskStep
from ivr.lab.soak.callers import CallerKit, run_journeys
from ivr.lab.soak.desk_operator import (
    DESK_WEBRTC,
    SAMPLE_ARTICLES,
    BrowserDeskOperator,
    add_desk_account,
    console_bases,
    microphone,
)
from ivr.lab.soak.journal import HungUpBy
from ivr.lab.soak.kit import operator_phrase
from ivr.lab.soak.model import Goal, Journey
from ivr.schema.tickets import Operator, Ticket
from ivr.tickets.db import make_engine, upgrade
from tests.harness.engine_process import EngineProcess
from tests.harness.pbx import OPEN_MOMENT, PbxPair
from tests.harness.queueline import QUICK
from tests.harness.voices import Voices, synthesise

pytestmark = [pytest.mark.browser, pytest.mark.asterisk]

FLOW = """
name: soak-desk
start: menu
nodes:
  menu:
    type: menu
    prompt: menu_main
    options:
      "1": {next: queue, topic: citizens}
      "2": {next: queue, topic: employers}
    default: {next: queue, topic: citizens}
    first_digit_timeout_s: 3
  queue: {type: queue, fallback: voicemail, next: survey}
  survey:
    type: survey
    timeout_s: 3
    questions:
      - {id: satisfaction, prompt: survey_satisfaction, keys: "12345"}
      - {id: solved, prompt: survey_solved, keys: "12"}
  voicemail: {type: voicemail, reason: busy}
"""


def _ticket(url: str) -> tuple[Ticket, str | None]:
    db = make_engine(url)
    try:
        with Session(db) as s:
            (t,) = s.scalars(select(Ticket))
            login = s.scalar(select(Operator.login).where(Operator.id == t.operator_id))
            s.expunge_all()
            return t, login
    finally:
        db.dispose()


async def test_the_desk_operator_answers_speaks_hangs_up_and_files(
    pbx: PbxPair, tmp_path: Path, voices: Voices
) -> None:
    assert SAMPLE_ARTICLES is not None
    url = f"sqlite:///{tmp_path / 'line.db'}"
    db = make_engine(url)
    upgrade(db)
    db.dispose()
    flow = tmp_path / "flow.yaml"
    flow.write_text(FLOW)
    data = tmp_path / "engine"
    data.mkdir()
    engine = EngineProcess(
        pbx,
        data,
        {
            "database": {"url": url},
            "console": {"port": free_port()},
            "callflow": str(flow),
            "queue": {**QUICK, "callback_enabled": False},
            "asterisk": {"webrtc": DESK_WEBRTC},
        },
    )
    when = datetime.fromisoformat(OPEN_MOMENT)
    await add_desk_account(url, "carla", "Carla", when, articles=(engine.path, SAMPLE_ARTICLES))
    # The operator's name, as the soak's desk says it (a longer greeting, looped with its pauses,
    # leaves a joining caller too long without an opening: `kit.within_ear`).
    name = await asyncio.to_thread(synthesise, operator_phrase("Carla Conti"), tmp_path / "carla.wav")
    mic = await asyncio.to_thread(microphone, name, tmp_path / "carla-48k.wav")
    desk = BrowserDeskOperator(
        "carla",
        lambda: console_bases([engine]),
        mic,
        steps=[DeskStep(talk_s=10, outcome="resolved", article=True)],
        seed=3,
    )
    kit = CallerKit(
        pbx.carrier,
        did=str(engine.config["service"]["did"]),
        prompts_dir=Path(pbx.overrides["prompts"]["build_dir"]),
        operator_voices={"carla": name},
        speech=voices.caller,
        max_call_s=100.0,
    )
    journey = Journey(name="desk+survey", goal=Goal.OPERATOR, at_s=0.0, caller="3475550201",
                      menu_keys=["1"], topic="citizens", survey_keys=["5", "1"])  # fmt: skip
    try:
        await engine.start()
        await desk.start()
        (record,) = await asyncio.wait_for(run_journeys(kit, [journey]), 120)
        for _ in range(100):  # the card is filed once the desk hung up
            if desk.filed:
                break
            await asyncio.sleep(0.1)
    finally:
        await desk.stop()
        engine.stop()
    print(record.model_dump_json(exclude={"placed_at", "ended_at", "carrier_channel"}))
    print(desk.report())

    # The caller heard the desk's voice (through Chromium, WebRTC and the line), then the survey.
    assert record.heard_operator and record.operator == "carla", record
    assert record.survey_keys == ["5", "1"] and record.hung_up_by == HungUpBy.ENGINE
    (leg,) = desk.legs
    assert leg.confirmed and leg.hung_up_by_operator and leg.ended_at is not None
    # The store agrees: an operator, at the desk, answered; the card was filed with an article.
    ticket, login = _ticket(url)
    assert ticket.caller_number == journey.caller and not ticket.open
    assert ticket.operator_answered_at is not None and ticket.queue_result == "answered" and login == "carla"
    ((filed_ticket, filed),) = desk.filed.items()
    assert filed_ticket == ticket.id and filed.article is not None, desk.report()
    assert ticket.status == "resolved" and ticket.kb_article_id == filed.article
    assert [e.what for e in desk.events if e.what in ("error", "not_filed")] == [], desk.events
