"""Statistics by channel and level with known tickets, on SQLite and PostgreSQL: what each of
the four lines counts, the periods, and where the figures are published (table, CSV, JSON,
the public page, the open-data files)."""

from __future__ import annotations

import json
from datetime import date, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy.orm import Session

from ivr.clock import ShiftedClock
from ivr.schema.tickets import Ticket
from ivr.stats.config import StatsSettings
from ivr.stats.export import StatsExporter
from ivr.stats.formats import to_csv, to_json, to_table
from ivr.stats.levels import LevelFigures
from ivr.stats.pagehtml import render_page
from ivr.stats.plain_language import distribution
from ivr.stats.queries import Scope
from ivr.stats.report import EngineReader, build_report
from ivr.tickets.db import make_engine, upgrade
from ivr.tickets.periods import local_keys

ROME = ZoneInfo("Europe/Rome")
D1, D2 = datetime(2026, 3, 2, 10, 0, tzinfo=ROME), datetime(2026, 3, 3, 11, 0, tzinfo=ROME)
NOW = datetime(2026, 3, 10, 12, 0, tzinfo=ROME)


def day(n: int, hour: int = 12) -> datetime:
    """Noon of the n-th of March 2026, Rome time."""
    return datetime(2026, 3, n, hour, 0, tzinfo=ROME)


def _ticket(at: datetime, channel: str, **columns: Any) -> Ticket:
    return Ticket(channel=channel, started_at=at, open=False, **local_keys(at, ROME), **columns)


def _known(session: Session) -> None:
    phone, web = "phone", "web"
    session.add_all(
        [
            *(_ticket(D1, phone, level=1, status="resolved") for _ in range(3)),
            _ticket(D2, phone, level=1, status="resolved"),
            _ticket(D1, phone),  # a call nobody answered: no level line counts it
            # phone, second level
            _ticket(D1, phone, level=2, sla_kind="phone_callback", callback_due=day(8), sla_met_at=day(7)),
            _ticket(D1, phone, level=2, sla_kind="phone_callback", callback_due=day(8), sla_met_at=day(9)),
            _ticket(D1, phone, level=2, sla_kind="phone_callback", callback_due=day(9)),
            _ticket(D1, phone, level=2, sla_kind="phone_callback", callback_due=day(12)),
            # web, answered at the first level (or not)
            _ticket(D1, web, level=1, sla_kind="web_reply", callback_due=day(4), sla_met_at=day(3)),
            _ticket(D1, web, level=1, sla_kind="web_reply", callback_due=day(4)),
            # web, passed to the second level: in time at the first, open at the second...
            _ticket(
                D1, web, level=2, sla_kind="web_second", first_due=day(4), first_met_at=day(3), callback_due=day(13)
            ),
            # ...late at the first, in time at the second
            _ticket(
                D1, web, level=2, sla_kind="web_second", first_due=day(4), first_met_at=day(5),
                callback_due=day(6), sla_met_at=day(5),
            ),
        ]
    )  # fmt: skip


def _line(f: LevelFigures) -> tuple[Any, ...]:
    return (f.channel, f.level, f.count, f.in_time, f.late, f.open, f.overdue, f.target)


async def test_levels_by_channel_with_known_tickets(db_url: str, tmp_path: Path) -> None:
    engine = make_engine(db_url)
    upgrade(engine)
    with Session(engine) as session, session.begin():
        _known(session)
    reader = EngineReader(engine)
    try:
        report = await build_report(reader, Scope(date(2026, 3, 1), date(2026, 3, 10), "day", None, NOW))
        total = report.levels_of(None)
        assert total is not None
        assert [_line(f) for f in total.figures] == [
            ("phone", 1, 4, 4, 0, 0, 0, None),
            ("phone", 2, 4, 1, 2, 1, 1, 0.8),
            ("web", 1, 4, 2, 2, 0, 1, 0.9),
            ("web", 2, 2, 1, 0, 1, 0, 0.8),
        ]
        assert total.figures[1].in_time_share == 1 / 3 and total.figures[1].met is False
        assert total.figures[0].met is None  # immediate: no target to meet
        assert [r.period for r in report.levels] == [date(2026, 3, 2), date(2026, 3, 3), None]
        second_day = report.levels_of(date(2026, 3, 3))
        assert second_day is not None and [f.count for f in second_day.figures] == [1, 0, 0, 0]

        # Published the same everywhere.
        records = json.loads(to_json(report))
        last = records["rows"][-1]
        assert (last["period"], last["web_l2_count"], last["web_l2_open"], last["phone_l2_in_time_share"]) == (
            "total",
            2,
            1,
            0.3333,
        )
        assert records["targets"]["web_l2"] == 0.8 and records["targets"]["phone_l1"] is None
        header, *lines = to_csv(report).splitlines()
        assert "web_l1_overdue" in header.split(",") and len(lines) == len(records["rows"])
        assert "Web level 2" in to_table(report)
        page = render_page(report, "", "Numero per il lavoro", ROME)
        assert "Web, secondo livello (risposta per e-mail entro 10 giorni)" in page

        clock = ShiftedClock(NOW)
        exporter = StatsExporter(reader, StatsSettings(), tmp_path / "opendata", clock, ROME)
        done = await exporter.export(date(2026, 3, 2))
        daily = json.loads((tmp_path / "opendata" / "statistiche-giornaliere.json").read_text())
        assert daily["rows"][-1]["phone_l2_count"] == 4
        assert (tmp_path / "opendata" / "statistiche-giornaliere.json") in done.files
    finally:
        reader.close()
        engine.dispose()


def test_gulpease_distribution_of_texts() -> None:
    easy = "Il centro è aperto. Può venire domani. Porti la carta."
    hard = (
        "L'ottemperanza agli adempimenti amministrativi propedeutici all'erogazione dell'indennità "
        "presuppone la preventiva acquisizione della documentazione comprovante i requisiti contributivi."
    )
    found = distribution("prova", [easy, hard, "", "..."], 60)
    assert found.texts == 2 and found.below == 1
    assert found.by_level["facile"] == 1 and found.by_level["molto difficile"] == 1
    assert found.lowest is not None and found.lowest < 40 and found.average is not None
