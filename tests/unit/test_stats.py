"""Statistics over a generated year of 100,000 tickets, on SQLite and on a real PostgreSQL.

Every figure of every report (per day, week and month; in total, per topic, per operator) is
compared with what the generator counted in Python while it wrote the tickets; the open-data
files and the public page are scanned for every personal value the generator wrote.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from sqlalchemy import Engine

from ivr import jobs
from ivr.stats.config import StatsSettings
from ivr.stats.export import StatsExporter, daily_export
from ivr.stats.formats import to_csv, to_json
from ivr.stats.page import public_routes
from ivr.stats.queries import Scope
from ivr.stats.report import VOICEMAIL_REASONS, EngineReader, Figures, Report, Row, build_report
from ivr.stats.synthetic import generate
from ivr.stats.truth import PersonalData, Tally, Truth
from ivr.tickets.db import make_engine, upgrade
from ivr.tickets.periods import ROME
from tests.harness.postgres import PostgresServer

TICKETS = 100_000
YEAR = 2026
FIRST, LAST = date(YEAR, 1, 1), date(YEAR, 12, 31)


@dataclass
class Data:
    engine: Engine
    truth: Truth
    reader: EngineReader


class FixedClock:
    def __init__(self, moment: datetime) -> None:
        self.moment = moment

    def now(self) -> datetime:
        return self.moment

    def monotonic(self) -> float:
        return 0.0


@pytest.fixture(scope="module", params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def data(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Data]:
    """One generated year per backend for the whole module."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path_factory.mktemp('stats') / 'nul.db'}"
    else:
        server: PostgresServer = request.getfixturevalue("postgres")
        url = server.create_database("stats_year")
    engine = make_engine(url)
    upgrade(engine)
    truth = generate(engine, tickets=TICKETS, year=YEAR, seed=7)
    reader = EngineReader(engine)
    yield Data(engine, truth, reader)
    reader.close()
    engine.dispose()


# --- every figure against the truth ---------------------------------------------------------------


def _ratio(numerator: float, denominator: float) -> float | None:
    return numerator / denominator if denominator else None


def _close(actual: float | None, expected: float | None) -> bool:
    if expected is None or actual is None:
        return actual is expected
    return math.isclose(actual, expected, rel_tol=1e-9, abs_tol=1e-9)


def compare(f: Figures, t: Tally, service_level_s: float) -> list[str]:
    """Every difference between a report's figures and the generator's counters."""
    wrong: list[str] = []

    def same(name: str, actual: Any, expected: Any) -> None:
        ok = _close(actual, expected) if isinstance(expected, float) or expected is None else actual == expected
        if not ok:
            wrong.append(f"{name}: report {actual!r}, truth {expected!r}")

    for name in (
        "offered", "in_hours", "closed_hours", "admitted", "answered", "abandoned", "cap_hits", "no_operators",
        "max_wait", "caller_choice", "answered_in_sl", "survey_offered", "survey_responses",
    ):  # fmt: skip
        same(name, getattr(f, name), getattr(t, name))
    same("asa_s", f.asa_s, _ratio(t.wait_sum, t.answered))
    same("aht_s", f.aht_s, _ratio(t.handle_sum, t.handled))
    same("service_level", f.service_level, _ratio(t.answered_in_sl, t.admitted))
    same("survey_response_rate", f.survey_response_rate, _ratio(t.survey_responses, t.survey_offered))
    same("voicemail reasons", set(f.voicemail) >= set(t.voicemail), True)
    for reason in {*VOICEMAIL_REASONS, *t.voicemail}:
        same(f"voicemail {reason}", f.voicemail.get(reason, 0), t.voicemail.get(reason, 0))
    same("web_requests", f.web_requests, t.web_received)
    for label, c, due, in_time, late, pending, target in (
        ("callbacks", f.callbacks, t.callbacks, t.callbacks_in_time, t.callbacks_late, t.callbacks_pending, 0.8),
        ("web", f.web_replies, t.web_due, t.web_in_time, t.web_late, t.web_pending, 0.9),
    ):
        same(f"{label} due", c.due, due)
        same(f"{label} in time", c.in_time, in_time)
        same(f"{label} late", c.late, late)
        same(f"{label} pending", c.pending, pending)
        same(f"{label} compliance", c.compliance, _ratio(in_time, in_time + late))
        same(f"{label} target", c.target, target)
    same("questions", sorted(f.survey), sorted(t.questions))
    for name, q in t.questions.items():
        got = f.survey.get(name)
        if got is None:
            continue
        same(f"{name} answers", got.answers, q.answers)
        same(f"{name} average", got.average, _ratio(q.total, q.answers))
        same(f"{name} yes share", got.yes_share, _ratio(q.ones, q.answers) if name == "solved" else None)
    return wrong


