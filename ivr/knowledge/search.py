"""The full-text query on each backend: SQLite's FTS5 ranked with bm25, PostgreSQL's `italian`
tsvector ranked with ts_rank. Both take the same plan, a list of alternatives per query term
(the term itself, its known neighbours for a typo, or a prefix), all of them required (or, for
a whole message, any of them).

Terms come from `ivr.knowledge.analysis` and are `[a-z0-9]+`, so they are spliced into the match
expression as they are; everything else is a bound parameter.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from sqlalchemy import text
from sqlalchemy.orm import Session

# bm25 column weights (title, keywords, body): the title counts ten times the body.
BM25 = "bm25(kb_fts, 10.0, 4.0, 1.0)"


@dataclass(frozen=True)
class Alternative:
    term: str
    prefix: bool = False


Plan = list[list[Alternative]]  # AND of ORs


def _fts5(plan: Plan, any_term: bool = False) -> str:
    def one(a: Alternative) -> str:
        return f'"{a.term}"' + ("*" if a.prefix else "")

    joint = " OR " if any_term else " AND "
    return joint.join("(" + " OR ".join(one(a) for a in group) + ")" for group in plan)


def _tsquery(plan: Plan, any_term: bool = False) -> str:
    def one(a: Alternative) -> str:
        return a.term + (":*" if a.prefix else "")

    joint = " | " if any_term else " & "
    return joint.join("(" + " | ".join(one(a) for a in group) + ")" for group in plan)


def _filters(topic: str | None, today: date | None) -> tuple[str, dict[str, object]]:
    where = ["NOT a.archived"]
    params: dict[str, object] = {}
    if topic is not None:
        where.append("a.topic = :topic")
        params["topic"] = topic
    if today is not None:
        where.append("(a.valid_from IS NULL OR a.valid_from <= :today)")
        where.append("(a.valid_to IS NULL OR a.valid_to >= :today)")
        params["today"] = today
    return " AND ".join(where), params


def ranked_ids(
    session: Session, plan: Plan, *, topic: str | None, today: date | None, limit: int, any_term: bool = False
) -> list[tuple[int, float]]:
    """(article id, score) best first; the score is larger for better matches on both backends.
    `any_term`: an article matching some of the terms is enough (a citizen's whole message is
    the query: requiring every word would match nothing); the ranking still prefers more."""
    if not plan or any(not group for group in plan):
        return []
    where, params = _filters(topic, today)
    params["limit"] = limit
    if session.get_bind().dialect.name == "postgresql":
        params["q"] = _tsquery(plan, any_term)
        sql = (
            "SELECT a.id, ts_rank(a.search_vector, q) AS score "
            "FROM kb_articles a, to_tsquery('italian', :q) q "
            f"WHERE a.search_vector @@ q AND {where} ORDER BY score DESC, a.id LIMIT :limit"
        )
    else:
        params["q"] = _fts5(plan, any_term)
        sql = (
            f"SELECT a.id, -{BM25} AS score FROM kb_fts JOIN kb_articles a ON a.id = kb_fts.rowid "
            f"WHERE kb_fts MATCH :q AND {where} ORDER BY {BM25}, a.id LIMIT :limit"
        )
    return [(int(row[0]), float(row[1])) for row in session.execute(text(sql), params)]


def index_article(session: Session, article_id: int, title: str, keywords: str, body: str) -> None:
    """Keep SQLite's FTS5 row in step with the article (PostgreSQL's vector is a generated column)."""
    if session.get_bind().dialect.name == "postgresql":
        return
    session.execute(text("DELETE FROM kb_fts WHERE rowid = :id"), {"id": article_id})
    session.execute(
        text("INSERT INTO kb_fts (rowid, title, keywords, body) VALUES (:id, :title, :keywords, :body)"),
        {"id": article_id, "title": title, "keywords": keywords, "body": body},
    )
