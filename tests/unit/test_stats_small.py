"""Statistics on small data sets: the `ivr stats` commands, survey answers folded by the retention
purge, query parameters of the public page, the charts, the job's schedule."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, delete, func, insert, select

from ivr.cli import main
from ivr.schema.privacy import SurveyCount
from ivr.schema.tickets import SurveyAnswer, Ticket
from ivr.stats.charts import Series, bar_chart
from ivr.stats.export import schedule_daily_export, write_atomic
from ivr.stats.page import BadQuery, parse_query
from ivr.stats.queries import Scope
from ivr.stats.report import EngineReader, Report, build_report, default_range
from ivr.stats.synthetic import GenerateError, generate
from ivr.tickets.db import make_engine, upgrade

YEAR = 2026


@pytest.fixture
def small(tmp_path: Path) -> Iterator[tuple[str, Engine]]:
    url = f"sqlite:///{tmp_path / 'small.db'}"
    engine = make_engine(url)
    upgrade(engine)
    generate(engine, tickets=3000, year=YEAR, seed=3)
    yield url, engine
    engine.dispose()


@pytest.fixture
def cli_env(small: tuple[str, Engine], monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    monkeypatch.setenv("IVR_DATABASE__URL", small[0])
    monkeypatch.setenv("IVR_SECRETS_FILE", "/nonexistent")
    monkeypatch.setenv("IVR_STATS__OPENDATA_DIR", str(tmp_path / "opendata"))
    monkeypatch.setenv("IVR_CLOCK__START", "2027-01-10T10:00:00+01:00")
    return tmp_path / "opendata"


def test_stats_command_prints_the_table(cli_env: Path, small: tuple[str, Engine], capsys: Any) -> None:
    with small[1].connect() as conn:
        phone = conn.scalar(select(func.count()).select_from(Ticket).where(Ticket.channel == "phone"))
    assert main(["stats", "--period", "month", "--from", "2026-01-01", "--to", "2026-12-31"]) == 0
    out = capsys.readouterr().out
    for title in ("Calls", "Speed", "Voicemail by reason", "Second-level callbacks", "Web requests", "Survey"):
        assert title in out
    assert "2026-03 " in out and "2026-12 " in out
    total = next(line for line in out.splitlines() if line.startswith("total"))
    assert total.split()[1] == str(phone)


def test_stats_command_formats_and_breakdowns(cli_env: Path, capsys: Any) -> None:
    assert main(["stats", "--period", "week", "--from", "2026-03-02", "--to", "2026-03-15", "--format", "csv"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert lines[0].startswith("period,offered,in_hours,") and lines[1].startswith("2026-W10,")
    assert [line.split(",")[0] for line in lines[1:]] == ["2026-W10", "2026-W11", "total"]
    assert main(["stats", "--from", "2026-03-01", "--to", "2026-03-31", "--by", "operator", "--format", "json"]) == 0
    document = json.loads(capsys.readouterr().out)
    assert document["by"] == "operator" and document["period"] == "day"
    assert {row["operator"] for row in document["rows"]} > {None, "total"}
    assert main(["stats", "--period", "month", "--by", "topic"]) == 0  # default range: 12 months to the clock
    out = capsys.readouterr().out
    assert "2026-02-01 .. 2027-01-10, per month, by topic" in out


def test_stats_export_command(cli_env: Path, capsys: Any) -> None:
    assert main(["stats", "export", "--day", "2026-06-15"]) == 0
    assert "open data for 2026-06-15 written" in capsys.readouterr().out
    assert (cli_env / "giorni" / "2026-06-15.csv").exists()
    monthly = json.loads((cli_env / "statistiche-mensili.json").read_text())
    assert [r["period"] for r in monthly["rows"]][:2] == ["2026-01", "2026-02"] and monthly["to"] == "2026-06-15"
    assert main(["stats", "export"]) == 0  # yesterday by the (shifted) clock
    assert (cli_env / "giorni" / "2027-01-09.json").exists()


def test_generate_refuses_a_store_with_tickets(cli_env: Path, small: tuple[str, Engine], capsys: Any) -> None:
    assert main(["stats", "generate", "--tickets", "50", "--year", "2025"]) == 1
    assert "already has 3000 tickets" in capsys.readouterr().err
    with pytest.raises(GenerateError):
        generate(small[1], tickets=10, year=YEAR)
    truth = generate(small[1], tickets=400, year=2025, force=True)
    assert truth.tickets == 400
    with small[1].connect() as conn:
        assert conn.scalar(select(func.count()).select_from(Ticket)) == 3400


def test_bad_dates_on_the_command_line(cli_env: Path, capsys: Any) -> None:
    with pytest.raises(SystemExit):
        main(["stats", "--from", "yesterday"])
    assert "not a date" in capsys.readouterr().err
    assert main(["stats", "--from", "2026-05-01", "--to", "2026-04-01"]) == 1
    assert "after" in capsys.readouterr().err


async def test_folded_survey_answers_still_count(small: tuple[str, Engine]) -> None:
    """The retention purge replaces old answers with anonymous counts: no figure changes."""
    engine = small[1]
    reader = EngineReader(engine)
    now = datetime(YEAR + 1, 1, 10, tzinfo=UTC)
    year = (date(YEAR, 1, 1), date(YEAR, 12, 31))
    scopes = [Scope(*year, p, b, now) for p in ("day", "week", "month") for b in (None, "topic", "operator")]
    before = [await build_report(reader, s) for s in scopes]
    cut = date(YEAR, 7, 1)
    with engine.begin() as conn:
        key = (Ticket.local_day, Ticket.topic, SurveyAnswer.operator_id, SurveyAnswer.question, SurveyAnswer.answer)
        rows = conn.execute(
            select(*key, func.count())
            .join(Ticket, Ticket.id == SurveyAnswer.ticket_id)
            .where(Ticket.local_day < cut)
            .group_by(*key)
        ).all()
        keys = ("local_day", "topic", "operator_id", "question", "answer", "count")
        conn.execute(insert(SurveyCount), [dict(zip(keys, row, strict=True)) for row in rows])
        old = select(Ticket.id).where(Ticket.local_day < cut)
        assert conn.execute(delete(SurveyAnswer).where(SurveyAnswer.ticket_id.in_(old))).rowcount > 200
    after = [await build_report(reader, s) for s in scopes]
    reader.close()
    for b, a in zip(before, after, strict=True):
        assert _survey(a) == _survey(b) and _survey(b)[-1][1]  # the last row has answers


def _survey(report: Report) -> list[tuple[Any, ...]]:
    def rounded(survey: dict[str, Any]) -> dict[str, Any]:
        return {
            q: (v.answers, round(v.average or 0, 9), v.yes_share and round(v.yes_share, 9)) for q, v in survey.items()
        }

    rows = [(r.period, r.group, rounded(r.figures.survey)) for r in [*report.rows, *report.groups]]
    return [*rows, ("total", rounded(report.total.survey))]


# --- pure parts ---------------------------------------------------------------------------------


def test_query_parameters_and_default_ranges() -> None:
    today = date(2026, 3, 18)  # a Wednesday
    assert parse_query({}, today).period == "month"
    assert default_range("month", today) == (date(2025, 4, 1), today)
    assert default_range("week", today) == (date(2025, 12, 29), today)
    assert default_range("day", today) == (date(2026, 2, 17), today)
    q = parse_query({"periodo": "Settimana", "da": "2026-01-05", "a": " 2026-02-01 "}, today)
    assert (q.start, q.end, q.period) == (date(2026, 1, 5), date(2026, 2, 1), "week")
    assert q.params() == "da=2026-01-05&a=2026-02-01&periodo=settimana"
    assert parse_query({"a": "2025-06-30", "periodo": "giorno"}, today).start == date(2025, 6, 1)
    for bad in ({"periodo": "x" * 500}, {"da": "01/02/2026"}, {"da": "2026-02-30"}):
        with pytest.raises(BadQuery) as info:
            parse_query(bad, today)
        assert len(str(info.value)) < 200  # echoes at most a short piece of what was sent
    with pytest.raises(ValueError, match="starts"):
        Scope(date(2026, 2, 1), date(2026, 1, 1), "day", None, datetime(2026, 1, 1, tzinfo=UTC))


def test_bar_chart_is_accessible_svg() -> None:
    svg = bar_chart(
        "c1", "Chiamate <test>", "descrizione", ["gen", "feb"], [Series("ricevute", [10, None], "offered")],
        target=None,
    )  # fmt: skip
    assert svg.startswith('<svg id="c1"') and 'role="img"' in svg and "Chiamate &lt;test&gt;" in svg
    assert svg.count("<rect") == 2  # one bar (no bar for a missing value) and the legend's swatch
    pct = bar_chart("c2", "t", "d", ["a"], [Series("s", [0.5], "kept")], percent=True, target=0.8, target_label="80%")
    assert 'class="target"' in pct and "50,0%" in pct


def test_export_schedule_and_atomic_write(tmp_path: Path) -> None:
    calls: list[tuple[Any, ...]] = []

    class Scheduler:
        def add_job(self, fn: Any, trigger: str, **kw: Any) -> None:
            calls.append((fn.__name__, trigger, kw))

    schedule_daily_export(Scheduler(), 3)
    assert calls == [("daily_export", "cron", {"hour": 3, "minute": 5, "id": "stats-export", "replace_existing": True})]
    target = tmp_path / "a" / "b.csv"
    write_atomic(target, "x\n")
    write_atomic(target, "y\n")
    assert target.read_text() == "y\n" and [p.name for p in target.parent.iterdir()] == ["b.csv"]
    assert target.stat().st_mode & 0o777 == 0o600  # public once published, but private on disk


def test_generated_commitments_are_consistent(small: tuple[str, Engine]) -> None:
    with small[1].connect() as conn:
        rows = conn.execute(select(Ticket.sla_kind, Ticket.started_at, Ticket.callback_due, Ticket.sla_met_at)).all()
    assert rows
    for kind, started, due, met in rows:
        if kind == "phone_callback":
            assert due - started == timedelta(days=10)
        elif kind == "web_reply":
            assert due - started == timedelta(hours=48)
        else:
            assert due is None
        assert met is None or met > started