def check(report: Report, truth: Truth) -> None:
    s = report.scope
    expected = truth.rollup(s.period, s.by)
    got: dict[tuple[date | None, str | None], Row] = {(r.period, r.group): r for r in report.rows}
    assert set(got) == set(expected), "the report's periods and groups are the generated ones"
    for key, row in got.items():
        assert compare(row.figures, expected[key], s.service_level_s) == [], f"{s.period} {s.by} {key}"
    if s.by is not None:
        groups = {r.group: r for r in report.groups}
        by_group = truth.rollup(None, s.by)
        assert set(groups) == {g for _p, g in by_group}
        for (_p, group), tally in by_group.items():
            assert compare(groups[group].figures, tally, s.service_level_s) == [], f"{s.by} {group}"
    assert compare(report.total, truth.rollup(None, None)[(None, None)], s.service_level_s) == []


def scope(data: Data, period: str, by: str | None, start: date = FIRST, end: date = LAST) -> Scope:
    return Scope(start, end, period, by, data.truth.as_of, data.truth.service_level_s)  # type: ignore[arg-type]


@pytest.mark.parametrize("by", [None, "topic", "operator"])
@pytest.mark.parametrize("period", ["day", "week", "month"])
async def test_every_figure_matches_what_was_generated(data: Data, period: str, by: str | None) -> None:
    report = await build_report(data.reader, scope(data, period, by))
    check(report, data.truth)
    if by is None:
        assert report.total.offered + report.total.web_requests == data.truth.tickets == TICKETS


async def test_the_data_set_exercises_every_figure(data: Data) -> None:
    """A test that passes on zeros proves nothing: the generated year has some of everything."""
    t = data.truth.rollup(None, None)[(None, None)]
    for name in ("in_hours", "closed_hours", "abandoned", "cap_hits", "no_operators", "max_wait", "caller_choice"):
        assert getattr(t, name) > 0, name
    assert t.admitted > t.answered + t.abandoned + t.max_wait + t.caller_choice  # some still waiting
    assert min(t.callbacks_in_time, t.callbacks_late, t.callbacks_pending) > 0
    assert min(t.web_in_time, t.web_late, t.web_pending) > 0
    assert {"closed", "cap", "no_operators", "max_wait", "caller_choice"} <= set(t.voicemail)
    assert set(t.questions) == {"satisfaction", "solved"}
    assert 0 < t.survey_responses < t.survey_offered
    assert len(data.truth.operator_logins) == 24


async def test_a_range_counts_only_its_days(data: Data) -> None:
    """A range cut inside periods: the edge weeks hold only the days asked for."""
    start, end = date(YEAR, 3, 4), date(YEAR, 4, 15)
    report = await build_report(data.reader, scope(data, "week", "topic", start, end))
    truth = Truth(as_of=data.truth.as_of, service_level_s=data.truth.service_level_s)
    truth.cells = {k: v for k, v in data.truth.cells.items() if start <= k[0] <= end}
    check(report, truth)


async def test_late_and_pending_follow_now(data: Data) -> None:
    """Judged a year later, nothing is pending any more: the unanswered are late."""
    later = Scope(FIRST, LAST, "month", None, data.truth.as_of + timedelta(days=365))
    total = (await build_report(data.reader, later)).total
    t = data.truth.rollup(None, None)[(None, None)]
    assert total.callbacks.pending == total.web_replies.pending == 0
    assert total.callbacks.late == t.callbacks_late + t.callbacks_pending
    assert total.web_replies.late == t.web_late + t.web_pending


# --- nothing personal leaves --------------------------------------------------------------------


def leaks(text: str, personal: PersonalData) -> set[str]:
    """Personal values found in `text`: phone numbers (any run of 6+ digits that is one), names,
    e-mail addresses, operator logins and names (as whole words)."""
    found = set(re.findall(r"\d{6,}", text)) & personal.numbers
    words = set(re.findall(r"[\w.@+-]+", text)) | set(re.findall(r"\w+", text))
    return found | (words & personal.words())


def test_the_leak_scanner_finds_what_it_looks_for(data: Data) -> None:
    p = data.truth.personal
    number, name, email, login = next(iter(p.numbers)), next(iter(p.names)), next(iter(p.emails)), min(p.operators)
    for planted in (number, name, email, login, f'"caller":"{name}"'):
        assert leaks(f"day,offered\n2026-03-02,{planted}\n", p), planted


