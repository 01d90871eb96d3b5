"""The knowledge base in the console: operators read and search it; supervisors write it (editor
with a live preview and the Gulpease index), see each article's versions, and archive.

The preview is rendered here, by the same safe Markdown renderer as the article page, so what a
supervisor sees while typing is what operators will see.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from aiohttp import web
from multidict import MultiDictProxy

from ivr.console.web import Invalid, Routes, address, form, int_param, now, redirect, render, services, text, user_of
from ivr.knowledge.articles import Article, ArticleDraft, ArticleError, Link, plain_text
from ivr.knowledge.markdown import to_html
from ivr.readability import gulpease, level

routes = Routes()


def _today(request: web.Request) -> date:
    return now(request).astimezone(services(request).settings.service.tz).date()


def _readability(score: float | None, threshold: float) -> dict[str, Any]:
    return {
        "gulpease": None if score is None else round(score),
        "level": None if score is None else level(score),
        "warn": score is not None and score < threshold,
    }


async def _article(request: web.Request) -> Article:
    found = await services(request).knowledge.get(int_param(request.match_info["id"], "article"))
    if found is None:
        raise web.HTTPNotFound(text="nessun articolo con questo numero")
    return found


@routes.get("/kb", "operator")
async def kb_list(request: web.Request) -> web.StreamResponse:
    svc = services(request)
    kb = svc.knowledge
    topic = request.query.get("topic") or None
    if topic not in (None, *kb.topics):
        topic = None
    query = (request.query.get("q") or "").strip()[:200]
    overdue = request.query.get("overdue") == "1"
    today = _today(request)
    if query:
        articles = [h.article for h in await kb.search(query, topic=topic, limit=50, today=today)]
    else:
        articles = await kb.listing(topic=topic, review_overdue_on=today if overdue else None)
    return render(
        request,
        "kb_list.html",
        articles=articles,
        topics=kb.topics,
        topic=topic,
        q=query,
        overdue=overdue,
        today=today,
        threshold=svc.settings.knowledge.min_gulpease,
    )


@routes.get("/kb/search.json", "operator")
async def kb_search_json(request: web.Request) -> web.StreamResponse:
    """The desk's search box: articles valid today, best first."""
    kb = services(request).knowledge
    topic = request.query.get("topic") or None
    query = (request.query.get("q") or "").strip()[:200]
    today = _today(request)
    hits = await kb.search(query, topic=topic if topic in kb.topics else None, limit=10, today=today)
    return web.json_response(
        {
            "query": query,
            "articles": [
                {
                    "id": h.article.id,
                    "title": h.article.title,
                    "topic": h.article.topic,
                    "version": h.article.version,
                    "match": h.match,
                    "review_overdue": h.article.review_overdue(today),
                    "url": f"/console/kb/{h.article.id}",
                }
                for h in hits
            ],
        }
    )


@routes.get("/kb/new", "supervisor")
async def kb_new(request: web.Request) -> web.StreamResponse:
    empty = _fields_of(ArticleDraft("", "", "", services(request).knowledge.topics[0], user_of(request).name))
    return _editor(request, None, empty)


@routes.get("/kb/{id}", "operator")
async def kb_view(request: web.Request) -> web.StreamResponse:
    article = await _article(request)
    return _show(request, article, current=True)


@routes.get("/kb/{id}/versions/{version}", "supervisor")
async def kb_old_version(request: web.Request) -> web.StreamResponse:
    article = await _article(request)
    old = await services(request).knowledge.version(article.id, int_param(request.match_info["version"], "version"))
    if old is None:
        raise web.HTTPNotFound(text="nessuna versione con questo numero")
    return _show(request, old, current=old.version == article.version)


def _show(request: web.Request, article: Article, *, current: bool) -> web.Response:
    svc = services(request)
    return render(
        request,
        "kb_article.html",
        article=article,
        current=current,
        body_html=to_html(article.draft.body),
        readability=_readability(article.gulpease, svc.settings.knowledge.min_gulpease),
        today=_today(request),
    )


@routes.get("/kb/{id}/history", "supervisor")
async def kb_history(request: web.Request) -> web.StreamResponse:
    article = await _article(request)
    versions = await services(request).knowledge.history(article.id)
    return render(request, "kb_history.html", article=article, versions=versions)


@routes.get("/kb/{id}/edit", "supervisor")
async def kb_edit(request: web.Request) -> web.StreamResponse:
    article = await _article(request)
    return _editor(request, article, _fields_of(article.draft), base_version=article.version)


