"""`KnowledgeBase`: the articles in the ticket store, their history, and the search.

Every save writes a new version row (the current one included), so an article's history is a
plain query and an old version reads exactly as it was saved. The search plan is made here:
the query's terms, each widened to its known neighbours when an operator mistyped a short query,
then, if exact terms leave room, the same query on stem prefixes, listed after the exact hits.
The vocabulary for typos is read once and kept until an article changes.
"""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from ivr.knowledge import search
from ivr.knowledge.analysis import Analyzer, prefix_of
from ivr.knowledge.articles import Article, ArticleDraft, ArticleError, Hit, links_of
from ivr.knowledge.search import Plan
from ivr.schema.knowledge import KbArticle, KbArticleVersion
from ivr.schema.tickets import Ticket, TicketEvent
from ivr.tickets import events
from ivr.tickets.audit import Audited
from ivr.tickets.repository import Database, Repository
from ivr.tickets.status import PASSED_ON, TicketStatus, passed_on
from ivr.typos import Vocabulary

SHORT_QUERY = 3  # up to this many words, unknown terms are taken as typos


class ResolveError(ValueError):
    pass


def _draft(row: KbArticle | KbArticleVersion) -> ArticleDraft:
    return ArticleDraft(
        slug=row.slug,
        title=row.title,
        body=row.body,
        topic=row.topic,
        author=row.author,
        keywords=tuple(row.keywords or ()),
        links=links_of(row.links),
        valid_from=row.valid_from,
        valid_to=row.valid_to,
        review_on=row.review_on,
    )


def _article(row: KbArticle) -> Article:
    return Article(
        row.id, row.version, _draft(row), row.gulpease, row.archived, row.updated_at, row.updated_by, row.created_at
    )


def _version(row: KbArticleVersion) -> Article:
    return Article(row.article_id, row.version, _draft(row), row.gulpease, row.archived, row.saved_at, row.saved_by)


