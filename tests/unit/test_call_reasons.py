"""Why the citizen called (`reasons.options`): chosen on the call card while talking, required
by every way of filing the call (the outcome form, "Risolta con l'articolo N", "Indirizza a", the
JSON API), kept on the ticket and its timeline, counted per reason in the console's statistics,
`ivr stats reasons` and the open data. On SQLite and a real PostgreSQL."""

from __future__ import annotations

import csv
import html
import io
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from aiohttp import FormData
from pydantic import ValidationError

from ivr.knowledge.files import import_dir
from ivr.settings import Settings
from ivr.stats.config import StatsSettings
from ivr.stats.export import StatsExporter
from ivr.stats.reasons import reason_report, to_csv
from ivr.tickets.config import ReasonSettings
from ivr.tickets.reasons import MISSING, CallReasons, ReasonError
from tests.console_support import ConsoleLab, console_lab
from tests.unit.cli_logging import keep_logging

__all__ = ["keep_logging"]  # restores the root logger after each test (the CLI replaces it)

KB = Path(__file__).resolve().parents[1] / "data" / "kb"
OFFICES = Path(__file__).resolve().parents[2] / "config" / "referrals" / "sample-offices.csv"
REASONS = {
    "options": [
        {"key": "naspi", "label": "NASpI e disoccupazione"},
        {"key": "garanzia_giovani", "label": "Garanzia Giovani"},
        {"key": "altro", "label": "Altro"},
    ]
}


@pytest.fixture
async def lab(tmp_path: Path, db_url: str) -> AsyncIterator[ConsoleLab]:
    async with console_lab(tmp_path, {"database": {"url": db_url}, "reasons": REASONS}) as lab:
        await import_dir(lab.deps.console.knowledge, KB, by="test", at=lab.clock.now())
        sara = await lab.login("sara")
        form = FormData()
        form.add_field("_csrf", await lab.csrf(sara, "/console/referrals"))
        form.add_field("file", OFFICES.read_bytes(), filename="uffici.csv", content_type="text/csv")
        assert (await sara.post("/console/referrals/import", data=form, allow_redirects=False)).status == 303
        yield lab


async def _post(lab: ConsoleLab, client: Any, path: str, data: dict[str, str]) -> tuple[int, str]:
    token = await lab.csrf(client, "/console/desk")
    response = await client.post(path, data={"_csrf": token, **data}, allow_redirects=False)
    return response.status, html.unescape(await response.text())


async def _file(lab: ConsoleLab, anna: Any, ticket_id: int, how: str) -> tuple[int, str]:
    base = f"/console/desk/tickets/{ticket_id}"
    if how == "form":
        return await _post(lab, anna, f"{base}/outcome", {"outcome": "resolved", "note": "risolta"})
    if how == "article":
        naspi = await lab.deps.console.knowledge.by_slug("naspi")
        assert naspi is not None
        return await _post(lab, anna, f"{base}/article", {"article": str(naspi.id)})
    (office, *_) = await lab.deps.console.referrals.repo.search("reggio emilia")
    return await _post(lab, anna, f"{base}/referral", {"office": str(office.id)})


@pytest.mark.parametrize("how", ["form", "article", "referral"])
async def test_no_way_of_filing_a_call_passes_without_its_reason(lab: ConsoleLab, how: str) -> None:
    ticket_id = await lab.call("3331234567", operator="anna", topic="citizens")
    anna = await lab.login("anna")
    desk = html.unescape(await (await anna.get("/console/desk")).text())
    assert f'action="/console/desk/tickets/{ticket_id}/reason"' in desk and "Garanzia Giovani" in desk

    status, page = await _file(lab, anna, ticket_id, how)
    assert status == 400 and MISSING in page
    ticket = await lab.deps.store.get(ticket_id)
    assert ticket is not None and ticket.status is None  # nothing filed

    status, _ = await _post(lab, anna, f"/console/desk/tickets/{ticket_id}/reason", {"reason": "pensioni"})
    assert status == 400  # not in the list
    status, _ = await _post(lab, anna, f"/console/desk/tickets/{ticket_id}/reason", {"reason": "naspi"})
    assert status == 303
    assert (await _file(lab, anna, ticket_id, how))[0] == 303
    ticket = await lab.deps.store.get(ticket_id)
    assert ticket is not None and ticket.call_reason == "naspi" and ticket.status is not None
    chosen = [e.detail for e in ticket.events if e.kind == "call_reason"]
    assert chosen == [{"reason": "naspi", "operator_id": ticket.operator_id}]


