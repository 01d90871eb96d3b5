"""Running the line: operators, closures (the "closed now" switch and scheduled ones) and quality
campaigns. Supervisors and administrators; every change is audited."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from aiohttp import web

from ivr.acd.operators import OperatorError
from ivr.console.web import (
    Invalid,
    Routes,
    address,
    audit,
    form,
    int_param,
    now,
    redirect,
    render,
    services,
    text,
    user_of,
)
from ivr.recordings.campaigns import CampaignError
from ivr.tickets.audit import Actor
from ivr.tickets.status import QueueResult

routes = Routes()


async def _audit(request: web.Request, action: str, kind: str, object_id: object, **detail: Any) -> None:
    await services(request).accounts.audit(
        user_of(request),
        action,
        now(request),
        kind=kind,
        object_id=object_id,
        address=address(request),
        detail=detail or None,
    )


# --- operators ----------------------------------------------------------------------------------


async def _operators_page(request: web.Request, status: int = 200, **extra: Any) -> web.Response:
    svc = services(request)
    stored = await svc.operators.directory.all(False)
    agents = svc.queue.agents
    rows = [(o, agents.get(o.login)) for o in stored]
    active = {o.login for o in await svc.operators.directory.all()}
    return render(request, "operators.html", status=status, rows=rows, active=active, **extra)


@routes.get("/operators", "supervisor")
async def operators(request: web.Request) -> web.StreamResponse:
    return await _operators_page(request)


def _skills(value: str | None) -> list[str]:
    return [s.strip() for s in (value or "").split(",") if s.strip()]


@routes.post("/operators", "supervisor")
async def add_operator(request: web.Request) -> web.StreamResponse:
    data = await form(request)
    svc = services(request)
    try:
        login = text(data, "login", limit=32, required=True) or ""
        name = text(data, "name", limit=128) or login
        phone = text(data, "phone", limit=32)
        softphone = data.get("softphone") == "on"
        info, secret = await svc.operators.directory.add(
            login,
            name,
            now=now(request),
            softphone=softphone,
            outside_number=phone,
            skills=_skills(text(data, "skills", limit=200)),
        )
    except (Invalid, OperatorError) as exc:
        return await _operators_page(request, 400, error=str(exc))
    await svc.operators.resync()
    await _audit(request, "operator_add", "operator", info.login)
    return await _operators_page(request, created=info.login, secret=secret)


@routes.post("/operators/{login}", "supervisor")
async def update_operator(request: web.Request) -> web.StreamResponse:
    login = request.match_info["login"]
    data = await form(request)
    svc = services(request)
    try:
        await svc.operators.directory.update(
            login,
            name=text(data, "name", limit=128),
            outside_number=text(data, "phone", limit=32) or "",
            skills=_skills(text(data, "skills", limit=200)),
            active=data.get("active") == "on",
        )
    except (Invalid, OperatorError) as exc:
        return await _operators_page(request, 400, error=str(exc))
    await svc.operators.resync()
    await _audit(request, "operator_update", "operator", login)
    raise redirect("/console/operators", "operator_saved")


@routes.post("/operators/{login}/password", "supervisor")
async def operator_password(request: web.Request) -> web.StreamResponse:
    login = request.match_info["login"]
    svc = services(request)
    try:
        secret = await svc.operators.directory.set_password(login)
    except OperatorError as exc:
        return await _operators_page(request, 400, error=str(exc))
    await svc.operators.resync()
    await _audit(request, "operator_sip_password", "operator", login)
    return await _operators_page(request, created=login, secret=secret)


@routes.post("/operators/{login}/presence", "supervisor")
async def operator_presence(request: web.Request) -> web.StreamResponse:
    login = request.match_info["login"]
    data = await form(request)
    wanted = text(data, "presence", limit=16)
    svc = services(request)
    if wanted not in ("available", "paused", "logged_out") or login not in svc.queue.agents:
        raise web.HTTPBadRequest(text="operatore o stato non valido")
    reason = (text(data, "reason", limit=64) or "Supervisore") if wanted == "paused" else None
    await svc.queue.set_presence(login, wanted, reason)
    await _audit(request, "operator_presence", "operator", login, presence=wanted)
    raise redirect("/console/operators", "presence")


# --- closures -----------------------------------------------------------------------------------


async def _closures_page(request: web.Request, status: int = 200, **extra: Any) -> web.Response:
    svc = services(request)
    at = now(request)
    current = await svc.closures.closures.current(at)
    line = svc.closures.calendar.status(at, current)
    rows = await svc.closures.closures.rows(at)
    in_effect = [r for r in rows if r.starts_at <= at]
    return render(
        request,
        "closures.html",
        status=status,
        line=line,
        rows=rows,
        in_effect=in_effect,
        at=at,
        configured=svc.closures.configured,
        week=svc.closures.calendar.describe_week(),
        next_opening=svc.closures.calendar.next_opening(at),
        callback_enabled=svc.settings.queue.callback_enabled,
        **extra,
    )


@routes.get("/closures", "supervisor")
async def closures(request: web.Request) -> web.StreamResponse:
    return await _closures_page(request)


def _local(value: str | None, request: web.Request) -> datetime | None:
    if not value:
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise Invalid(f"data e ora non valide: {value!r}") from None
    return moment.replace(tzinfo=services(request).settings.service.tz) if moment.tzinfo is None else moment


# What an emergency closure does with the callers on the line waiting (the form's choice).
SERVE = None
WAITING: dict[str, QueueResult | None] = {
    "serve": SERVE,
    "voicemail": QueueResult.CLOSED,
    "callback": QueueResult.CALLBACK,
}


@routes.post("/closures", "supervisor")
async def add_closure(request: web.Request) -> web.StreamResponse:
    data = await form(request)
    svc = services(request)
    at = now(request)
    try:
        reason = text(data, "reason", limit=200, required=True) or ""
        message = text(data, "message", limit=500)
        closed_now = data.get("mode") == "now"
        by = Actor(user=user_of(request), address=address(request))
        if closed_now:
            choice = str(data.get("waiting") or "serve")
            if choice not in WAITING:
                raise Invalid("scelta non valida per chi è in attesa")
            waiting = WAITING[choice]
            closure_id, _end = await svc.closing.close_now(
                reason, message, at=at, by=by, until_ended=data.get("until_ended") == "1"
            )
            if waiting is not SERVE:  # those on the line now: a message or a callback, not the wait
                sent = svc.queue.distributor.send_away(waiting)
                await audit(request, "closure_waiting", "closure", closure_id, to=str(waiting), callers=sent)
        else:
            start = _local(text(data, "from", limit=32), request)
            end = _local(text(data, "to", limit=32), request)
            if start is None or end is None:
                raise Invalid("indica inizio e fine della chiusura")
            await svc.closing.add(start, end, reason, message, at=at, by=by)
    except (Invalid, ValueError) as exc:
        return await _closures_page(request, 400, error=str(exc))
    raise redirect("/console/closures", "closure_saved")


@routes.post("/closures/{id}/end", "supervisor")
async def end_closure(request: web.Request) -> web.StreamResponse:
    closure_id = int_param(request.match_info["id"], "closure")
    svc = services(request)
    await svc.closing.end(closure_id, at=now(request), by=Actor(user=user_of(request), address=address(request)))
    raise redirect("/console/closures", "closure_ended")


# --- quality campaigns --------------------------------------------------------------------------


async def _campaigns_page(request: web.Request, status: int = 200, **extra: Any) -> web.Response:
    svc = services(request)
    today = now(request).astimezone(svc.settings.service.tz).date()
    runtime = await services(request).campaigns.all()
    return render(
        request,
        "campaigns.html",
        status=status,
        configured=svc.settings.campaigns,
        runtime=runtime,
        today=today,
        prompts=sorted(n for n in svc.prompt_names() if "consent" in n),
        **extra,
    )


@routes.get("/campaigns", "supervisor")
async def campaigns(request: web.Request) -> web.StreamResponse:
    return await _campaigns_page(request)


@routes.post("/campaigns", "supervisor")
async def add_campaign(request: web.Request) -> web.StreamResponse:
    data = await form(request)
    svc = services(request)
    try:
        ident = text(data, "id", limit=64, required=True) or ""
        name = text(data, "name", limit=200, required=True) or ""
        first = date.fromisoformat(text(data, "from", limit=10, required=True) or "")
        last = date.fromisoformat(text(data, "to", limit=10, required=True) or "")
        notice = text(data, "notice_prompt", limit=64) or "consent_notice"
        if notice not in svc.prompt_names():
            raise Invalid(f"annuncio sconosciuto: {notice}")
        if any(c.id == ident for c in svc.settings.campaigns):
            raise Invalid(f"la campagna {ident!r} è già nella configurazione")
        by = user_of(request).login
        await services(request).campaigns.add(ident, name, first, last, now(request), notice_prompt=notice, by=by)
    except (Invalid, CampaignError, ValueError) as exc:
        return await _campaigns_page(request, 400, error=str(exc))
    await _audit(request, "campaign_add", "campaign", ident, start=str(first), end=str(last))
    raise redirect("/console/campaigns", "campaign_saved")


@routes.post("/campaigns/{id}/end", "supervisor")
async def end_campaign(request: web.Request) -> web.StreamResponse:
    ident = request.match_info["id"]
    svc = services(request)
    today = now(request).astimezone(svc.settings.service.tz).date()
    try:
        await services(request).campaigns.end(ident, today)
    except CampaignError as exc:
        return await _campaigns_page(request, 400, error=str(exc))
    await _audit(request, "campaign_end", "campaign", ident)
    raise redirect("/console/campaigns", "campaign_ended")