class KnowledgeBase(Repository):
    refusals = (ArticleError, ResolveError)

    def __init__(self, db: Database, analyzer: Analyzer, topics: tuple[str, ...]) -> None:
        super().__init__(db)
        self.analyzer = analyzer
        self.topics = topics
        self._vocabulary: tuple[tuple[int, datetime | None], Vocabulary] | None = None

    # --- writes ---------------------------------------------------------------------------------

    async def save(
        self,
        draft: ArticleDraft,
        *,
        by: str,
        at: datetime,
        article_id: int | None = None,
        base_version: int | None = None,
    ) -> Article:
        """A new article (no `article_id`) or a new version of one; `base_version` is the version
        the editor started from: a save over someone else's newer one is refused. Saving what is
        already stored makes no version."""
        draft.check(self.topics)
        index = (
            self.analyzer.indexed(draft.title),
            self.analyzer.indexed(" ".join(draft.keywords)),
            self.analyzer.indexed(draft.body),
        )
        score = draft.readability

        def op(session: Session) -> Article:
            clash = session.scalar(select(KbArticle.id).where(KbArticle.slug == draft.slug))
            if clash is not None and clash != article_id:
                raise ArticleError("slug", f"è già usato dall'articolo {clash}")
            if article_id is None:
                row = KbArticle(version=0, created_at=at, archived=False)
                session.add(row)
            else:
                found = session.get(KbArticle, article_id)
                if found is None:
                    raise ArticleError("id", f"nessun articolo {article_id}")
                row = found
                if base_version is not None and base_version != row.version:
                    raise ArticleError("version", f"nel frattempo è stata salvata la versione {row.version}")
                if _draft(row) == draft and not row.archived:
                    return _article(row)
            _apply(row, draft, score, at, by)
            row.terms_title, row.terms_keywords, row.terms_body = index
            session.flush()
            search.index_article(session, row.id, *index)
            session.add(_history(row))
            return _article(row)

        saved = await self._write(op)
        self._vocabulary = None
        return saved

    async def archive(self, article_id: int, *, by: str, at: datetime) -> Article:
        """Out of the desk and the search for good; kept with its history (tickets name it)."""

        def op(session: Session) -> Article:
            row = session.get(KbArticle, article_id)
            if row is None:
                raise ArticleError("id", f"nessun articolo {article_id}")
            if not row.archived:
                row.archived, row.version, row.updated_at, row.updated_by = True, row.version + 1, at, by
                session.add(_history(row))
            return _article(row)

        archived = await self._write(op)
        self._vocabulary = None
        return archived

    async def reindex(self) -> int:
        """Index terms again for every article (after the word families or stop words changed)."""

        def op(session: Session) -> int:
            rows = list(session.scalars(select(KbArticle)))
            for row in rows:
                index = (
                    self.analyzer.indexed(row.title),
                    self.analyzer.indexed(" ".join(row.keywords or ())),
                    self.analyzer.indexed(row.body),
                )
                row.terms_title, row.terms_keywords, row.terms_body = index
                search.index_article(session, row.id, *index)
            return len(rows)

        count = await self._write(op)
        self._vocabulary = None
        return count

    async def resolve_call(
        self, ticket_id: int, article_id: int, *, operator_id: int, at: datetime, audited: Audited | None = None
    ) -> int:
        """The operator answered the call with this article: resolved at the first level, the
        article named on the ticket and in its timeline. Returns the version answered with.
        `audited`: the filing's audit entry, written in the same transaction (with the version)."""

        def op(session: Session) -> int:
            ticket = session.get(Ticket, self._real(ticket_id))
            if ticket is None:
                raise ResolveError(f"nessuna pratica #{ticket_id}")
            if ticket.operator_id not in (None, operator_id):
                raise ResolveError(f"la pratica #{ticket_id} è di un altro operatore")
            if passed_on(session, ticket):
                raise ResolveError(PASSED_ON)
            article = session.get(KbArticle, article_id)
            if article is None or article.archived:
                raise ResolveError(f"nessun articolo {article_id} in uso")
            ticket.level, ticket.status, ticket.callback_due = 1, TicketStatus.RESOLVED, None
            ticket.sla_kind = ticket.sla_flag = None
            ticket.kb_article_id = article.id
            filed = events.outcome_filed("resolved", operator_id, article=article.id)
            session.add(TicketEvent(ticket_id=ticket.id, at=at, kind=filed.kind, detail=filed.detail))
            used = events.kb_answer(article.id, article.version, article.title, operator_id)
            session.add(TicketEvent(ticket_id=ticket.id, at=at, kind=used.kind, detail=used.detail))
            if audited is not None:
                session.add(audited.row(at, "ticket", ticket.id, article=article.id, version=article.version))
            return article.version

        return await self._write(op)

    # --- reads ----------------------------------------------------------------------------------

    async def get(self, article_id: int) -> Article | None:
        def fn(session: Session) -> Article | None:
            row = session.get(KbArticle, article_id)
            return None if row is None else _article(row)

        return await self._read(fn)

    async def by_slug(self, slug: str) -> Article | None:
        def fn(session: Session) -> Article | None:
            row = session.scalar(select(KbArticle).where(KbArticle.slug == slug))
            return None if row is None else _article(row)

        return await self._read(fn)

    async def history(self, article_id: int) -> list[Article]:
        """Every version, newest first."""

        def fn(session: Session) -> list[Article]:
            rows = session.scalars(
                select(KbArticleVersion)
                .where(KbArticleVersion.article_id == article_id)
                .order_by(KbArticleVersion.version.desc())
            )
            return [_version(r) for r in rows]

        return await self._read(fn)

    async def version(self, article_id: int, version: int) -> Article | None:
        def fn(session: Session) -> Article | None:
            row = session.scalar(
                select(KbArticleVersion).where(
                    KbArticleVersion.article_id == article_id, KbArticleVersion.version == version
                )
            )
            return None if row is None else _version(row)

        return await self._read(fn)

    async def listing(
        self,
        *,
        topic: str | None = None,
        review_overdue_on: date | None = None,
        archived: bool = False,
    ) -> list[Article]:
        """Articles by title; with `review_overdue_on`, only those whose review date is past it."""

        def fn(session: Session) -> list[Article]:
            q = select(KbArticle).where(KbArticle.archived.is_(archived))
            if topic is not None:
                q = q.where(KbArticle.topic == topic)
            if review_overdue_on is not None:
                q = q.where(KbArticle.review_on < review_overdue_on)
            return [_article(r) for r in session.scalars(q.order_by(KbArticle.title, KbArticle.id))]

        return await self._read(fn)

    async def for_topic(self, topic: str | None, today: date) -> list[Article]:
        """What the desk offers for a call's topic: articles valid today, never archived ones."""
        found = await self.listing(topic=topic)
        return [a for a in found if a.valid_on(today)]

    async def search(
        self, query: str, *, topic: str | None = None, limit: int = 10, today: date | None = None
    ) -> list[Hit]:
        """Ranked hits; with `today`, only articles valid that day (the desk's default)."""
        terms = list(dict.fromkeys(self.analyzer.terms(query)))
        if not terms or limit <= 0:
            return []
        vocabulary = await self._vocab()
        plan: search.Plan = []
        for term in terms:
            group = [search.Alternative(term)]
            if term not in vocabulary and len(terms) <= SHORT_QUERY:
                group += [search.Alternative(t) for t in vocabulary.near(term)]
            plan.append(group)
        prefixes: search.Plan = []
        for group in plan:
            p = prefix_of(group[0].term)
            prefixes.append(group + ([search.Alternative(p, prefix=True)] if p else []))

        def fn(session: Session) -> list[Hit]:
            exact = search.ranked_ids(session, plan, topic=topic, today=today, limit=limit)
            seen = {i for i, _ in exact}
            found = [(i, s, "exact") for i, s in exact]
            if len(found) < limit and prefixes != plan:
                wider = search.ranked_ids(session, prefixes, topic=topic, today=today, limit=limit + len(found))
                found += [(i, s, "prefix") for i, s in wider if i not in seen][: limit - len(found)]
            ids = [i for i, _, _ in found]
            rows = {r.id: _article(r) for r in session.scalars(select(KbArticle).where(KbArticle.id.in_(ids)))}
            used = [a.term for group in plan for a in group]
            return [Hit(rows[i], score, match, used) for i, score, match in found if i in rows]

        return await self._read(fn)

    async def ranked(
        self, plan: Plan, *, topic: str | None, today: date | None, limit: int, any_term: bool = False
    ) -> list[int]:
        """Article ids for a plan built by the caller (the reply editor's whole-message search)."""
        found = await self._read(
            lambda session: search.ranked_ids(session, plan, topic=topic, today=today, limit=limit, any_term=any_term)
        )
        return [i for i, _ in found]

    async def many(self, ids: list[int]) -> list[Article]:
        """The articles `ids`, in that order."""

        def fn(session: Session) -> list[Article]:
            rows = {r.id: _article(r) for r in session.scalars(select(KbArticle).where(KbArticle.id.in_(ids)))}
            return [rows[i] for i in ids if i in rows]

        return await self._read(fn)

    async def terms_of(self, ids: list[int]) -> dict[int, set[str]]:
        """The indexed terms of each article (title, keywords and body)."""

        def fn(session: Session) -> dict[int, set[str]]:
            rows = session.execute(
                select(KbArticle.id, KbArticle.terms_title, KbArticle.terms_keywords, KbArticle.terms_body).where(
                    KbArticle.id.in_(ids)
                )
            )
            return {row[0]: {t for column in row[1:] for t in (column or "").split()} for row in rows}

        return await self._read(fn)

    async def _vocab(self) -> Vocabulary:
        """The terms of the articles in use, re-read only when an article changed since."""

        def generation(session: Session) -> tuple[int, datetime | None]:
            count, latest = session.execute(select(func.count(), func.max(KbArticle.updated_at))).one()
            return int(count), latest

        current = await self._read(generation)
        if self._vocabulary is not None and self._vocabulary[0] == current:
            return self._vocabulary[1]

        def terms(session: Session) -> set[str]:
            rows = session.execute(
                select(KbArticle.terms_title, KbArticle.terms_keywords, KbArticle.terms_body).where(
                    KbArticle.archived.is_(False)
                )
            )
            return {t for row in rows for column in row for t in column.split()}

        vocabulary = Vocabulary(await self._read(terms))
        self._vocabulary = (current, vocabulary)
        return vocabulary


def _apply(row: KbArticle, draft: ArticleDraft, score: float | None, at: datetime, by: str) -> None:
    row.slug, row.title, row.body, row.topic, row.author = (
        draft.slug,
        draft.title,
        draft.body,
        draft.topic,
        draft.author,
    )
    row.keywords, row.links = list(draft.keywords), draft.links_json()
    row.valid_from, row.valid_to, row.review_on = draft.valid_from, draft.valid_to, draft.review_on
    row.gulpease, row.archived = score, False
    row.version, row.updated_at, row.updated_by = (row.version or 0) + 1, at, by


def _history(row: KbArticle) -> KbArticleVersion:
    return KbArticleVersion(
        article_id=row.id,
        version=row.version,
        slug=row.slug,
        title=row.title,
        body=row.body,
        topic=row.topic,
        keywords=list(row.keywords),
        links=list(row.links),
        valid_from=row.valid_from,
        valid_to=row.valid_to,
        author=row.author,
        review_on=row.review_on,
        gulpease=row.gulpease,
        archived=row.archived,
        saved_at=row.updated_at,
        saved_by=row.updated_by,
    )
