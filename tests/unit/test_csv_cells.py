"""No CSV the engine writes can carry a spreadsheet formula: a hostile office name or topic goes
through each exporter (`ivr stats` and `ivr stats referrals` as CSV, the open-data files, the
console's and the public page's downloads) and comes out as text, while figures stay numbers."""

from __future__ import annotations

import asyncio
import csv
import io
from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import update

from ivr.cli import main
from ivr.clock import ShiftedClock
from ivr.csvcells import FORMULA_START, safe_cell, write_csv
from ivr.referrals import csvfile
from ivr.referrals.repository import Referrals
from ivr.schema.referrals import Referral
from ivr.stats import formats
from ivr.stats.config import StatsSettings
from ivr.stats.export import StatsExporter
from ivr.tickets.db import make_engine, upgrade
from ivr.tickets.store import NewCall, SqlTicketStore
from tests.console_support import ConsoleLab, console_lab
from tests.unit.cli_config import write_cli_config
from tests.unit.cli_logging import keep_logging

__all__ = ["keep_logging"]

REPO = Path(__file__).resolve().parents[2]
SAMPLE = REPO / "config" / "referrals" / "sample-offices.csv"
ROME = ZoneInfo("Europe/Rome")
NOW = datetime(2026, 3, 2, 10, 0, tzinfo=ROME)
DAY = NOW.date().isoformat()
# What a spreadsheet would run: a formula, a "number" with a sign, a function, and the same
# behind a tab or a carriage return (which some spreadsheets strip before looking).
HOSTILE = ["=2+5", "+393471234567", "@SUM(A1:A2)", "\t=1+1", "\r=1+1", "-2+3"]


@pytest.mark.parametrize(
    ("value", "written"),
    [
        ("=2+5", "'=2+5"),
        ("+39 347 1234567", "'+39 347 1234567"),
        ("-2+3", "'-2+3"),
        ("@SUM(A1:A2)", "'@SUM(A1:A2)"),
        ("\t=1", "'\t=1"),
        ("\r=1", "'\n=1"),  # and a CR inside a cell is a line feed: written unquoted, it split the row
        ("a\rb\r\nc", "a\nb\nc"),
        ("-3", "'-3"),  # text that looks like a number is still text
        ("Centro per l'impiego", "Centro per l'impiego"),
        ("a=b", "a=b"),
        ("", ""),
        (None, None),
        (-3, -3),  # a true number is written as it is
        (-2.5, -2.5),
        (Decimal("-1.50"), Decimal("-1.50")),
        (0, 0),
    ],
)
def test_a_cell_is_neutralised_only_when_it_is_text_starting_a_formula(value: object, written: object) -> None:
    assert safe_cell(value) == written


def test_the_writer_keeps_numbers_and_quotes_text() -> None:
    text = write_csv(["name", "n"], [{"name": "=2+5", "n": -3}, {"name": "ok", "n": 4.5}])
    assert text == "name,n\n'=2+5,-3\nok,4.5\n"
    assert write_csv(["=x"], []) == "'=x\n"  # a header named after configuration is a cell too


def _cells(text: str) -> list[str]:
    return [cell for row in csv.reader(io.StringIO(text, newline="")) for cell in row]


def _number(cell: str) -> bool:
    try:
        float(cell)
    except ValueError:
        return False
    return True


def assert_inert(text: str, expected: list[str]) -> None:
    """No cell a spreadsheet would run; each hostile value is there, as text."""
    cells = _cells(text)
    running = [c for c in cells if c.startswith(FORMULA_START) and not _number(c)]
    assert not running, running
    for value in expected:
        assert "'" + value.replace("\r", "\n") in cells, (value, cells)


# --- the store behind the commands and the open data -----------------------------------------


async def _seed(store: SqlTicketStore) -> None:
    """Calls on topics with hostile names, referred to offices whose names are hostile."""
    repo = Referrals(store)
    await repo.import_rows(csvfile.parse(SAMPLE.read_bytes()), NOW)
    offices = await repo.offices()
    for i, hostile in enumerate(HOSTILE):
        at = NOW + timedelta(minutes=i)
        ticket_id = await store.open_call(NewCall(f"c-{i}", at, "3331234567", None, "800000039"))
        await store.update(ticket_id, topic=hostile)
        await repo.refer(ticket_id, offices[i].id, operator_id=None, by="anna", note=None, at=at)

        def rename(session: Any, code: str = offices[i].code, name: str = hostile) -> None:
            session.execute(update(Referral).where(Referral.office_code == code).values(office_name=name))

        await store.run_write(rename)


