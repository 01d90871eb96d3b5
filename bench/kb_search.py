"""Knowledge-base search over 5,000 generated articles: p50/p95/max latency of typical one- to
four-word queries and of typo queries, on SQLite and (with --start-postgres or --postgres) on
PostgreSQL. The issue's target is under 50 ms; nothing here asserts it.

Articles are made from the words of the real test articles (tests/data/kb) and a list of the
service's terms, so the vocabulary and the term frequencies look like the real base's. Each
search is timed as the console runs it: `KnowledgeBase.search` on the ticket store, valid today.

    .venv/bin/python bench/kb_search.py                       # SQLite, 5,000 articles
    .venv/bin/python bench/kb_search.py --start-postgres      # and a throwaway PostgreSQL
    .venv/bin/python bench/kb_search.py --articles 20000 --queries 500
"""

from __future__ import annotations

import argparse
import asyncio
import random
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from bench.common import percentile  # noqa: E402
from ivr.command_table import install as install_commands  # noqa: E402
from ivr.knowledge.analysis import Analyzer, words  # noqa: E402
from ivr.knowledge.articles import ArticleDraft  # noqa: E402
from ivr.knowledge.files import parse  # noqa: E402
from ivr.knowledge.repository import KnowledgeBase  # noqa: E402
from ivr.tickets.db import make_engine, upgrade  # noqa: E402
from ivr.tickets.store import SqlTicketStore  # noqa: E402

AT = datetime(2026, 2, 10, 10, 0, tzinfo=ZoneInfo("Europe/Rome"))
TOPICS = ("citizens", "employers", "agencies")
SERVICE_TERMS = [
    "iscrizione",
    "disoccupazione",
    "indennità",
    "tirocinio",
    "apprendistato",
    "curriculum",
    "dimissioni",
    "contratto",
    "assunzione",
    "licenziamento",
    "formazione",
    "corso",
    "patto",
    "servizio",
    "domanda",
    "requisiti",
    "contributi",
    "scadenza",
    "documento",
    "identità",
    "permesso",
    "soggiorno",
    "regione",
    "comune",
    "provincia",
    "sportello",
    "appuntamento",
    "colloquio",
    "offerta",
    "annuncio",
    "azienda",
    "datore",
    "lavoratore",
    "stagionale",
    "tempo",
    "determinato",
    "indeterminato",
    "part-time",
    "agricoltura",
    "turismo",
    "commercio",
    "logistica",
    "magazzino",
    "autista",
    "cuoco",
    "cameriere",
    "infermiere",
    "badante",
    "muratore",
    "elettricista",
    "saldatore",
    "programmatore",
    "contabile",
    "segretaria",
    "receptionist",
    "estero",
    "europa",
    "giovani",
    "disabilità",
    "invalidità",
    "famiglia",
    "reddito",
    "isee",
    "bonus",
    "incentivo",
    "sgravio",
    "certificato",
    "attestato",
    "qualifica",
    "competenze",
    "lingua",
    "inglese",
    "patente",
]


def corpus_words() -> list[str]:
    found: list[str] = []
    for path in sorted((REPO / "tests" / "data" / "kb").glob("*.md")):
        draft = parse(path.read_text(encoding="utf-8"), path.stem)
        found += [w for w in words(draft.title + " " + draft.body) if len(w) > 2]
    return found + SERVICE_TERMS * 3


def make_articles(count: int, rng: random.Random) -> list[ArticleDraft]:
    pool = corpus_words()
    drafts = []
    for n in range(count):
        title = " ".join(rng.choice(pool) for _ in range(rng.randint(3, 7))).capitalize()
        sentences = [
            " ".join(rng.choice(pool) for _ in range(rng.randint(5, 12))).capitalize() + "."
            for _ in range(rng.randint(6, 14))
        ]
        drafts.append(
            ArticleDraft(
                slug=f"articolo-{n:05d}",
                title=title,
                body="\n\n".join(" ".join(sentences[i : i + 3]) for i in range(0, len(sentences), 3)),
                topic=rng.choice(TOPICS),
                author="Banco di prova",
                keywords=tuple(rng.sample(SERVICE_TERMS, 3)),
            )
        )
    return drafts


