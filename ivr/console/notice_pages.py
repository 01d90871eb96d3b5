"""Service notices from the console: a supervisor types what every caller hears after the
welcome until a time they choose; it is synthesised at once, audited, and can be lifted early."""

from __future__ import annotations

from datetime import datetime, time, timedelta
from typing import Any

from aiohttp import web

from ivr.console.web import Invalid, Routes, address, form, int_param, now, redirect, render, services, text, user_of
from ivr.hours.notices import LONGEST_TEXT, NoticeDesk
from ivr.tickets.audit import Actor

routes = Routes()
LONGEST_DAYS = 31  # a notice is for an event, not a standing message: the flow's prompts are for that


def _desk(request: web.Request) -> NoticeDesk:
    found = services(request).notices
    if found is None:
        raise web.HTTPNotFound(text="gli avvisi di servizio non sono attivi")
    return found


async def _page(request: web.Request, status: int = 200, **extra: Any) -> web.Response:
    desk = _desk(request)
    at = now(request)
    rows = await desk.notices.rows()
    tz = services(request).settings.service.tz
    tonight = datetime.combine(at.astimezone(tz).date(), time(23, 59), tz)
    return render(request, "notices.html", status=status, rows=rows, at=at, default_until=tonight,
                  longest=LONGEST_TEXT, **extra)  # fmt: skip


@routes.get("/notices", "supervisor")
async def notices(request: web.Request) -> web.StreamResponse:
    return await _page(request)


@routes.post("/notices", "supervisor")
async def add_notice(request: web.Request) -> web.StreamResponse:
    data = await form(request)
    at = now(request)
    tz = services(request).settings.service.tz
    try:
        said = text(data, "text", limit=LONGEST_TEXT, required=True) or ""
        raw = text(data, "until", limit=32, required=True) or ""
        try:
            until = datetime.fromisoformat(raw)
        except ValueError:
            raise Invalid(f"data e ora non valide: {raw!r}") from None
        until = until.replace(tzinfo=tz) if until.tzinfo is None else until
        if until <= at:
            raise Invalid("l'avviso deve finire nel futuro")
        if until - at > timedelta(days=LONGEST_DAYS):
            raise Invalid(f"al massimo {LONGEST_DAYS} giorni: per un messaggio stabile si cambia il flusso")
        by = Actor(user=user_of(request), address=address(request))
        await _desk(request).add(said, until, at=at, by=by)
    except (Invalid, ValueError) as exc:
        return await _page(request, 400, error=str(exc))
    raise redirect("/console/notices", "notice_saved")


@routes.post("/notices/{id}/end", "supervisor")
async def end_notice(request: web.Request) -> web.StreamResponse:
    notice_id = int_param(request.match_info["id"], "notice")
    by = Actor(user=user_of(request), address=address(request))
    await _desk(request).end(notice_id, at=now(request), by=by)
    raise redirect("/console/notices", "notice_ended")