async def test_the_reason_is_chosen_on_the_card_without_leaving_it(lab: ConsoleLab) -> None:
    ticket_id = await lab.call("3331234568", operator="anna")
    bruno_call = await lab.call("3331234569", operator="bruno")
    anna = await lab.login("anna")
    token = await lab.csrf(anna, "/console/desk")
    response = await anna.post(
        f"/console/desk/tickets/{ticket_id}/reason",
        data={"_csrf": token, "reason": "garanzia_giovani"},
        headers={"Accept": "application/json"},
    )
    assert response.status == 200
    assert await response.json() == {
        "ticket": ticket_id,
        "reason": "garanzia_giovani",
        "message": "Motivo: Garanzia Giovani.",
    }
    status, _ = await _post(lab, anna, f"/console/desk/tickets/{bruno_call}/reason", {"reason": "naspi"})
    assert status == 403  # not her call
    card = html.unescape(await (await anna.get("/console/desk")).text())
    assert '<option value="garanzia_giovani" selected>' in card  # the card shows what was chosen


async def test_the_api_files_with_the_reason_given_and_refuses_one_without(lab: ConsoleLab) -> None:
    ticket_id = await lab.call("3331234570", operator="anna")
    api = await lab.client()
    path, bearer = f"/api/tickets/{ticket_id}/outcome", {"Authorization": "Bearer " + "t" * 24}
    response = await api.post(path, json={"outcome": "resolved", "operator": "anna"}, headers=bearer)
    assert response.status == 400 and MISSING in (await response.json())["error"]
    response = await api.post(path, json={"outcome": "resolved", "operator": "anna", "reason": "boh"}, headers=bearer)
    assert response.status == 400 and "boh" in (await response.json())["error"]
    response = await api.post(path, json={"outcome": "resolved", "operator": "anna", "reason": "altro"}, headers=bearer)
    assert response.status == 200
    ticket = await lab.deps.store.get(ticket_id)
    assert ticket is not None and ticket.call_reason == "altro"
    filed = next(e for e in ticket.events if e.kind == "outcome_filed")
    assert filed.detail is not None and filed.detail["reason"] == "altro"


