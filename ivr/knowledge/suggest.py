"""The knowledge base as the reply editor's `ArticleFinder`: articles that may answer a citizen's
web request, found from the request's own words.

A request is a whole message, not a query: any of its terms may match (the ranking prefers
articles matching more of them and in the title), but an article sharing a single word with it
("persone", "lavoro") is no answer, so at least MIN_SHARED distinct terms must be shared. Only
articles valid today are offered, and those of the request's topic come first.
"""

from __future__ import annotations

from zoneinfo import ZoneInfo

from ivr.clock import Clock
from ivr.knowledge import search
from ivr.knowledge.articles import Article, plain_text
from ivr.knowledge.repository import KnowledgeBase
from ivr.webrequests.articles import Suggestion

MAX_TERMS = 40  # a long message: its first distinct terms are plenty to find the subject
SNIPPET_CHARS = 200
MIN_SHARED = 2


class KnowledgeFinder:
    def __init__(self, knowledge: KnowledgeBase, clock: Clock, tz: ZoneInfo) -> None:
        self.knowledge = knowledge
        self.clock = clock
        self.tz = tz

    async def suggest(self, text: str, topic: str | None, limit: int) -> list[Suggestion]:
        terms = list(dict.fromkeys(self.knowledge.analyzer.terms(text)))[:MAX_TERMS]
        if not terms or limit <= 0:
            return []
        plan: search.Plan = [[search.Alternative(t)] for t in terms]
        today = self.clock.now().astimezone(self.tz).date()
        wide = limit * 4  # candidates, before the ones sharing too little are dropped
        ids = await self.knowledge.ranked(plan, topic=topic, today=today, limit=wide, any_term=True)
        if topic is not None:
            others = await self.knowledge.ranked(plan, topic=None, today=today, limit=wide, any_term=True)
            ids += [i for i in others if i not in ids]
        wanted, shared = set(terms), await self.knowledge.terms_of(ids)
        need = min(MIN_SHARED, len(wanted))
        ids = [i for i in ids if len(wanted & shared.get(i, set())) >= need][:limit]
        articles = await self.knowledge.many(ids)
        return [_suggestion(a) for a in articles]


def _suggestion(article: Article) -> Suggestion:
    body = " ".join(plain_text(article.draft.body).split())
    snippet = body if len(body) <= SNIPPET_CHARS else body[:SNIPPET_CHARS].rsplit(" ", 1)[0] + " …"
    return Suggestion(id=article.id, title=article.title, snippet=snippet, body=article.draft.body)