async def test_open_data_files_hold_no_personal_data(data: Data, tmp_path: Path) -> None:
    exporter = StatsExporter(data.reader, StatsSettings(), tmp_path, FixedClock(data.truth.as_of))
    jobs.register("stats", exporter)
    try:
        await daily_export()  # the scheduled job: yesterday, relative to the clock
    finally:
        jobs.unregister("stats")
    done = await exporter.export(date(YEAR, 3, 2))
    files = sorted(p for p in tmp_path.rglob("*") if p.is_file())
    assert {p.name for p in files} >= {
        "2026-12-30.csv", "2026-12-30.json", "2026-03-02.csv", "2026-03-02.json",
        "statistiche-giornaliere.csv", "statistiche-giornaliere.json",
        "statistiche-mensili.csv", "statistiche-mensili.json",
    }  # fmt: skip
    assert all(p.exists() for p in done.files) and not [p for p in files if p.name.startswith(".")]
    for path in files:
        assert leaks(path.read_text(), data.truth.personal) == set(), path
    day = json.loads((tmp_path / "giorni" / "2026-03-02.json").read_text())
    total = next(r for r in day["rows"] if r["period"] == r["topic"] == "total")
    truth_day = [t for (d, _topic, _op), t in data.truth.cells.items() if d == date(YEAR, 3, 2)]
    assert total["offered"] == sum(t.offered for t in truth_day) > 0
    monthly = (tmp_path / "statistiche-mensili.csv").read_text().splitlines()
    assert monthly[0].startswith("period,offered,") and monthly[1].startswith("2026-01,")
    assert monthly[3].startswith("2026-03,")  # cumulative: from the first month to the one exported


async def test_reports_as_csv_and_json_hold_no_personal_data(data: Data) -> None:
    for by in (None, "topic"):
        report = await build_report(data.reader, scope(data, "week", by))
        for text in (to_csv(report), to_json(report)):
            assert leaks(text, data.truth.personal) == set()


# --- the public page ------------------------------------------------------------------------------


@pytest.fixture
async def page(data: Data) -> AsyncIterator[TestClient[Any, Any]]:
    app = web.Application()
    app.add_routes(public_routes(data.reader, StatsSettings(), clock=FixedClock(data.truth.as_of), tz=ROME))
    client = TestClient(TestServer(app))
    await client.start_server()
    yield client
    await client.close()


async def test_public_page_shows_charts_and_table_and_nothing_personal(data: Data, page: Any) -> None:
    response = await page.get("/statistiche", params={"da": "2026-01-01", "a": "2026-12-31", "periodo": "mese"})
    assert response.status == 200 and response.content_type == "text/html"
    html = await response.text()
    assert html.count("<svg") == 4 and "<table" in html and "<caption>" in html and '<th scope="col">' in html
    assert '<html lang="it">' in html and "<script" not in html
    assert leaks(html, data.truth.personal) == set()
    total = data.truth.rollup(None, None)[(None, None)]
    assert f"{total.offered:,}".replace(",", ".") in html  # the total row, Italian digits
    for suffix in ("json", "csv"):
        download = await page.get(f"/statistiche.{suffix}", params={"da": "2026-01-01", "a": "2026-12-31"})
        assert download.status == 200
        assert leaks(await download.text(), data.truth.personal) == set()
    document = await (await page.get("/statistiche.json", params={"da": "2026-01-01", "a": "2026-12-31"})).json()
    assert document["rows"][-1]["offered"] == total.offered
    assert document["by"] is None and not any("operator" in row for row in document["rows"])


async def test_default_page_is_the_last_months(page: Any) -> None:
    html = await (await page.get("/statistiche")).text()
    assert "Dati dal 01/01/2026 al 31/12/2026" in html  # twelve months up to the clock's day
    weekly = await (await page.get("/statistiche", params={"periodo": "settimana"})).text()
    assert "settimana dal" in weekly


@pytest.mark.parametrize(
    ("params", "words"),
    [
        ({"periodo": "anno"}, "«periodo» deve essere giorno, settimana o mese"),
        ({"da": "2026-13-01"}, "«da» deve essere una data nel formato AAAA-MM-GG"),
        ({"a": "ieri"}, "«a» deve essere una data nel formato AAAA-MM-GG"),
        ({"da": "2026-05-01", "a": "2026-04-01"}, "è successiva alla data «a»"),
        ({"da": "2024-01-01", "a": "2026-01-01", "periodo": "giorno"}, "Intervallo troppo lungo"),
    ],
)
async def test_bad_parameters_get_a_clear_400(page: Any, params: dict[str, str], words: str) -> None:
    response = await page.get("/statistiche", params=params)
    assert response.status == 400 and words in await response.text()
    as_json = await page.get("/statistiche.json", params=params)
    assert as_json.status == 400 and words in (await as_json.json())["errore"]
    as_csv = await page.get("/statistiche.csv", params=params)
    assert as_csv.status == 400 and words in await as_csv.text()
