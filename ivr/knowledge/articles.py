"""An article as supervisors write it (a draft, checked field by field) and as pages read it.

Checks name the field in Italian, the way the console's form and the Markdown import show them:
a bad file or a bad form says which field is wrong, and nothing is saved from it.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from ivr.readability import gulpease

FIELD_NAMES = {
    "slug": "identificativo",
    "title": "titolo",
    "body": "testo",
    "topic": "argomento",
    "keywords": "parole chiave",
    "links": "collegamenti",
    "valid_from": "valido dal",
    "valid_to": "valido fino al",
    "author": "autore",
    "review_on": "prossima revisione",
    "version": "versione",
}
_SLUG = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*$")
_URL = re.compile(r"^https://[^\s<>\"'`]+$", re.IGNORECASE)
_MD_LINK = re.compile(r"\[([^\]]*)\]\([^)]*\)")
_MD_MARKS = re.compile(r"(^|\n)\s*(?:#{1,6}\s+|[-*+]\s+|\d+[.)]\s+|>\s?)|[*_`]+")


class ArticleError(ValueError):
    """A field that cannot be saved; `field` is its name in the data, the message is Italian."""

    def __init__(self, field_name: str, message: str) -> None:
        super().__init__(f"«{FIELD_NAMES.get(field_name, field_name)}»: {message}")
        self.field = field_name


@dataclass(frozen=True)
class Link:
    label: str
    url: str


@dataclass(frozen=True)
class ArticleDraft:
    """What a supervisor writes; everything else (version, index, history) the store keeps."""

    slug: str
    title: str
    body: str
    topic: str
    author: str
    keywords: tuple[str, ...] = ()
    links: tuple[Link, ...] = ()
    valid_from: date | None = None
    valid_to: date | None = None
    review_on: date | None = None

    def check(self, topics: tuple[str, ...]) -> None:
        """Raise ArticleError on the first field that is wrong."""
        if not _SLUG.match(self.slug) or len(self.slug) > 80:
            raise ArticleError("slug", "solo lettere minuscole, cifre e trattini, al massimo 80 caratteri")
        _require("title", self.title, 200)
        _require("body", self.body, 20_000)
        if self.topic not in topics:
            raise ArticleError("topic", f"deve essere uno di: {', '.join(topics)}")
        _require("author", self.author, 128)
        for word in self.keywords:
            _require("keywords", word, 60)
        if len(self.keywords) > 30:
            raise ArticleError("keywords", "al massimo 30 parole chiave")
        for link in self.links:
            _require("links", link.label, 200)
            if not _URL.match(link.url) or len(link.url) > 500:
                raise ArticleError("links", f"{link.url!r} non è un indirizzo https valido")
        if self.valid_from and self.valid_to and self.valid_to < self.valid_from:
            raise ArticleError("valid_to", "viene prima della data di inizio validità")

    @property
    def readability(self) -> float | None:
        return gulpease(plain_text(self.body))

    def links_json(self) -> list[dict[str, Any]]:
        return [{"label": link.label, "url": link.url} for link in self.links]


def _require(name: str, value: str, limit: int) -> None:
    if not value.strip():
        raise ArticleError(name, "è obbligatorio")
    if len(value) > limit:
        raise ArticleError(name, f"al massimo {limit} caratteri")


def plain_text(markdown: str) -> str:
    """The words a reader reads: link labels without addresses, no Markdown marks."""
    return _MD_MARKS.sub(lambda m: m.group(1) or "", _MD_LINK.sub(r"\1", markdown))


def links_of(raw: object) -> tuple[Link, ...]:
    """Links from stored JSON or a front matter: a list of {label, url}."""
    if raw is None:
        return ()
    if not isinstance(raw, list):
        raise ArticleError("links", "deve essere un elenco di {label, url}")
    found = []
    for item in raw:
        if not isinstance(item, Mapping) or not isinstance(item.get("url"), str):
            raise ArticleError("links", "ogni collegamento ha «label» e «url»")
        found.append(Link(str(item.get("label") or item["url"]), item["url"].strip()))
    return tuple(found)


@dataclass(frozen=True)
class Article:
    """An article as stored now (or one of its versions, with `saved_at` and `saved_by`)."""

    id: int
    version: int
    draft: ArticleDraft
    gulpease: float | None
    archived: bool
    saved_at: datetime
    saved_by: str | None
    created_at: datetime | None = None

    @property
    def title(self) -> str:
        return self.draft.title

    @property
    def topic(self) -> str:
        return self.draft.topic

    def valid_on(self, day: date) -> bool:
        d = self.draft
        return (
            not self.archived
            and (d.valid_from is None or d.valid_from <= day)
            and (d.valid_to is None or d.valid_to >= day)
        )

    def review_overdue(self, day: date) -> bool:
        return self.draft.review_on is not None and self.draft.review_on < day


@dataclass(frozen=True)
class Hit:
    """A search result: the article, how it matched (exact terms, prefixes), and its rank."""

    article: Article
    rank: float
    match: str  # "exact" or "prefix"
    terms: list[str] = field(default_factory=list)