def typo(word: str, rng: random.Random) -> str:
    i = rng.randrange(1, len(word) - 1)
    kind = rng.choice(("drop", "swap", "change"))
    if kind == "drop":
        return word[:i] + word[i + 1 :]
    if kind == "swap":
        return word[: i - 1] + word[i] + word[i - 1] + word[i + 1 :]
    return word[:i] + rng.choice("aeiourstnlc") + word[i + 1 :]


async def run_backend(name: str, url: str, args: argparse.Namespace) -> dict[str, Any]:
    rng = random.Random(args.seed)
    engine = make_engine(url)
    upgrade(engine)
    install_commands()  # every write command the store may run (ivr.command_table)
    store = SqlTicketStore(engine)
    await store.start()
    config = REPO / "config" / "knowledge"
    kb = KnowledgeBase(store, Analyzer.load(config / "stopwords.txt", config / "famiglie.yaml"), TOPICS)
    try:
        drafts = make_articles(args.articles, rng)
        started = time.perf_counter()
        for i in range(0, len(drafts), 250):
            await asyncio.gather(*(kb.save(d, by="bench", at=AT) for d in drafts[i : i + 250]))
        loaded = time.perf_counter() - started
        pool = [w for w in corpus_words() if len(w) >= 4]
        typical = [" ".join(rng.choice(pool) for _ in range(rng.randint(1, 4))) for _ in range(args.queries)]
        long_words = [w for w in pool if len(w) >= 6]
        typos = [
            " ".join([typo(rng.choice(long_words), rng)] + [rng.choice(pool) for _ in range(rng.randint(0, 2))])
            for _ in range(args.queries)
        ]
        today = AT.date()
        cold = time.perf_counter()
        await kb.search(typos[0], today=today)  # reads the vocabulary and builds the typo index once
        warmup = time.perf_counter() - cold
        results: dict[str, Any] = {"backend": name, "articles": args.articles, "load_s": round(loaded, 1)}
        results["first_typo_query_ms"] = round(warmup * 1000, 1)
        for label, queries in (("typical", typical), ("typo", typos)):
            times, hits = [], 0
            for q in queries:
                t0 = time.perf_counter()
                found = await kb.search(q, today=today, limit=10)
                times.append((time.perf_counter() - t0) * 1000)
                hits += bool(found)
            results[label] = {
                "p50_ms": round(percentile(times, 50) or 0, 2),
                "p95_ms": round(percentile(times, 95) or 0, 2),
                "max_ms": round(max(times), 2),
                "with_results": f"{hits}/{len(queries)}",
            }
        return results
    finally:
        await store.stop()
        engine.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--articles", type=int, default=5000)
    parser.add_argument("--queries", type=int, default=300)
    parser.add_argument("--seed", type=int, default=15)
    parser.add_argument("--postgres", help="URL of an empty PostgreSQL database")
    parser.add_argument("--start-postgres", action="store_true", help="start a throwaway PostgreSQL server")
    args = parser.parse_args()
    runs = []
    with tempfile.TemporaryDirectory(prefix="kb-bench-") as tmp:
        runs.append(asyncio.run(run_backend("sqlite", f"sqlite:///{tmp}/kb.db", args)))
    server, url = None, args.postgres
    if args.start_postgres:
        from tests.harness.postgres import PostgresServer

        server = PostgresServer()
        server.start()
        url = server.create_database("kb_bench")
    try:
        if url:
            runs.append(asyncio.run(run_backend("postgresql", url, args)))
    finally:
        if server is not None:
            server.stop()
    for r in runs:
        print(
            f"{r['backend']}: {r['articles']} articles loaded in {r['load_s']} s; "
            f"first typo query {r['first_typo_query_ms']} ms"
        )
        for label in ("typical", "typo"):
            f = r[label]
            print(
                f"  {label:8} p50 {f['p50_ms']:7.2f} ms  p95 {f['p95_ms']:7.2f} ms  max {f['max_ms']:7.2f} ms"
                f"  (queries with results {f['with_results']})"
            )


if __name__ == "__main__":
    main()
