"""The missed-calls work list: calls that reached nobody and left no message, for supervisors
to give to an operator (who calls back from the desk) and to mark done. Numbers are masked on
the list: the operator the call is given to sees it on the desk, where it is dialled."""

from __future__ import annotations

from datetime import date

from aiohttp import web

from ivr.acd.missed import REASONS, MissedError
from ivr.console.web import Routes, address, form, int_param, now, redirect, render, services, text, user_of

routes = Routes()


def _day(value: str | None) -> date | None:
    try:
        return date.fromisoformat(value) if value else None
    except ValueError:
        return None


@routes.get("/missed", "supervisor")
async def work_list(request: web.Request) -> web.StreamResponse:
    q = request.query
    reason = q.get("reason") if q.get("reason") in REASONS else None
    day = _day(q.get("day"))
    done = q.get("done") == "1"
    svc = services(request)
    found = await svc.missed.listing(reason=reason, day=day, done=done)
    operators = await svc.operators.directory.all()
    return render(
        request,
        "missed.html",
        found=found,
        counts=await svc.missed.counts(),
        reasons=REASONS,
        reason=reason,
        day=day.isoformat() if day else "",
        done=done,
        operators=operators,
    )


@routes.post("/missed/{id}/assign", "supervisor")
async def assign(request: web.Request) -> web.StreamResponse:
    missed_id = int_param(request.match_info["id"], "chiamata")
    login = text(await form(request), "operator", limit=32, required=True)
    assert login is not None
    svc = services(request)
    if login not in {o.login for o in await svc.operators.directory.all()}:
        return render(request, "error.html", status=400, error="operatore sconosciuto", back="/console/missed")
    try:
        found = await svc.missed.assign(missed_id, login)
    except MissedError as exc:
        return render(request, "error.html", status=409, error=str(exc), back="/console/missed")
    await svc.accounts.audit(
        user_of(request), "missed_assign", now(request), kind="ticket", object_id=found.ticket_id,
        address=address(request), detail={"operator": login},
    )  # fmt: skip
    raise redirect("/console/missed", "missed_assigned")


@routes.post("/missed/{id}/done", "supervisor")
async def mark_done(request: web.Request) -> web.StreamResponse:
    missed_id = int_param(request.match_info["id"], "chiamata")
    user = user_of(request)
    svc = services(request)
    try:
        found = await svc.missed.done(missed_id, user.login, now(request))
    except MissedError as exc:
        return render(request, "error.html", status=404, error=str(exc), back="/console/missed")
    await svc.accounts.audit(
        user, "missed_done", now(request), kind="ticket", object_id=found.ticket_id, address=address(request)
    )
    raise redirect("/console/missed", "missed_done")
