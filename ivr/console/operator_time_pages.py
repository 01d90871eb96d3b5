"""Operator time for supervisors: each operator's day (logged in, talking, wrap-up, paused by
reason, on hold, offers answered and missed, average handling time) and its CSV, the same report
as `ivr stats operator-time` (ivr.stats.operator_time)."""

from __future__ import annotations

from datetime import date

from aiohttp import web

from ivr.console.web import Routes, csv_download, now, render, services
from ivr.stats.operator_time import OperatorDay, operator_days, to_csv

routes = Routes()
LONGEST = 92  # days in one report: a quarter


class BadRange(ValueError):
    pass


def _range(request: web.Request) -> tuple[date, date]:
    svc = services(request)
    today = now(request).astimezone(svc.settings.service.tz).date()
    try:
        last = date.fromisoformat(request.query["a"]) if request.query.get("a") else today
        first = date.fromisoformat(request.query["da"]) if request.query.get("da") else last
    except ValueError:
        raise BadRange("Date non valide: usi il formato AAAA-MM-GG.") from None
    if first > last:
        raise BadRange(f"Il {first:%d/%m/%Y} viene dopo il {last:%d/%m/%Y}.")
    if (last - first).days >= LONGEST:
        raise BadRange(f"Al massimo {LONGEST} giorni per volta.")
    return first, last


async def _rows(request: web.Request, first: date, last: date) -> list[OperatorDay]:
    svc = services(request)
    tz, moment = svc.settings.service.tz, now(request)
    return await svc.tickets.run_read(lambda session: operator_days(session, first, last, tz, moment))


@routes.get("/operators/time", "supervisor")
async def operator_time(request: web.Request) -> web.StreamResponse:
    try:
        first, last = _range(request)
    except BadRange as exc:
        return render(request, "error.html", status=400, error=str(exc), back="/console/operators/time")
    rows = await _rows(request, first, last)
    return render(request, "operator_time.html", rows=rows, first=first, last=last)


@routes.get("/operators/time.csv", "supervisor")
async def operator_time_csv(request: web.Request) -> web.StreamResponse:
    try:
        first, last = _range(request)
    except BadRange as exc:
        raise web.HTTPBadRequest(text=str(exc)) from None
    rows = await _rows(request, first, last)
    return csv_download(to_csv(rows), f"tempo-operatori-{first.isoformat()}-{last.isoformat()}.csv")