async def test_calls_are_counted_per_reason_in_the_statistics_and_the_open_data(
    lab: ConsoleLab, tmp_path: Path
) -> None:
    anna = await lab.login("anna")
    for number, reason, outcome in (("3331000001", "naspi", "resolved"), ("3331000002", "naspi", "escalated"),
                                    ("3331000003", "altro", "resolved"), ("3331000004", None, "resolved")):  # fmt: skip
        ticket_id = await lab.call(number, operator="anna")
        if reason is None:  # filed before the list was set: counted as "not given"
            await lab.deps.store.file_outcome(ticket_id, outcome, note=None, operator_id=None, at=lab.clock.now())
            await lab.deps.store.update(ticket_id, operator_id=(await lab.deps.operators.get("anna")).id)
            continue
        await _post(lab, anna, f"/console/desk/tickets/{ticket_id}/reason", {"reason": reason})
        data = {
            "outcome": outcome,
            "contact_name": "Mario Rossi",
            "answer_by": "email",
            "contact_email": "m@example.org",
        }
        assert (await _post(lab, anna, f"/console/desk/tickets/{ticket_id}/outcome", data))[0] == 303
    day = lab.clock.now().astimezone(lab.deps.settings.service.tz).date()
    report = await reason_report(lab.deps.store.run_read, day, day, "day", lab.deps.settings.reasons)
    by = {c.reason: (c.label, c.calls, c.first_level, c.second_level) for c in report.by_reason}
    assert by == {"naspi": ("NASpI e disoccupazione", 2, 1, 1), "altro": ("Altro", 1, 1, 0),
                  "not_given": ("non indicato", 1, 1, 0)}  # fmt: skip
    assert report.total == 4 and report.by_reason[0].reason == "naspi"
    rows = list(csv.DictReader(io.StringIO(to_csv(report))))
    assert {(r["period"], r["reason"], r["calls"]) for r in rows} >= {
        (day.isoformat(), "naspi", "2"),
        ("total", "naspi", "2"),
    }

    sara = await lab.login("sara")
    page = html.unescape(
        await (await sara.get("/console/stats", params={"da": day.isoformat(), "a": day.isoformat()})).text()
    )
    assert 'id="reasons-by-reason"' in page and 'data-reason="naspi"' in page

    public = await lab.client()
    query = {"periodo": "giorno", "da": day.isoformat(), "a": day.isoformat()}
    document = await (await public.get("/statistiche.json", params=query)).json()
    assert {m["motivo"]: m["chiamate"] for m in document["motivi"]} == {"naspi": 2, "altro": 1, "not_given": 1}
    page = await (await public.get("/statistiche", params=query)).text()
    assert "Perché si chiama" in page and "NASpI e disoccupazione" in page

    settings = lab.deps.settings
    out = tmp_path / "od"
    exporter = StatsExporter(lab.deps.store.run_read, StatsSettings(), out, lab.deps.clock, settings.service.tz,
                             reasons=settings.reasons)  # fmt: skip
    lab.clock.set(lab.clock.now() + timedelta(days=1))
    files = {p.name for p in (await exporter.export(day)).files}
    assert {f"{day.isoformat()}-motivi.csv", "motivi-mensili.csv", "motivi-mensili.json"} <= files
    silent = StatsExporter(lab.deps.store.run_read, StatsSettings(), tmp_path / "od2", lab.deps.clock)
    assert not any("motivi" in p.name for p in (await silent.export(day)).files)  # no list, nothing published


def test_the_reasons_config_names_its_mistakes() -> None:
    with pytest.raises(ValidationError, match="given twice"):
        ReasonSettings.model_validate({"options": [{"key": "naspi", "label": "a"}, {"key": "naspi", "label": "b"}]})
    with pytest.raises(ValidationError, match="key"):
        ReasonSettings.model_validate({"options": [{"key": "NASpI!", "label": "a"}]})
    assert Settings().reasons.asked is False  # the default: nobody is asked


def test_the_filing_rule() -> None:
    asked = CallReasons(ReasonSettings.model_validate(REASONS))
    assert asked.for_filing(None, "naspi") == "naspi"
    assert asked.for_filing("altro", None) is None  # the ticket's own stands
    with pytest.raises(ReasonError, match="Scegli il motivo"):
        asked.for_filing(None, None)
    with pytest.raises(ReasonError, match="pensioni"):
        asked.for_filing("altro", "pensioni")
    optional = CallReasons(ReasonSettings.model_validate({**REASONS, "required": False}))
    assert optional.for_filing(None, None) is None
    assert CallReasons(ReasonSettings()).for_filing(None, None) is None


def test_ivr_stats_reasons_prints_the_counts(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, keep_logging: None, capsys: pytest.CaptureFixture[str]
) -> None:
    from datetime import UTC, datetime

    from ivr.cli import main
    from ivr.tickets.db import make_engine, upgrade
    from tests.unit.cli_config import write_cli_config

    now = datetime(2026, 3, 10, 9, tzinfo=UTC)
    reasons = "reasons:\n  options:\n    - {key: naspi, label: NASpI}\n"
    config = write_cli_config(tmp_path, monkeypatch, now, reasons)
    engine = make_engine(f"sqlite:///{tmp_path / 'nul.db'}")
    upgrade(engine)
    engine.dispose()
    assert main(["-c", str(config), "stats", "reasons", "--format", "csv"]) == 0
    assert capsys.readouterr().out.startswith("period,reason,reason_label,calls,first_level,second_level")
    assert main(["-c", str(config), "stats", "reasons", "--from", "2026-03-11", "--to", "2026-03-10"]) == 1
    assert "is after" in capsys.readouterr().err
