"""A conversation whose operator hung up while no engine watched leaves no bridge behind.

Full run 6 ended with one bridge on the line's Asterisk after draining: engine b was killed
during a conversation (ticket 6414), the operator's leg went while nobody watched, and the engine
that took over sent the caller on to the survey, out of the conversation's bridge. The recovery's
sweep spared that bridge because it is named for a call the engine serves (the name that protects
a conversation being set up), and nobody else ever destroyed it.
"""

from __future__ import annotations

import asyncio
import contextlib
from datetime import datetime
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from ivr.acd.operators import OperatorDirectory
from ivr.lab.carrier import LabPhoneCall
from ivr.schema.tickets import Ticket, TicketEvent
from ivr.tickets.db import make_engine, upgrade
from ivr.tickets.store import SqlTicketStore
from tests.harness.engine_process import EngineProcess
from tests.harness.pbx import OPEN_MOMENT, PbxPair
from tests.integration.test_faults import FLOW, _until, ari_get

pytestmark = pytest.mark.asterisk


async def test_the_bridge_of_a_conversation_whose_operator_left_while_no_engine_watched_is_destroyed(
    pbx: PbxPair, tmp_path: Path
) -> None:
    flow = tmp_path / "flow.yaml"
    flow.write_text(FLOW)
    engine = EngineProcess(
        pbx, tmp_path, {"callflow": str(flow), "queue": {"ring_timeout_s": 10, "wrap_up_s": 1, "announce_every_s": 600}}
    )
    db = make_engine(engine.database_url)
    upgrade(db)
    store = SqlTicketStore(db)
    directory = OperatorDirectory(store)
    now = datetime.fromisoformat(OPEN_MOMENT)
    await directory.add("op01", "op01", now=now, softphone=False, outside_number="3479900001")
    await directory.set_presence("op01", "available", None, now)

    def kinds() -> list[str]:
        with Session(db) as session:
            return list(session.scalars(select(TicketEvent.kind).order_by(TicketEvent.id)))

    def ticket() -> Ticket | None:
        with Session(db) as session:
            return session.scalars(select(Ticket)).first()

    def bridges() -> list[str]:
        return [b["id"] for b in ari_get(pbx, "bridges")]

    phone: LabPhoneCall | None = None
    call = None
    await engine.start()
    try:
        call = await pbx.carrier.call("800000039", caller_number="3470000001")
        phone = await asyncio.wait_for(pbx.carrier.phones.get(), 20)
        await phone.take_offer()
        await _until(lambda: "operator_answered" in kinds(), "the operator to answer")
        assert await _until(bridges, "the conversation's bridge")

        engine.kill()
        await asyncio.sleep(1.0)
        await phone.hangup()  # the operator leaves while no engine watches: the caller stays, alone
        await asyncio.sleep(1.0)
        await engine.start()

        await _until(lambda: "survey_offered" in kinds(), "the caller to be asked the survey after the restart")
        await call.hangup()
        await _until(lambda: (t := ticket()) is not None and not t.open, "the ticket to close")
        await _until(lambda: not bridges(), "Asterisk to hold no bridge", timeout=20)
    finally:
        engine.stop()
        for leg in (call, phone):
            if leg is not None:
                with contextlib.suppress(Exception):
                    await leg.hangup()
        await store.stop()
        db.dispose()
