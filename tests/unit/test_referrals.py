"""The referral directory with the sample CSV: import (and bad files, each error named by line
and column, nothing half-imported), search by comune and province on SQLite and PostgreSQL,
referrals per destination in the statistics and the open data, and the retention of the address
a referral was e-mailed to."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from ivr.cli import main
from ivr.clock import ShiftedClock
from ivr.privacy.config import RetentionSettings
from ivr.privacy.purge import Purger
from ivr.referrals import csvfile
from ivr.referrals.repository import ReferralError, Referrals
from ivr.schema.referrals import Referral
from ivr.stats.config import StatsSettings
from ivr.stats.export import StatsExporter
from ivr.stats.referrals import referral_report, to_csv
from ivr.tickets.db import make_engine, upgrade
from ivr.tickets.store import NewCall, OutcomeError, SqlTicketStore
from tests.unit.cli_config import write_cli_config
from tests.unit.cli_logging import keep_logging

__all__ = ["keep_logging"]  # restores the root logger after each test (the CLI replaces it)

REPO = Path(__file__).resolve().parents[2]
SAMPLE = REPO / "config" / "referrals" / "sample-offices.csv"
ROME = ZoneInfo("Europe/Rome")
NOW = datetime(2026, 3, 2, 10, 0, tzinfo=ROME)
HEADER = "codice;tipo;nome;regione;provincia;comuni;indirizzo;orari;telefono;email;web;attivo;fonte\n"
GOOD = "T-1;cpi;Centro per l'impiego di Prova;Emilia-Romagna;RE;Reggio nell'Emilia;;;0555 1;a@example.org;;sì;test\n"


@pytest.fixture
async def store(db_url: str) -> AsyncIterator[SqlTicketStore]:
    engine = make_engine(db_url)
    upgrade(engine)
    s = SqlTicketStore(engine, tz=ROME)
    await s.start()
    yield s
    await s.stop()
    engine.dispose()


async def _loaded(store: SqlTicketStore) -> Referrals:
    repo = Referrals(store)
    await repo.import_rows(csvfile.parse(SAMPLE.read_bytes()), NOW)
    return repo


# --- import ------------------------------------------------------------------------------------


async def test_the_sample_file_imports_and_says_it_is_sample_data(store: SqlTicketStore) -> None:
    rows = csvfile.parse(SAMPLE.read_bytes())
    assert len(rows) >= 30
    assert len({r.region for r in rows if r.region}) >= 8
    assert {r.kind for r in rows} >= {"cpi", "agenzia_regionale", "inps", "ministero", "patronato", "eures"}
    for r in rows:  # fictional contacts only, and the source column says so
        assert r.source is not None and "ESEMPIO" in r.source
        assert r.email is None or r.email.endswith("@example.org")
        assert r.web is None or ".example.org" in r.web
        assert r.phone is None or r.phone.startswith("0555")
    repo = Referrals(store)
    first = await repo.import_rows(rows, NOW)
    assert (first.added, first.updated) == (len(rows), 0)
    again = await repo.import_rows(rows, NOW + timedelta(days=1))
    assert (again.added, again.updated) == (0, len(rows))  # upsert by code, no duplicates
    everything = await repo.offices()
    assert len(everything) == len(rows)
    reggio = next(o for o in everything if o.code == "ES-CPI-RE")
    assert "Reggio nell'Emilia" in reggio.comuni and reggio.province == "RE" and reggio.active
    assert reggio.hours == "Lun-Ven 9:00-12:30; Mar e Gio anche 14:30-16:30"  # a quoted `;` inside a field
    assert [o.code for o in await repo.offices(province="re")] == ["ES-CPI-RE", "ES-CPI-RE-SCANDIANO"]
    assert {o.region for o in await repo.offices(region="Lazio")} == {"Lazio"}


def test_comma_separated_and_english_headers_work_too() -> None:
    text = (
        "code,kind,name,province,comuni,phone,active\n"
        '"X-1",cpi,"Centro per l\'impiego di Prova, sede di Bra",CN,"Bra|Pollenzo",+39 0555 12,no\n'
    )
    (row,) = csvfile.parse(("\ufeff" + text).encode())
    assert (row.code, row.name, row.comuni, row.phone, row.active) == (
        "X-1", "Centro per l'impiego di Prova, sede di Bra", ("Bra", "Pollenzo"), "+39 0555 12", False,
    )  # fmt: skip


BAD_FILES = [
    # (file text, the errors expected: (line, column))
    (HEADER + GOOD.replace(";cpi;", ";ufficio;"), [(2, "tipo")]),
    (HEADER + GOOD.replace(";RE;", ";XX;"), [(2, "provincia")]),
    (HEADER + GOOD.replace(";RE;", ";;"), [(2, "provincia")]),  # a centro per l'impiego needs one
    (HEADER + GOOD.replace("a@example.org", "non-un-indirizzo"), [(2, "email")]),
    (HEADER + GOOD.replace(";;;0555 1;", ";;;chiamare;"), [(2, "telefono")]),
    (HEADER + GOOD.replace("a@example.org;;", "a@example.org;www.example.org;"), [(2, "web")]),
    (HEADER + GOOD.replace(";sì;", ";forse;"), [(2, "attivo")]),
    (HEADER + GOOD.replace("T-1;", ";"), [(2, "codice")]),
    (HEADER + GOOD.replace("T-1;", "T 1;"), [(2, "codice")]),
    (HEADER + GOOD + GOOD, [(3, "codice")]),  # the same code twice
    (HEADER + GOOD + "T-2;cpi;solo tre campi\n", [(3, None)]),
    (HEADER.replace("fonte", "colore") + GOOD, [(1, "colore")]),
    (HEADER.replace("codice;", "") + GOOD.replace("T-1;", ""), [(1, "codice")]),
    (
        HEADER + "\n" + GOOD.replace(";cpi;", ";boh;") + GOOD.replace("T-1", "T-2").replace("0555 1", "x"),
        [(3, "tipo"), (4, "telefono")],
    ),  # fmt: skip  (line numbers count the blank line)
    ("", [(1, None)]),
    (HEADER, [(1, None)]),
]


@pytest.mark.parametrize(("text", "expected"), BAD_FILES)
def test_a_bad_file_names_each_error_by_line_and_column(text: str, expected: list[tuple[int, str | None]]) -> None:
    with pytest.raises(csvfile.CsvRejected) as caught:
        csvfile.parse(text.encode())
    assert [(e.line, e.column) for e in caught.value.errors] == expected
    assert all(str(e).startswith(f"riga {e.line}") for e in caught.value.errors)


def test_a_file_not_in_utf8_names_the_line() -> None:
    plain = GOOD.replace(";sì;", ";si;")
    data = (HEADER + plain + plain.replace("T-1", "T-2").replace("Prova", "Forlì")).encode("latin-1")
    with pytest.raises(csvfile.CsvRejected) as caught:
        csvfile.parse(data)
    (error,) = caught.value.errors
    assert error.line == 3 and "UTF-8" in error.message


def test_a_line_break_or_a_control_character_in_a_field_is_refused() -> None:
    text = HEADER + GOOD.replace("Centro per l'impiego di Prova", '"Centro\nBcc: x@example.org"')
    with pytest.raises(csvfile.CsvRejected) as caught:
        csvfile.parse(text.encode())
    assert [(e.line, e.column) for e in caught.value.errors] == [(3, "nome")]


# --- search ------------------------------------------------------------------------------------

SEARCHES = [
    ("reggio emilia", "ES-CPI-RE", "serve il comune di Reggio nell'Emilia"),
    ("Reggio nell'Emilia", "ES-CPI-RE", "serve il comune di Reggio nell'Emilia"),
    ("REGGIO NELL’EMILIA", "ES-CPI-RE", "serve il comune di Reggio nell'Emilia"),
    ("reggio", "ES-CPI-RC", "serve il comune di Reggio di Calabria"),
    ("forli", "ES-CPI-FC", "serve il comune di Forlì"),
    ("FORLÌ", "ES-CPI-FC", "serve il comune di Forlì"),
    ("forlimp", "ES-CPI-FC", "serve il comune di Forlimpopoli"),
    ("sant'antioco", "ES-CPI-SU", "serve il comune di Sant'Antioco"),
    ("quartu sant elena", "ES-CPI-CA", "serve il comune di Quartu Sant'Elena"),
    ("citta di castello", "ES-CPI-PG-CASTELLO", "serve il comune di Città di Castello"),
    ("RE", "ES-CPI-RE-SCANDIANO", "provincia di Reggio nell'Emilia (RE)"),
    ("su", "ES-CPI-SU", "provincia di Sud Sardegna (SU)"),
    ("Cuneo", "ES-CPI-CN", "serve il comune di Cuneo"),
    ("la spezia", None, None),
    ("inps", "ES-INPS", "nome dell'ufficio"),
    ("Brescia", None, None),  # its office is inactive: never offered
    ("x", None, None),
    # What a caller says, typed fast: a comune or a province one or two edits off (issue 26)
    ("regio emilia", "ES-CPI-RE", "serve il comune di Reggio nell'Emilia (scritto «regio emilia»)"),
    ("Cueno", "ES-CPI-CN", "serve il comune di Cuneo (scritto «Cueno»)"),
    ("Albniea", "ES-CPI-RE", "serve il comune di Albinea (scritto «Albniea»)"),
    ("sud sardgna", "ES-CPI-SU", "provincia di Sud Sardegna (SU)"),
    ("Bresca", None, None),  # the typo of a comune whose only office is inactive: still never offered
]


@pytest.mark.parametrize(("query", "code", "why"), SEARCHES)
async def test_search_by_comune_or_province(store: SqlTicketStore, query: str, code: str | None, why: str) -> None:
    found = await (await _loaded(store)).search(query)
    if code is None:
        assert found == []
        return
    by_code = {o.code: o for o in found}
    assert code in by_code, [o.code for o in found]
    assert by_code[code].why == why


async def test_a_comune_brings_its_province_and_its_regional_agency(store: SqlTicketStore) -> None:
    found = await (await _loaded(store)).search("Albinea")
    assert [(o.code, o.why) for o in found] == [
        ("ES-CPI-RE", "serve il comune di Albinea"),
        ("ES-AGR-ER", "agenzia della regione Emilia-Romagna"),
    ]
    found = await (await _loaded(store)).search("reggio emilia")
    assert [o.code for o in found] == ["ES-CPI-RE", "ES-CPI-RE-SCANDIANO", "ES-AGR-ER"]
    inactive = await (await _loaded(store)).search("brescia", active_only=False)
    assert [o.code for o in inactive] == ["ES-CPI-BS", "ES-AGR-LO"]


# --- referrals and statistics -----------------------------------------------------------------


async def _call(store: SqlTicketStore, at: datetime, number: str = "3331234567") -> int:
    return await store.open_call(NewCall(f"c-{at.timestamp()}-{number}", at, number, None, "800000039"))


async def test_referrals_per_destination_in_statistics_and_open_data(store: SqlTicketStore, tmp_path: Path) -> None:
    repo = await _loaded(store)
    offices = {o.code: o.id for o in await repo.offices()}
    plan = [  # (day offset, office code, e-mailed)
        (0, "ES-CPI-RE", True), (0, "ES-CPI-RE", False), (0, "ES-AGR-ER", False),
        (1, "ES-CPI-RE", False), (1, "ES-INPS", True), (35, "ES-CPI-TO", False),
    ]  # fmt: skip
    for offset, code, mailed in plan:
        at = NOW + timedelta(days=offset)
        ticket_id = await _call(store, at)
        referral = await repo.refer(ticket_id, offices[code], operator_id=None, by="anna", note=None, at=at)
        if mailed:
            await repo.mailed(referral.id, "cittadino@example.org", at, sent=True)
    march = await referral_report(store.run_read, NOW.date(), NOW.date() + timedelta(days=30), "day")
    assert march.total == 5
    assert [(c.kind, c.referrals, c.emailed) for c in march.by_kind] == [
        ("cpi", 3, 1), ("agenzia_regionale", 1, 0), ("inps", 1, 1),
    ]  # fmt: skip
    assert [(c.office, c.referrals) for c in march.by_office] == [("ES-CPI-RE", 3), ("ES-AGR-ER", 1), ("ES-INPS", 1)]
    per_day = [(c.period.isoformat() if c.period else None, c.office, c.referrals) for c in march.rows]
    assert per_day == [
        ("2026-03-02", "ES-AGR-ER", 1), ("2026-03-02", "ES-CPI-RE", 2),
        ("2026-03-03", "ES-CPI-RE", 1), ("2026-03-03", "ES-INPS", 1),
    ]  # fmt: skip
    months = await referral_report(store.run_read, NOW.date(), NOW.date() + timedelta(days=60), "month")
    assert [(c.period.isoformat() if c.period else None, c.referrals) for c in months.rows if c.kind == "cpi"] == [
        ("2026-03-01", 3), ("2026-04-01", 1),
    ]  # fmt: skip
    assert "2026-03,cpi,Centro per l'impiego,ES-CPI-RE,Centro per l'impiego di Reggio Emilia,3,1" in to_csv(months)

    clock = ShiftedClock(NOW + timedelta(days=40))
    exporter = StatsExporter(store.run_read, StatsSettings(), tmp_path, clock, ROME)
    done = await exporter.export(NOW.date())
    assert tmp_path / "invii-mensili.csv" in done.files
    day_file = (tmp_path / "giorni" / "2026-03-02-invii.csv").read_text()
    assert "2026-03-02,cpi,Centro per l'impiego,ES-CPI-RE,Centro per l'impiego di Reggio Emilia,2,1" in day_file
    assert "cittadino@example.org" not in day_file + (tmp_path / "invii-mensili.json").read_text()


async def test_a_referral_is_a_first_level_answer_without_a_commitment(store: SqlTicketStore) -> None:
    repo = await _loaded(store)
    office = (await repo.search("torino"))[0]
    ticket_id = await _call(store, NOW)
    made = await repo.refer(ticket_id, office.id, operator_id=None, by="anna", note="vuole iscriversi", at=NOW)
    ticket = await store.get(ticket_id)
    assert ticket is not None
    assert (ticket.status, ticket.level, ticket.sla_kind, ticket.callback_due) == ("referred", 1, None, None)
    assert ticket.resolution_note == "vuole iscriversi"
    kinds = [(e.kind, e.detail) for e in ticket.events]
    assert ("outcome_filed", {"outcome": "referred", "operator_id": None}) in kinds
    assert ("referred", {"referral": made.id, "office": "ES-CPI-TO", "office_kind": "cpi",
                         "name": "Centro per l'impiego di Torino"}) in kinds  # fmt: skip
    assert made.details["phone"] == office.phone and made.details["kind_label"] == "Centro per l'impiego"
    with pytest.raises(OutcomeError):  # `referred` without an office says nothing: refused
        await store.file_outcome(ticket_id, "referred", note=None, operator_id=None, at=NOW)
    with pytest.raises(ReferralError):
        await repo.refer(ticket_id, 10_000, operator_id=None, by="anna", note=None, at=NOW)
    inactive = (await repo.offices(province="BS"))[0]
    with pytest.raises(ReferralError, match="non più attivo"):
        await repo.refer(ticket_id, inactive.id, operator_id=None, by="anna", note=None, at=NOW)


async def test_the_address_and_the_note_go_with_the_caller_data(store: SqlTicketStore, db_url: str) -> None:
    repo = await _loaded(store)
    office = (await repo.search("torino"))[0]
    old, recent = await _call(store, NOW - timedelta(days=400)), await _call(store, NOW - timedelta(days=10))
    for ticket_id in (old, recent):
        made = await repo.refer(ticket_id, office.id, operator_id=None, by="anna", note="nota", at=NOW)
        await repo.mailed(made.id, "persona@example.org", NOW, sent=True)
    engine = make_engine(db_url)
    try:
        Purger(engine, RetentionSettings()).run(NOW)
    finally:
        engine.dispose()
    rows = await store.run_read(lambda s: {r.ticket_id: r for r in s.scalars(select(Referral))})
    assert (rows[old].emailed_to, rows[old].note, rows[old].office_code) == (None, None, "ES-CPI-TO")
    assert rows[old].emailed_at is not None  # that it was e-mailed stays (statistics), not to whom
    assert (rows[recent].emailed_to, rows[recent].note) == ("persona@example.org", "nota")


# --- the commands ------------------------------------------------------------------------------


@pytest.fixture
def config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    return write_cli_config(tmp_path, monkeypatch, NOW)


def test_import_list_and_search_commands(
    config: Path, tmp_path: Path, keep_logging: None, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_bytes(SAMPLE.read_bytes().replace(b"@example.org;https", b"@example;https", 1))
    assert main(["-c", str(config), "referrals", "import", str(bad)]) == 1
    err = capsys.readouterr().err
    assert "nothing imported, 1 error(s)" in err and "riga 2, colonna «email»: indirizzo e-mail non valido" in err
    assert main(["-c", str(config), "referrals", "list"]) == 0
    assert "no offices" in capsys.readouterr().out  # nothing half-imported

    assert main(["-c", str(config), "referrals", "import", str(SAMPLE)]) == 0
    assert "36 offices imported (36 new, 0 updated)" in capsys.readouterr().out
    assert main(["-c", str(config), "referrals", "list", "--province", "RE"]) == 0
    assert [line.split()[0] for line in capsys.readouterr().out.splitlines()] == ["ES-CPI-RE", "ES-CPI-RE-SCANDIANO"]
    assert main(["-c", str(config), "referrals", "search", "reggio", "nell'emilia", "--details"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("ES-CPI-RE ") and "serve il comune di Reggio nell'Emilia" in out
    assert "address: Via Esempio 1, 42121 Reggio nell'Emilia" in out
    assert main(["-c", str(config), "stats", "referrals", "--format", "csv"]) == 0
    assert capsys.readouterr().out.startswith("period,kind,kind_label,office,office_name,referrals,emailed")
