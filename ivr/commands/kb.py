"""`ivr kb ...`: import, export, search and list the knowledge base's articles."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ivr.clitools import now as engine_now
from ivr.clitools import with_store
from ivr.settings import Settings

if TYPE_CHECKING:
    from ivr.knowledge.repository import KnowledgeBase
    from ivr.tickets.store import SqlTicketStore


def _kb(settings: Settings, store: SqlTicketStore) -> KnowledgeBase:
    from ivr.knowledge.setup import make_knowledge

    return make_knowledge(settings, store)


def cmd_import(args: argparse.Namespace, settings: Settings) -> int:
    from ivr.knowledge.files import ImportReport, import_dir

    at = engine_now(settings)

    async def go(store: SqlTicketStore) -> ImportReport:
        return await import_dir(_kb(settings, store), Path(args.dir), by=args.by, at=at)

    report = with_store(settings, go)
    print(f"{len(report.created)} new, {len(report.updated)} updated, {len(report.unchanged)} unchanged")
    for error in report.errors:
        print(f"error: {error}")
    return 1 if report.errors else 0


def cmd_export(args: argparse.Namespace, settings: Settings) -> int:
    from ivr.knowledge.files import export_dir

    written = with_store(settings, lambda store: export_dir(_kb(settings, store), Path(args.dir), archived=args.all))
    print(f"{len(written)} articles written to {args.dir}")
    return 0


def cmd_search(args: argparse.Namespace, settings: Settings) -> int:
    today = None if args.any_date else engine_now(settings).astimezone(settings.service.tz).date()
    hits = with_store(
        settings, lambda store: _kb(settings, store).search(args.text, topic=args.topic, limit=args.limit, today=today)
    )
    for h in hits:
        print(f"{h.article.id:>5}  {h.rank:7.3f} {h.match:6} {h.article.topic:10} {h.article.title}")
    if not hits:
        print("no article found")
    return 0 if hits else 1


def cmd_list(args: argparse.Namespace, settings: Settings) -> int:
    today = engine_now(settings).astimezone(settings.service.tz).date()
    articles = with_store(
        settings,
        lambda store: _kb(settings, store).listing(
            topic=args.topic, review_overdue_on=today if args.overdue else None, archived=args.archived
        ),
    )
    for a in articles:
        marks = " [DA RIVEDERE]" if a.review_overdue(today) else ""
        marks += "" if a.valid_on(today) or a.archived else " [NON VALIDO OGGI]"
        g = "-" if a.gulpease is None else f"{a.gulpease:.0f}"
        print(f"{a.id:>5} v{a.version:<3} {a.topic:10} G{g:>3} {a.draft.slug:40} {a.title}{marks}")
    if not articles:
        print("no articles")
    return 0


def cmd_samples(args: argparse.Namespace, settings: Settings) -> int:
    from ivr.knowledge.samples import SAMPLES_DIR, add_samples

    at = engine_now(settings)
    today = at.astimezone(settings.service.tz).date()
    folder = settings.config_dir / SAMPLES_DIR
    report = with_store(
        settings, lambda store: add_samples(_kb(settings, store), folder, by=args.by, at=at, today=today)
    )
    print(f"{len(report.created)} sample articles added, {len(report.unchanged)} already there")
    if report.created:
        print("each is listed as «da rivedere» until a supervisor checks it: `ivr kb list --overdue`, /console/kb")
    for error in report.errors:
        print(f"error: {error}")
    return 1 if report.errors else 0


def offer_samples(settings: Settings) -> None:
    """At setup: an empty knowledge base leaves the desk's article list blank, so say how to
    start from the samples."""
    from ivr.knowledge.samples import SAMPLES_DIR

    folder = settings.config_dir / SAMPLES_DIR
    if not folder.is_dir() or with_store(settings, lambda store: _kb(settings, store).listing()):
        return
    count = len(list(folder.glob("*.md")))
    print(f"the knowledge base is empty: `ivr kb samples` adds {count} sample articles to start from")


def cmd_reindex(args: argparse.Namespace, settings: Settings) -> int:
    count = with_store(settings, lambda store: _kb(settings, store).reindex())
    print(f"{count} articles indexed again")
    return 0


def add_kb_commands(sub: Any, add: Any) -> None:
    kb = sub.add_parser("kb", help="the knowledge base's articles").add_subparsers(dest="what", required=True)
    imp = add("import", cmd_import, "import every DIR/*.md (new articles or new versions)", kb)
    imp.add_argument("dir")
    imp.add_argument("--by", default="import", help="who the new versions are saved by")
    exp = add("export", cmd_export, "write every article as DIR/<slug>.md", kb)
    exp.add_argument("dir")
    exp.add_argument("--all", action="store_true", help="archived articles too")
    search = add("search", cmd_search, "search the articles valid today", kb)
    search.add_argument("text")
    search.add_argument("--topic")
    search.add_argument("-n", "--limit", type=int, default=10)
    search.add_argument("--any-date", action="store_true", help="also articles not valid today")
    lst = add("list", cmd_list, "list the articles", kb)
    lst.add_argument("--topic")
    lst.add_argument("--overdue", action="store_true", help="only those past their review date")
    lst.add_argument("--archived", action="store_true", help="the archived ones instead")
    samples = add("samples", cmd_samples, "add the sample articles of the line's main topics (never replaces one)", kb)
    samples.add_argument("--by", default="esempi", help="who the samples are saved by")
    add("reindex", cmd_reindex, "index every article again (after changing word families or stop words)", kb)
