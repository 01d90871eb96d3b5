"""A caller turned away by the daily cap and leaving a message when the engine is killed: the
next engine picks the message up and the ticket still says why the caller was not served."""

from __future__ import annotations

import asyncio
import contextlib
from datetime import datetime
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from ivr.acd.operators import OperatorDirectory
from ivr.schema.tickets import Ticket, TicketEvent, Voicemail
from ivr.tickets.db import make_engine, upgrade
from ivr.tickets.store import SqlTicketStore
from tests.harness.engine_process import EngineProcess
from tests.harness.pbx import OPEN_MOMENT, PbxPair
from tests.integration.test_faults import FLOW, _until

pytestmark = pytest.mark.asterisk


async def test_cap_reason_survives_an_engine_killed_during_the_message(pbx: PbxPair, tmp_path: Path) -> None:
    flow = tmp_path / "flow.yaml"
    flow.write_text(FLOW)  # queue -> voicemail (reason: busy) when not served
    engine = EngineProcess(pbx, tmp_path, {"callflow": str(flow), "queue": {"daily_cap": 0}})
    db = make_engine(engine.database_url)
    upgrade(db)
    now = datetime.fromisoformat(OPEN_MOMENT)
    store = SqlTicketStore(db)
    directory = OperatorDirectory(store)
    await directory.add("ada", "ada", now=now, softphone=False, outside_number="3479900001")
    await directory.set_presence("ada", "available", None, now)  # staffed: the cap is what refuses
    await store.stop()

    def kinds() -> list[str]:
        with Session(db) as session:
            return list(session.scalars(select(TicketEvent.kind).order_by(TicketEvent.id)))

    def ticket() -> Ticket | None:
        with Session(db) as session:
            return session.scalars(select(Ticket)).one_or_none()

    await engine.start()
    call = None
    try:
        call = await pbx.carrier.call("800000039", caller_number="3470000001")
        await _until(lambda: "voicemail_recording" in kinds(), "the message to start recording")
        engine.kill()
        await engine.start()
        await _until(lambda: "voicemail_left" in kinds(), "the interrupted message to be saved")
        await call.hangup()
        closed = await _until(lambda: (t := ticket()) is not None and not t.open and t, "the ticket to close")
        assert (closed.queue_result, closed.outcome) == ("cap", "voicemail")
        assert closed.end_reason == "voicemail:cap"
        with Session(db) as session:
            assert session.scalars(select(Voicemail.reason)).one() == "cap"
    finally:
        engine.stop()
        if call is not None:
            with contextlib.suppress(Exception):
                await call.hangup()
        await asyncio.sleep(0)
        db.dispose()
