"""Articles as Markdown files: a YAML front matter with every field, then the body.

One file per article, named after its identifier (`slug.md`), so a folder of articles can be
written and reviewed in any editor and kept in version control. Import reads every file first
and reports each bad one by name and field; the good ones are saved all the same.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field, replace
from datetime import date, datetime
from pathlib import Path
from typing import Any

import yaml

from ivr.knowledge.articles import Article, ArticleDraft, ArticleError, links_of
from ivr.knowledge.repository import KnowledgeBase

FENCE = "---"


@dataclass(frozen=True)
class FileError:
    name: str
    error: str

    def __str__(self) -> str:
        return f"{self.name}: {self.error}"


@dataclass
class ImportReport:
    created: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    errors: list[FileError] = field(default_factory=list)


def _date(data: dict[str, Any], name: str) -> date | None:
    value = data.get(name)
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    try:
        return date.fromisoformat(str(value))
    except ValueError:
        raise ArticleError(name, f"{value!r} non è una data come 2026-01-31") from None


def _text(data: dict[str, Any], name: str) -> str:
    value = data.get(name)
    if value is None:
        raise ArticleError(name, "manca")
    if not isinstance(value, str | int | float):
        raise ArticleError(name, "deve essere un testo")
    return str(value).strip()


def parse(text: str, default_slug: str) -> ArticleDraft:
    """A draft from one file's text; ArticleError names the field that is wrong."""
    lines = text.lstrip("\ufeff").splitlines()
    if not lines or lines[0].strip() != FENCE:
        raise ArticleError("front matter", "il file deve iniziare con «---» e i campi in YAML")
    try:
        end = next(i for i in range(1, len(lines)) if lines[i].strip() == FENCE)
    except StopIteration:
        raise ArticleError("front matter", "manca il «---» che chiude i campi") from None
    try:
        data = yaml.safe_load("\n".join(lines[1:end])) or {}
    except yaml.YAMLError as exc:
        raise ArticleError("front matter", f"YAML non valido: {exc}") from None
    if not isinstance(data, dict):
        raise ArticleError("front matter", "i campi devono essere coppie «nome: valore»")
    keywords = data.get("keywords") or []
    if not isinstance(keywords, list):
        raise ArticleError("keywords", "deve essere un elenco")
    return ArticleDraft(
        slug=str(data.get("slug") or default_slug).strip(),
        title=_text(data, "title"),
        body="\n".join(lines[end + 1 :]).strip() + "\n",
        topic=_text(data, "topic"),
        author=_text(data, "author"),
        keywords=tuple(str(k).strip() for k in keywords if str(k).strip()),
        links=links_of(data.get("links")),
        valid_from=_date(data, "valid_from"),
        valid_to=_date(data, "valid_to"),
        review_on=_date(data, "review_on"),
    )


def render(article: Article) -> str:
    """One article as a file: every field in the front matter (version and index for reading;
    import ignores them), the body after it."""
    d = article.draft
    front: dict[str, Any] = {
        "slug": d.slug,
        "title": d.title,
        "topic": d.topic,
        "keywords": list(d.keywords),
        "links": [{"label": link.label, "url": link.url} for link in d.links],
        "valid_from": d.valid_from,
        "valid_to": d.valid_to,
        "author": d.author,
        "review_on": d.review_on,
        "version": article.version,
        "gulpease": None if article.gulpease is None else round(article.gulpease, 1),
        "archived": article.archived,
    }
    head = yaml.safe_dump(front, allow_unicode=True, sort_keys=False, width=1000)
    return f"{FENCE}\n{head}{FENCE}\n\n{d.body.strip()}\n"


def _read_all(folder: Path) -> list[tuple[Path, str | UnicodeDecodeError]]:
    if not folder.is_dir():
        raise NotADirectoryError(f"{folder}: not a folder")
    found: list[tuple[Path, str | UnicodeDecodeError]] = []
    for path in sorted(folder.glob("*.md")):
        try:
            found.append((path, path.read_text(encoding="utf-8")))
        except UnicodeDecodeError as exc:
            found.append((path, exc))
    return found


async def import_dir(
    kb: KnowledgeBase,
    folder: Path,
    *,
    by: str,
    at: datetime,
    keep_existing: bool = False,
    review_on: date | None = None,
) -> ImportReport:
    """Every `*.md` of `folder`, in name order: new slugs are created, known ones get a new
    version when they changed, or are left as they are with `keep_existing` (sample articles a
    supervisor has since made the office's own). `review_on` replaces each file's review date.
    A bad file is reported and skipped; the others are saved."""
    report = ImportReport()
    for path, content in await asyncio.to_thread(_read_all, folder):
        try:
            if isinstance(content, UnicodeDecodeError):
                raise ArticleError("file", "non è un testo UTF-8")
            draft = parse(content, path.stem)
            if review_on is not None:
                draft = replace(draft, review_on=review_on)
            draft.check(kb.topics)
            existing = await kb.by_slug(draft.slug)
            if existing is not None and keep_existing:
                report.unchanged.append(path.name)
                continue
            saved = await kb.save(draft, by=by, at=at, article_id=existing.id if existing else None)
        except ArticleError as exc:
            report.errors.append(FileError(path.name, str(exc)))
            continue
        if existing is None:
            report.created.append(path.name)
        elif saved.version != existing.version:
            report.updated.append(path.name)
        else:
            report.unchanged.append(path.name)
    return report


async def export_dir(kb: KnowledgeBase, folder: Path, *, archived: bool = False) -> list[Path]:
    """Every article in use (and the archived ones when asked) as `slug.md` files."""
    articles = await kb.listing()
    if archived:
        articles += await kb.listing(archived=True)
    files = {folder / f"{a.draft.slug}.md": render(a) for a in articles}

    def write() -> list[Path]:
        folder.mkdir(parents=True, exist_ok=True)
        for path, content in files.items():
            path.write_text(content, encoding="utf-8")
        return list(files)

    return await asyncio.to_thread(write)