@pytest.fixture
async def seeded(tmp_path: Path) -> AsyncIterator[SqlTicketStore]:
    engine = make_engine(f"sqlite:///{tmp_path / 'nul.db'}")
    upgrade(engine)
    store = SqlTicketStore(engine, tz=ROME)
    await store.start()
    await _seed(store)
    yield store
    await store.stop()
    engine.dispose()


@pytest.fixture
def seeded_file(tmp_path: Path) -> Path:
    """The same, in the database file the commands read (`config`)."""

    async def run() -> None:
        engine = make_engine(f"sqlite:///{tmp_path / 'nul.db'}")
        upgrade(engine)
        store = SqlTicketStore(engine, tz=ROME)
        await store.start()
        try:
            await _seed(store)
        finally:
            await store.stop()
            engine.dispose()

    asyncio.run(run())
    return tmp_path / "nul.db"


@pytest.fixture
def config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    return write_cli_config(tmp_path, monkeypatch, NOW)


def test_stats_command_csv(
    seeded_file: Path, config: Path, keep_logging: None, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["-c", str(config), "stats", "--format", "csv", "--by", "topic", "--from", DAY, "--to", DAY]
    assert main(argv) == 0
    assert_inert(capsys.readouterr().out, HOSTILE)


def test_referrals_command_csv(
    seeded_file: Path, config: Path, keep_logging: None, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["-c", str(config), "stats", "referrals", "--format", "csv", "--from", DAY, "--to", DAY]
    assert main(argv) == 0
    assert_inert(capsys.readouterr().out, HOSTILE)


async def test_open_data_files(seeded: SqlTicketStore, tmp_path: Path) -> None:
    exporter = StatsExporter(seeded.run_read, StatsSettings(), tmp_path / "od", ShiftedClock(NOW), ROME)
    done = await exporter.export(NOW.date())
    by_topic = tmp_path / "od" / "giorni" / f"{DAY}.csv"
    referrals = tmp_path / "od" / "giorni" / f"{DAY}-invii.csv"
    assert {by_topic, referrals, tmp_path / "od" / "invii-mensili.csv"} <= set(done.files)
    assert_inert(by_topic.read_text(), HOSTILE)
    assert_inert(referrals.read_text(), HOSTILE)
    assert_inert((tmp_path / "od" / "invii-mensili.csv").read_text(), HOSTILE)
    for path in done.files:
        if path.suffix == ".csv":
            assert_inert(path.read_text(), [])


# --- the downloads -----------------------------------------------------------------------------


@pytest.fixture
async def lab(tmp_path: Path) -> AsyncIterator[ConsoleLab]:
    async with console_lab(tmp_path) as lab:
        yield lab


async def test_console_stats_download(lab: ConsoleLab) -> None:
    for hostile in HOSTILE:
        await lab.call("3339990001", operator="anna", topic=hostile)
    sara = await lab.login("sara")
    response = await sara.get("/console/stats.csv?periodo=giorno&per=argomento")
    assert response.status == 200 and response.content_type == "text/csv"
    assert_inert(await response.text(), HOSTILE)


async def test_public_statistics_download(lab: ConsoleLab, monkeypatch: pytest.MonkeyPatch) -> None:
    # The public file has no text from users (periods and figures only): a hostile value is put
    # into its rows to show the download goes through the one safe writer.
    real = formats.records

    def hostile_rows(report: Any, **kwargs: Any) -> list[dict[str, Any]]:
        rows = real(report, **kwargs)
        keys = [k for k in rows[0] if k != "offered"][: len(HOSTILE)]
        rows[0].update(zip(keys, HOSTILE, strict=True))
        rows[0]["offered"] = -1  # a number stays a number
        return rows

    monkeypatch.setattr(formats, "records", hostile_rows)
    await lab.call("3339990001", operator="anna")
    response = await (await lab.client()).get("/statistiche.csv?periodo=giorno")
    assert response.status == 200
    text = await response.text()
    assert_inert(text, HOSTILE)
    assert "-1" in _cells(text)


def test_no_module_writes_csv_but_the_safe_writer() -> None:
    writers = []
    for path in (REPO / "ivr").rglob("*.py"):
        text = path.read_text()
        if path.name != "csvcells.py" and ("csv.writer" in text or "DictWriter" in text):
            writers.append(str(path.relative_to(REPO)))
    assert writers == [], "write CSV through ivr.csvcells.write_csv"
