"""The knowledge base's search on the real articles of tests/data/kb, on SQLite and PostgreSQL:
Italian morphology, folded accents, typos in short queries, validity dates, and that a query
about something else finds nothing."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import date, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from ivr.clock import ShiftedClock
from ivr.knowledge.analysis import Analyzer, fold
from ivr.knowledge.articles import ArticleError
from ivr.knowledge.files import import_dir
from ivr.knowledge.repository import KnowledgeBase
from ivr.knowledge.setup import menu_topics
from ivr.knowledge.suggest import KnowledgeFinder
from ivr.tickets.db import make_engine, upgrade
from ivr.tickets.store import SqlTicketStore
from ivr.typos import Vocabulary, distance

REPO = Path(__file__).resolve().parents[2]
DATA = REPO / "tests" / "data" / "kb"
CONFIG = REPO / "config"
AT = datetime(2026, 2, 10, 10, 0, tzinfo=ZoneInfo("Europe/Rome"))
TODAY = AT.date()


def analyzer() -> Analyzer:
    return Analyzer.load(CONFIG / "knowledge" / "stopwords.txt", CONFIG / "knowledge" / "famiglie.yaml")


@pytest.fixture
async def kb(db_url: str) -> AsyncIterator[KnowledgeBase]:
    engine = make_engine(db_url)
    upgrade(engine)
    store = SqlTicketStore(engine)
    await store.start()
    base = KnowledgeBase(store, analyzer(), menu_topics(CONFIG / "callflows" / "main.yaml"))
    report = await import_dir(base, DATA, by="test", at=AT)
    assert not report.errors and len(report.created) >= 25
    yield base
    await store.stop()
    engine.dispose()


async def slugs(kb: KnowledgeBase, query: str, **kw: object) -> list[str]:
    return [h.article.draft.slug for h in await kb.search(query, today=TODAY, **kw)]  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("iscrivermi", "iscrizione-centro-impiego"),  # a word family the stemmer alone misses
        ("come faccio a iscrivermi al centro per l'impiego", "iscrizione-centro-impiego"),
        ("disoccupati", "naspi"),  # "disoccupazione" in the article
        ("indennita disoccupazione", "naspi"),  # no accent typed
        ("NASPI", "naspi"),
        ("dimettermi", "dimissioni-telematiche"),
        ("lavoro all'estero Europa", "eures"),
        ("tirocinante", "ospitare-tirocinante"),
        ("stage", "tirocini-extracurricolari"),  # a synonym from the families file
        ("legge 68", "collocamento-mirato"),
    ],
)
async def test_italian_queries_find_the_article(kb: KnowledgeBase, query: str, expected: str) -> None:
    found = await slugs(kb, query)
    assert expected in found[:3], found


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("iscrizone", "iscrizione-centro-impiego"),  # a letter missing
        ("apprendistaot", "apprendistato"),  # two letters swapped
        ("disocupazione", "naspi"),  # a long word, one edit
        ("curiculum", "curriculum"),
        ("garanzia giovanni", "garanzia-giovani"),
    ],
)
async def test_typos_in_short_queries_are_tolerated(kb: KnowledgeBase, query: str, expected: str) -> None:
    assert expected in (await slugs(kb, query))[:3]


@pytest.mark.parametrize("query", ["ricetta della carbonara", "partita di calcio", "zzzz", "il lo la", ""])
async def test_unrelated_queries_match_nothing(kb: KnowledgeBase, query: str) -> None:
    assert await slugs(kb, query) == []


async def test_prefix_matches_come_after_exact_ones(kb: KnowledgeBase) -> None:
    hits = await kb.search("iscritto", today=TODAY, limit=20)
    matches = [h.match for h in hits]
    assert matches[0] == "exact"
    assert matches == sorted(matches)  # "exact" < "prefix": no prefix hit before an exact one


async def test_the_title_weighs_more_than_the_body(kb: KnowledgeBase) -> None:
    # "curriculum" is in the title of one article and only in the body of others
    found = await slugs(kb, "curriculum")
    assert found[0] == "curriculum" and len(found) > 1


async def test_validity_topic_and_archive_filter_the_desk(kb: KnowledgeBase) -> None:
    assert "bonus-vecchio-2023" not in await slugs(kb, "bonus")  # expired
    assert "bonus-vecchio-2023" in [h.article.draft.slug for h in await kb.search("bonus")]  # any date
    assert "nuovo-portale-2027" not in await slugs(kb, "portale unico")  # not yet valid
    employers = await slugs(kb, "tirocinio", topic="employers")
    assert employers == ["ospitare-tirocinante"]
    topic = {a.draft.slug for a in await kb.for_topic("citizens", TODAY)}
    assert "naspi" in topic and "bonus-vecchio-2023" not in topic and "ospitare-tirocinante" not in topic
    naspi = await kb.by_slug("naspi")
    assert naspi is not None
    await kb.archive(naspi.id, by="sara", at=AT)
    assert "naspi" not in await slugs(kb, "naspi")
    assert "naspi" not in [h.article.draft.slug for h in await kb.search("naspi")]
    assert "naspi" not in {a.draft.slug for a in await kb.for_topic("citizens", TODAY)}


async def test_every_save_keeps_the_previous_version(kb: KnowledgeBase) -> None:
    article = await kb.by_slug("eures")
    assert article is not None and article.version == 1 and article.gulpease is not None
    changed = replace(article.draft, body=article.draft.body + "\nChiama il numero verde per avere aiuto.\n")
    second = await kb.save(changed, by="sara", at=AT, article_id=article.id, base_version=1)
    assert second.version == 2
    same = await kb.save(changed, by="sara", at=AT, article_id=article.id)
    assert same.version == 2  # nothing changed: no new version
    history = await kb.history(article.id)
    assert [h.version for h in history] == [2, 1]
    old = await kb.version(article.id, 1)
    assert old is not None and old.draft.body == article.draft.body and old.gulpease == article.gulpease
    with pytest.raises(ArticleError, match="versione 2") as stale:
        await kb.save(article.draft, by="ugo", at=AT, article_id=article.id, base_version=1)
    assert stale.value.field == "version"
    assert "eures" in await slugs(kb, "numero verde")  # the new text is indexed


async def test_bad_fields_are_named(kb: KnowledgeBase) -> None:
    article = await kb.by_slug("eures")
    assert article is not None
    cases = {
        "topic": replace(article.draft, slug="nuovo", topic="cucina"),
        "title": replace(article.draft, slug="nuovo", title="  "),
        "links": replace(article.draft, slug="nuovo", links=(replace(article.draft.links[0], url="javascript:x"),)),
        "valid_to": replace(article.draft, slug="nuovo", valid_from=date(2026, 2, 1), valid_to=date(2026, 1, 1)),
        "slug": replace(article.draft, slug="naspi"),  # another article's
    }
    for name, draft in cases.items():
        with pytest.raises(ArticleError) as refused:
            await kb.save(draft, by="sara", at=AT)
        assert refused.value.field == name
    assert await kb.by_slug("nuovo") is None


async def test_review_overdue_listing(kb: KnowledgeBase) -> None:
    overdue = {a.draft.slug for a in await kb.listing(review_overdue_on=TODAY)}
    assert overdue == {"lavoro-stagionale", "incentivi-assunzione-giovani"}


def test_analysis_folds_stems_and_merges_families() -> None:
    a = analyzer()
    assert fold("Perché è così") == "perche e cosi"
    assert a.terms("iscrivermi") == a.terms("iscrizione") == a.terms("ISCRITTI")
    assert a.terms("disoccupati") == a.terms("disoccupazione")
    assert a.terms("città") == a.terms("citta")
    assert a.terms("come faccio a") == []
    assert distance("apprendistato", "apprendistaot", 2) == 1
    vocabulary = Vocabulary(["iscrizion", "apprendist", "nasp", "did"])
    assert vocabulary.near("iscrizon") == ["iscrizion"]
    assert vocabulary.near("dd") == []  # too short to correct


async def test_a_call_answered_with_an_article_counts_in_first_level_statistics(kb: KnowledgeBase) -> None:
    from ivr.stats.knowledge import first_level
    from ivr.tickets.store import NewCall

    store = kb.db
    assert isinstance(store, SqlTicketStore)
    naspi = await kb.by_slug("naspi")
    assert naspi is not None
    tickets = []
    for n, topic in enumerate(("citizens", "citizens", "employers")):
        ticket_id = await store.open_call(NewCall(f"kb-{n}", AT, f"33300000{n}", None, "800000039"))
        await store.update(ticket_id, topic=topic, queue_result="answered", operator_answered_at=AT)
        tickets.append(ticket_id)
    await kb.resolve_call(tickets[0], naspi.id, operator_id=7, at=AT)  # no operator row needed: a plain id
    await store.file_outcome(tickets[1], "resolved", note=None, operator_id=None, at=AT)
    rows = await first_level(store.run_read, TODAY, TODAY)
    assert [(r.topic, r.answered, r.first_level, r.with_article, r.total) for r in rows] == [
        ("citizens", 2, 2, 1, False),
        ("employers", 1, 0, 0, False),
        (None, 3, 2, 1, True),
    ]
    ticket = await store.get(tickets[0])
    assert ticket is not None and ticket.kb_article_id == naspi.id
    assert [e.detail for e in ticket.events if e.kind == "kb_answer"] == [
        {"article": naspi.id, "version": 1, "title": naspi.title, "operator_id": 7}
    ]


async def test_a_web_request_gets_the_articles_that_answer_it(kb: KnowledgeBase) -> None:
    """The reply editor's suggestions come from the request's whole message: any of its words
    may match, the best article first; a message about nothing in the base suggests nothing."""
    finder = KnowledgeFinder(kb, ShiftedClock(AT), ZoneInfo("Europe/Rome"))
    message = (
        "Buongiorno, a gennaio ho perso il lavoro perché il contratto a termine è scaduto. "
        "Vorrei sapere come chiedere l'indennità di disoccupazione e entro quando devo fare la domanda."
    )
    found = await finder.suggest(message, None, 3)
    assert found and found[0].title == (await kb.by_slug("naspi")).title  # type: ignore[union-attr]
    assert found[0].snippet and "[" not in found[0].snippet and found[0].body
    assert await finder.suggest("Vorrei prenotare un tavolo in pizzeria per sabato sera", None, 3) == []
    # one word in common ("persone") is no answer: at least two distinct terms must be shared
    assert await finder.suggest("Il mio gatto è una persona speciale", None, 3) == []
    first = await finder.suggest("Voglio ospitare un tirocinante nella mia azienda", "employers", 2)
    assert first and first[0].title == (await kb.by_slug("ospitare-tirocinante")).title  # type: ignore[union-attr]
