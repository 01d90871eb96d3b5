"""What the reply editor asks of the knowledge base: articles that may answer a request.

A Protocol, so the web channel does not depend on how articles are stored or searched; the
knowledge base implements it and `ivr.app` hands it over. Until then `NoArticles` suggests
nothing and the editor simply shows no suggestion.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True)
class Suggestion:
    id: int
    title: str
    snippet: str  # a few words around what matched, plain text
    body: str  # the article's text, what "use this article" puts in the reply


class ArticleFinder(Protocol):
    async def suggest(self, text: str, topic: str | None, limit: int) -> list[Suggestion]:
        """The articles best matching `text` (a request), of `topic` first when given."""
        ...


class NoArticles:
    """No knowledge base wired: nothing to suggest."""

    async def suggest(self, text: str, topic: str | None, limit: int) -> list[Suggestion]:
        return []
