"""Queued callbacks and languages where the public reads them: `/statistiche` (HTML and JSON) and
the open-data files. The console showed them; the charter's statistics "for external use" did
not (issue 26). Real store (SQLite and PostgreSQL), the public routes and the exporter as the engine mounts them."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from sqlalchemy.orm import Session

from ivr.clock import ShiftedClock
from ivr.schema.callbacks import QueuedCallback
from ivr.schema.tickets import Ticket, TicketEvent
from ivr.stats.config import StatsSettings
from ivr.stats.export import StatsExporter
from ivr.stats.page import public_routes
from ivr.tickets.db import make_engine, upgrade
from ivr.tickets.events import EventKind
from ivr.tickets.periods import ROME
from ivr.tickets.store import SqlTicketStore

DAY = date(2026, 3, 2)
AT = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def _seed(session: Session) -> None:
    def ticket(uid: str, language: str | None, channel: str = "phone") -> Ticket:
        t = Ticket(call_uid=uid, started_at=AT, channel=channel, language=language, local_day=DAY, open=False)
        session.add(t)
        session.flush()
        return t

    waited = [ticket("a", None), ticket("b", "en")]
    ticket("c", "it")
    ticket("w", None, channel="web")  # a web request: no call, no language counted
    for t in waited:
        session.add(TicketEvent(ticket_id=t.id, at=AT, kind=EventKind.CALLBACK_OFFERED, detail={}))
    done, unreachable = waited
    session.add_all(
        [
            QueuedCallback(ticket_id=done.id, number="3330000001", source="confirmed", arrived_at=AT, accepted_at=AT,
                           local_day=DAY, state="completed", connected_at=AT + timedelta(minutes=20)),
            QueuedCallback(ticket_id=unreachable.id, number="3330000002", source="typed", arrived_at=AT,
                           accepted_at=AT, local_day=DAY, state="unreachable"),
        ]
    )  # fmt: skip


@pytest.fixture
async def store(db_url: str) -> AsyncIterator[SqlTicketStore]:
    """On SQLite and PostgreSQL: the languages' query was refused by PostgreSQL (a COALESCE with
    a bound default in both SELECT and GROUP BY), on the console too."""
    engine = make_engine(db_url)
    upgrade(engine)
    with Session(engine) as session, session.begin():
        _seed(session)
    store = SqlTicketStore(engine, tz=ROME)
    yield store
    await store.stop()
    engine.dispose()


EXPECTED = {
    "richiamate": {
        "offerte": 2,
        "richieste": 2,
        "completate": 1,
        "non_raggiunti": 1,
        "al_secondo_livello": 0,
        "in_corso": 0,
        "attesa_media_s": 1200.0,
    },
    "lingue": {"en": 1, "it": 2},
}


async def test_the_public_page_and_its_json_show_callbacks_and_languages(store: SqlTicketStore) -> None:
    app = web.Application()
    app.add_routes(public_routes(store.run_read, StatsSettings(), clock=ShiftedClock(AT + timedelta(days=1)), tz=ROME))
    client: TestClient[Any, Any] = TestClient(TestServer(app))
    await client.start_server()
    try:
        params = {"da": DAY.isoformat(), "a": DAY.isoformat(), "periodo": "giorno"}
        document = await (await client.get("/statistiche.json", params=params)).json()
        html = await (await client.get("/statistiche", params=params)).text()
    finally:
        await client.close()
    assert {k: document[k] for k in EXPECTED} == EXPECTED
    assert "<h2>Richiamate e lingue</h2>" in html and "<caption>Chiamate per lingua</caption>" in html
    assert '<th scope="row">Richiamate chieste</th><td>2</td>' in html
    assert (
        '<th scope="row">inglese</th><td>1</td>' in html
        and "Attesa media tra la\nrichiesta e la richiamata: 20 minuti" in html
    )


async def test_open_data_has_the_callbacks_and_languages_of_the_day_and_of_the_span(
    store: SqlTicketStore, tmp_path: Path
) -> None:
    out = tmp_path / "opendata"
    exporter = StatsExporter(store.run_read, StatsSettings(), out, ShiftedClock(AT + timedelta(days=1)))
    done = await exporter.export(DAY)
    day = out / "giorni" / f"{DAY.isoformat()}-richiamate"
    for stem in (day, out / "richiamate"):
        assert stem.with_suffix(".csv") in done.files and stem.with_suffix(".json") in done.files
        document = json.loads(stem.with_suffix(".json").read_text())
        assert {k: document[k] for k in EXPECTED} == EXPECTED and document["to"] == DAY.isoformat()
    header, row = day.with_suffix(".csv").read_text().splitlines()
    assert (
        header
        == "from,to,offered,accepted,completed,unreachable,escalated,pending,mean_to_callback_s,calls_en,calls_it"
    )
    assert row == "2026-03-02,2026-03-02,2,2,1,1,0,0,1200.0,1,2"
