"""Web requests in the console: the list with each commitment's state, one request with the
citizen's words, the reply editor (knowledge-base suggestions, the Gulpease index of the draft
with a warning under `web_requests.readability_threshold`), "Invia risposta" and "Passa al
secondo livello".

Web requests are the line's shared work, like the queue: every operator may open and answer
them, not only the ones assigned to them; each view is written to the access log.
"""

from __future__ import annotations

from aiohttp import web

from ivr.console.web import (
    Invalid,
    Routes,
    audit,
    form,
    int_param,
    now,
    redirect,
    render,
    services,
    text,
    unless_store_away,
    user_of,
)
from ivr.readability import gulpease, level
from ivr.webrequests import service
from ivr.webrequests.articles import Suggestion

routes = Routes()
PAGE = 100
REPLY_NOT_SENT = "La risposta non è stata inviata al cittadino."
ESCALATION_NOT_DONE = "La richiesta non è stata passata al secondo livello e il cittadino non è stato avvisato."


@routes.get("/requests", "operator")
async def request_list(request: web.Request) -> web.StreamResponse:
    q = request.query
    status = q.get("status") if q.get("status") in service.STATUSES else None
    level_wanted = {"1": 1, "2": 2}.get(q.get("level", ""))
    page = max(0, int(q["page"])) if q.get("page", "").isdigit() else 0
    svc = services(request)
    found = await svc.requests.requests.listing(status=status, level=level_wanted, limit=PAGE + 1, offset=page * PAGE)
    return render(
        request,
        "requests.html",
        requests=found[:PAGE],
        more=len(found) > PAGE,
        page=page,
        status_filter=status,
        level=level_wanted,
        statuses=service.STATUSES,
        at=now(request),
    )


async def _view(request: web.Request) -> service.RequestView:
    ticket_id = int_param(request.match_info["id"], "ticket")
    try:
        return await services(request).requests.requests.view(ticket_id)
    except service.RequestError:
        raise web.HTTPNotFound(text="nessuna richiesta web con questo numero") from None


async def _suggestions(request: web.Request, view: service.RequestView) -> list[Suggestion]:
    svc = services(request)
    limit = svc.settings.web_requests.suggestions
    if limit == 0:
        return []
    return await svc.articles.suggest(f"{view.subject}\n{view.message}", view.topic or None, limit)


async def _editor(
    request: web.Request,
    view: service.RequestView,
    *,
    draft: str = "",
    article: Suggestion | None = None,
    error: str | None = None,
    status: int = 200,
) -> web.Response:
    svc = services(request)
    threshold = svc.settings.web_requests.readability_threshold
    index = gulpease(draft) if draft else None
    return render(
        request,
        "request.html",
        status=status,
        r=view,
        draft=draft,
        article=article,
        suggestions=await _suggestions(request, view) if view.replied_at is None else [],
        index=index,
        index_level=level(index),
        threshold=threshold,
        hard=index is not None and index < threshold,
        error=error,
        at=now(request),
    )


@routes.get("/requests/{id}", "operator")
async def request_page(request: web.Request) -> web.StreamResponse:
    view = await _view(request)
    await audit(request, "request_view", "ticket", view.ticket_id)
    article = None
    wanted = request.query.get("article", "")
    if wanted.isdigit():
        article = next((a for a in await _suggestions(request, view) if a.id == int(wanted)), None)
        if article is None:
            return await _editor(request, view, error="Questo articolo non è tra quelli suggeriti.", status=404)
    return await _editor(request, view, draft=article.body if article else "", article=article)


@routes.post("/requests/{id}/reply", "operator")
async def reply(request: web.Request) -> web.StreamResponse:
    view = await _view(request)
    data = await form(request)
    svc = services(request)
    article, draft = None, ""
    try:
        draft = text(data, "reply", limit=20_000) or ""
        chosen = text(data, "article", limit=20)
        if chosen is not None and chosen.isdigit():
            article = next((a for a in await _suggestions(request, view) if a.id == int(chosen)), None)
        if data.get("action") == "check":
            return await _editor(request, view, draft=draft, article=article)
        if len(draft) < 2:
            raise Invalid("Scriva la risposta prima di inviarla.")
        who = user_of(request).operator_login or user_of(request).login
        used = (article.id, article.title) if article else None
        with unless_store_away(REPLY_NOT_SENT):
            _view_after, sent = await svc.requests.answer(view.ticket_id, draft, who, article=used)
    except (Invalid, service.RequestError) as exc:
        return await _editor(request, view, draft=draft, article=article, error=str(exc), status=400)
    await audit(request, "request_reply", "ticket", view.ticket_id, article=article.id if article else None)
    raise redirect(f"/console/requests/{view.ticket_id}", "request_replied" if sent else "request_replied_unsent")


@routes.post("/requests/{id}/escalate", "operator")
async def escalate(request: web.Request) -> web.StreamResponse:
    view = await _view(request)
    data = await form(request)
    try:
        note = text(data, "note", limit=4000)
        if note is None:
            raise Invalid("Scriva perché la richiesta ha bisogno del secondo livello.")
        who = user_of(request).operator_login or user_of(request).login
        with unless_store_away(ESCALATION_NOT_DONE):
            _after, sent = await services(request).requests.escalate(view.ticket_id, note, who)
    except (Invalid, service.RequestError) as exc:
        return await _editor(request, view, error=str(exc), status=400)
    await audit(request, "request_escalate", "ticket", view.ticket_id)
    raise redirect(f"/console/requests/{view.ticket_id}", "request_escalated" if sent else "request_escalated_unsent")
