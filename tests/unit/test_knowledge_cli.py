"""`ivr kb ...` on a real SQLite store: import with a bad file among good ones, export, and a
round trip that gives back the same articles."""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path

import pytest

from ivr.cli import main
from ivr.commands.kb import offer_samples
from ivr.knowledge.files import parse
from ivr.settings import load_settings
from tests.unit.cli_logging import keep_logging

REPO = Path(__file__).resolve().parents[2]
DATA = REPO / "tests" / "data" / "kb"

__all__ = ["keep_logging"]


def _config(tmp: Path, name: str) -> Path:
    path = tmp / f"{name}.yaml"
    path.write_text(
        f"database:\n  url: sqlite:///{tmp / name}.db\n"
        f"secrets_file: {tmp / 'none.yaml'}\n"
        f"callflow: {REPO / 'config' / 'callflows' / 'main.yaml'}\n"
        f"clock:\n  start: '2026-02-10T10:00:00+01:00'\n"
        f"knowledge:\n  families: {REPO / 'config' / 'knowledge' / 'famiglie.yaml'}\n"
        f"  stopwords: {REPO / 'config' / 'knowledge' / 'stopwords.txt'}\n"
    )
    return path


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in [n for n in os.environ if n.startswith("IVR_")]:
        monkeypatch.delenv(name)


def kb(config: Path, *argv: str) -> int:
    return main(["-c", str(config), "kb", *argv])


@pytest.mark.usefixtures("clean_env")
def test_import_reports_a_bad_file_and_keeps_the_rest(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    folder = tmp_path / "articoli"
    shutil.copytree(DATA, folder)
    bad = (DATA / "naspi.md").read_text(encoding="utf-8").replace("topic: citizens", "topic: cucina")
    (folder / "naspi.md").write_text(bad, encoding="utf-8")
    (folder / "vuoto.md").write_text("solo testo, senza campi\n", encoding="utf-8")
    config = _config(tmp_path, "uno")
    assert kb(config, "import", str(folder)) == 1
    out = capsys.readouterr().out
    good = len(list(DATA.glob("*.md"))) - 1
    assert f"{good} new, 0 updated, 0 unchanged" in out
    assert "error: naspi.md: «argomento»: deve essere uno di: citizens, employers, agencies" in out
    assert "error: vuoto.md: «front matter»" in out
    assert kb(config, "search", "disoccupati") == 0
    found = capsys.readouterr().out
    assert "DIS-COLL" in found and "NASpI:" not in found  # the bad file was not imported
    assert kb(config, "import", str(DATA)) == 0  # the fixed file: one new, the rest unchanged
    assert f"1 new, 0 updated, {good} unchanged" in capsys.readouterr().out
    assert kb(config, "list", "--overdue") == 0
    overdue = capsys.readouterr().out
    assert "[DA RIVEDERE]" in overdue and "lavoro-stagionale" in overdue and "naspi" not in overdue


@pytest.mark.usefixtures("clean_env")
def test_export_then_import_gives_back_the_same_articles(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    first, second = _config(tmp_path, "uno"), _config(tmp_path, "due")
    assert kb(first, "import", str(DATA)) == 0
    out = tmp_path / "export"
    assert kb(first, "export", str(out)) == 0
    assert kb(second, "import", str(out)) == 0
    again = tmp_path / "export2"
    assert kb(second, "export", str(again)) == 0
    capsys.readouterr()
    names = sorted(p.name for p in DATA.glob("*.md"))
    assert sorted(p.name for p in out.glob("*.md")) == names
    for name in names:
        original = parse((DATA / name).read_text(encoding="utf-8"), name[:-3])
        assert parse((out / name).read_text(encoding="utf-8"), name[:-3]) == original
        assert (again / name).read_text(encoding="utf-8") == (out / name).read_text(encoding="utf-8")
    assert "gulpease:" in (out / "naspi.md").read_text(encoding="utf-8")


SAMPLES = REPO / "config" / "knowledge" / "esempi"
# `ivr kb list`: id, version, topic, Gulpease index, slug, title, then the marks
LISTED = re.compile(r"\s*\d+ v1\s+(?P<topic>\w+)\s+G\s*(?P<g>\d+) (?P<slug>[\w-]+)\s+(?P<title>.+) \[DA RIVEDERE\]")


@pytest.mark.usefixtures("clean_env")
def test_the_sample_articles_cover_every_topic_and_wait_for_a_supervisors_review(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A fresh install's desk lists them at once; each says it is a sample and is «da rivedere»
    until checked; one a supervisor has since edited is never replaced by running it again."""
    shutil.copytree(SAMPLES, tmp_path / "knowledge" / "esempi")  # the config folder's copy
    config = _config(tmp_path, "uno")
    count = len(list(SAMPLES.glob("*.md")))
    assert count >= 7
    assert main(["-c", str(config), "db", "upgrade"]) == 0
    capsys.readouterr()
    offer_samples(load_settings(config, environ={}))  # what `ivr setup` says on an empty base
    assert f"the knowledge base is empty: `ivr kb samples` adds {count} sample articles" in capsys.readouterr().out
    assert kb(config, "samples") == 0
    assert f"{count} sample articles added, 0 already there" in capsys.readouterr().out

    assert kb(config, "list", "--overdue") == 0
    rows = [LISTED.fullmatch(line) for line in capsys.readouterr().out.splitlines()]
    assert len(rows) == count and all(rows), rows
    listed = [r.groupdict() for r in rows if r]
    assert {r["topic"] for r in listed} == {"citizens", "employers", "agencies"}
    assert all(r["title"].startswith("Esempio") for r in listed)
    assert all(int(r["g"]) >= 60 for r in listed)  # plain language (knowledge.min_gulpease)
    for words in ("naspi", "garanzia giovani", "tirocinio", "iscrivermi", "incentivi assunzione"):
        assert kb(config, "search", words) == 0, words
        assert "Esempio" in capsys.readouterr().out.splitlines()[0]

    edited = tmp_path / "edited"
    edited.mkdir()
    text = (SAMPLES / "esempio-naspi.md").read_text(encoding="utf-8")
    (edited / "esempio-naspi.md").write_text(text.replace("Esempio: la NASpI", "La NASpI"), encoding="utf-8")
    assert kb(config, "import", str(edited)) == 0
    capsys.readouterr()
    assert kb(config, "samples") == 0
    assert f"0 sample articles added, {count} already there" in capsys.readouterr().out
    assert kb(config, "search", "naspi") == 0
    assert "La NASpI" in capsys.readouterr().out  # the supervisor's version stays
    offer_samples(load_settings(config, environ={}))
    assert capsys.readouterr().out == ""  # articles there: nothing offered