def _fields_of(d: ArticleDraft) -> dict[str, Any]:
    return {
        "slug": d.slug,
        "title": d.title,
        "body": d.body,
        "topic": d.topic,
        "author": d.author,
        "keywords": ", ".join(d.keywords),
        "links": "\n".join(f"{link.label} | {link.url}" for link in d.links),
        "valid_from": d.valid_from.isoformat() if d.valid_from else "",
        "valid_to": d.valid_to.isoformat() if d.valid_to else "",
        "review_on": d.review_on.isoformat() if d.review_on else "",
    }


def _editor(
    request: web.Request,
    article: Article | None,
    fields: dict[str, Any],
    *,
    base_version: int | None = None,
    error: str | None = None,
    status: int = 200,
) -> web.Response:
    svc = services(request)
    threshold = svc.settings.knowledge.min_gulpease
    body = str(fields.get("body") or "")
    return render(
        request,
        "kb_edit.html",
        status=status,
        article=article,
        fields=fields,
        topics=svc.knowledge.topics,
        base_version=base_version,
        error=error,
        preview_html=to_html(body),
        readability=_readability(gulpease(plain_text(body)), threshold),
        threshold=threshold,
    )


def _date(data: MultiDictProxy[Any], name: str) -> date | None:
    value = text(data, name, limit=10)
    if value is None:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise ArticleError(name, f"{value!r} non è una data") from None


def _draft(data: MultiDictProxy[Any]) -> ArticleDraft:
    links = []
    for line in (text(data, "links", limit=5000) or "").splitlines():
        if not line.strip():
            continue
        label, _, url = line.rpartition("|") if "|" in line else (line, "", line)
        links.append(Link(label.strip() or url.strip(), url.strip()))
    keywords = [k.strip() for k in (text(data, "keywords", limit=2000) or "").split(",") if k.strip()]
    return ArticleDraft(
        slug=text(data, "slug", limit=80) or "",
        title=text(data, "title", limit=200) or "",
        body=(text(data, "body", limit=20_000) or "") + "\n",
        topic=text(data, "topic", limit=32) or "",
        author=text(data, "author", limit=128) or "",
        keywords=tuple(keywords),
        links=tuple(links),
        valid_from=_date(data, "valid_from"),
        valid_to=_date(data, "valid_to"),
        review_on=_date(data, "review_on"),
    )


@routes.post("/kb/new", "supervisor")
async def kb_create(request: web.Request) -> web.StreamResponse:
    return await _save(request, None)


@routes.post("/kb/{id}/edit", "supervisor")
async def kb_update(request: web.Request) -> web.StreamResponse:
    return await _save(request, await _article(request))


async def _save(request: web.Request, article: Article | None) -> web.StreamResponse:
    user = user_of(request)
    svc = services(request)
    data = await form(request)
    fields = {k: str(data.get(k, "")) for k in _fields_of(ArticleDraft("", "", "", "", ""))}
    base = data.get("base_version")
    base_version = int(base) if isinstance(base, str) and base.isdigit() else None
    try:
        draft = _draft(data)
        saved = await svc.knowledge.save(
            draft,
            by=user.login,
            at=now(request),
            article_id=None if article is None else article.id,
            base_version=base_version,
        )
    except (ArticleError, Invalid) as exc:
        return _editor(request, article, fields, base_version=base_version, error=str(exc), status=400)
    await svc.accounts.audit(
        user, "kb_save", now(request), kind="kb_article", object_id=saved.id, address=address(request),
        detail={"version": saved.version},
    )  # fmt: skip
    raise redirect(f"/console/kb/{saved.id}", "kb_saved")


@routes.post("/kb/preview", "supervisor")
async def kb_preview(request: web.Request) -> web.StreamResponse:
    """The editor's live preview: the body as operators will see it, and its Gulpease index."""
    data = await form(request)
    body = text(data, "body", limit=20_000) or ""
    threshold = services(request).settings.knowledge.min_gulpease
    return web.json_response({"html": to_html(body), **_readability(gulpease(plain_text(body)), threshold)})


@routes.post("/kb/{id}/archive", "supervisor")
async def kb_archive(request: web.Request) -> web.StreamResponse:
    user = user_of(request)
    svc = services(request)
    article = await _article(request)
    await svc.knowledge.archive(article.id, by=user.login, at=now(request))
    await svc.accounts.audit(
        user, "kb_archive", now(request), kind="kb_article", object_id=article.id, address=address(request)
    )
    raise redirect("/console/kb", "kb_archived")
