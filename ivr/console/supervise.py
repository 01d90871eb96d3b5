"""The supervisor's view of the line: the live wallboard, the tickets with their commitments,
one ticket with its timeline, and the callback workflow on any ticket."""

from __future__ import annotations

import asyncio
from datetime import date, timedelta
from pathlib import Path
from typing import Any

from aiohttp import web

from ivr.acd.agents import AgentState
from ivr.console import queries
from ivr.console.auth import session_alive
from ivr.console.live import stream
from ivr.console.web import (
    Invalid,
    Routes,
    address,
    audit,
    can_see_ticket,
    form,
    fragment,
    int_param,
    now,
    redirect,
    render,
    services,
    text,
    user_of,
)
from ivr.phonemask import mask_number
from ivr.recordings.paths import audio_dirs, confined
from ivr.stats.queries import Scope
from ivr.stats.report import Figures, build_report
from ivr.supervision.modes import NAMES, Mode
from ivr.tickets.audit import Actor
from ivr.voicemail import messages

routes = Routes()
STATE_ORDER = [str(s) for s in (AgentState.AVAILABLE, AgentState.OFFERED, AgentState.BUSY, AgentState.WRAP_UP)]
STATE_ORDER += [str(AgentState.PAUSED), str(AgentState.LOGGED_OUT)]


_today: dict[int, tuple[float, Figures]] = {}  # per console: today's figures and when they were read
TODAY_TTL_S = 5.0


async def today_figures(request: web.Request) -> Figures:
    """Today's figures from the statistics package, read at most every few seconds however many
    wallboards are open."""
    svc = services(request)
    stamp = svc.clock.monotonic()
    cached = _today.get(id(svc))
    if cached is not None and stamp - cached[0] < TODAY_TTL_S:
        return cached[1]
    at = svc.clock.now()
    day = svc.queue.day_of(at)
    scope = Scope(day, day, "day", None, at, service_level_s=svc.settings.stats.service_level_s)
    figures = (await build_report(svc.tickets.run_read, scope)).total
    _today[id(svc)] = (stamp, figures)
    return figures


async def numbers_in_full(request: web.Request) -> bool:
    """Whether this wallboard shows numbers in full: only with `console.wallboard_show_numbers`,
    and then the supervisor's view is audited first (one entry per user per
    `console.listen_audit_window_min`, however often the page or its stream is opened; a failed
    audit write means no page)."""
    svc = services(request)
    console = svc.settings.console
    if not console.wallboard_show_numbers:
        return False
    window = timedelta(minutes=console.listen_audit_window_min)
    await svc.accounts.audit_once(
        user_of(request), "wallboard_numbers", now(request), window=window, kind="wallboard", object_id="numbers",
        address=address(request),
    )  # fmt: skip
    return True


async def board(request: web.Request, *, full_numbers: bool = False) -> dict[str, Any]:
    """What the wallboard shows. Callers' and callback numbers are masked unless `full_numbers`:
    the board is often on a screen the whole room, and its visitors, can read."""
    svc = services(request)
    at = svc.clock.now()
    snap = svc.queue.snapshot()
    target = svc.settings.stats.service_level_s
    level = await today_figures(request)
    sla = await svc.queries.sla_counts()
    by_state = {state: 0 for state in STATE_ORDER}
    for op in snap["operators"]:
        by_state[op["state"]] = by_state.get(op["state"], 0) + 1
    waiting = [w if full_numbers else {**w, "caller": mask_number(w["caller"])} for w in snap["waiting"]]
    return {
        "waiting": waiting,
        "in_person": snap.get("in_person", len(snap["waiting"])),
        "callbacks": snap.get("callbacks", 0),
        "longest_wait_s": snap["longest_wait_s"],
        "operators": snap["operators"],
        "by_state": by_state,
        "admitted": await svc.queue.admitted(at),
        "cap": svc.queue.daily_cap,
        "level": level,
        "target_s": target,
        "sla": sla,
        "calls": svc.queue.calls_in_progress(),
        "alerts": svc.alerts.view() if svc.alerts is not None else None,
        **supervision_board(request, snap["operators"]),
    }


def supervision_board(request: web.Request, operators: list[dict[str, Any]]) -> dict[str, Any]:
    """Who is being followed and how, and which operators are in a conversation one may join
    (None when supervision is off: the column is not shown)."""
    svc = services(request)
    supervision = svc.supervision
    if supervision is None or not supervision.settings.enabled:
        return {"supervision": None}
    talking = set(svc.control.calls) if svc.control is not None else set()
    for op in operators:
        op["live"] = op["login"] in talking
    return {
        "supervision": supervision.views(),
        "may_supervise": supervision.may(user_of(request).role),
        "modes": [(str(m), NAMES[m]) for m in Mode],
    }


@routes.get("/wallboard", "supervisor")
async def wallboard(request: web.Request) -> web.StreamResponse:
    data = await board(request, full_numbers=await numbers_in_full(request))
    return render(request, "wallboard.html", board_html=fragment(request, "_wallboard.html", b=data))


@routes.get("/wallboard/events", "supervisor")
async def wallboard_events(request: web.Request) -> web.StreamResponse:
    full = await numbers_in_full(request)

    async def compute() -> dict[str, Any]:
        data = await board(request, full_numbers=full)
        return {"board_html": fragment(request, "_wallboard.html", b=data)}

    return await stream(request, services(request).live, compute, lambda: session_alive(request), min_interval_s=1.0)


def _filter(request: web.Request) -> queries.TicketFilter:
    q = request.query

    def pick(name: str, allowed: tuple[str, ...]) -> str | None:
        value = q.get(name) or None
        return value if value in allowed else None

    day = None
    if q.get("day"):
        try:
            day = date.fromisoformat(q["day"])
        except ValueError:
            day = None
    page = max(0, int(q["page"])) if q.get("page", "").isdigit() else 0
    return queries.TicketFilter(
        status=pick("status", ("new", "assigned", "called_back", "closed", "resolved")),
        sla=pick("sla", ("near", "overdue", "met", "open")),
        kind=pick("kind", ("phone_callback", "web_reply", "web_second")),
        channel=pick("channel", ("phone", "web")),
        level={"1": 1, "2": 2}.get(q.get("level", "")),
        assigned=(q.get("assigned") or "").strip()[:32] or None,
        caller=(q.get("caller") or "").strip()[:32] or None,
        day=day,
        offset=page * 100,
    )


@routes.get("/tickets", "supervisor")
async def tickets(request: web.Request) -> web.StreamResponse:
    f = _filter(request)
    svc = services(request)
    found, total = await svc.queries.tickets(f)
    operators = await svc.operators.directory.all()
    return render(
        request,
        "tickets.html",
        tickets=found,
        total=total,
        f=f,
        page=f.offset // 100,
        operators=operators,
        query=dict(request.query),
    )


@routes.get("/tickets/{id}", "operator")
async def ticket(request: web.Request) -> web.StreamResponse:
    user = user_of(request)
    svc = services(request)
    ticket_id = int_param(request.match_info["id"], "ticket")
    found = await svc.tickets.get(ticket_id)
    if found is None:
        raise web.HTTPNotFound(text="nessuna pratica con questo numero")
    if not can_see_ticket(user, found.operator_id, found.assigned_to):
        raise web.HTTPForbidden(text="questa pratica non è tua")
    recordings = await svc.queries.recordings_of(ticket_id)
    message_id = await svc.queries.message_of_ticket(ticket_id)
    operators = await svc.operators.directory.all() if user.at_least("supervisor") else []
    names = {o.id: o.login for o in await svc.operators.directory.all(False)}
    await audit(request, "ticket_view", "ticket", ticket_id)
    return render(
        request,
        "ticket.html",
        t=found,
        recordings=[r for r in recordings if r.kind == "call"],
        message_id=message_id,
        operators=operators,
        operator_name=names.get(found.operator_id or -1),
        reason_label=svc.settings.reasons.label(found.call_reason) if found.call_reason else None,
    )


def _back(request: web.Request, ticket_id: int, data: Any) -> str:
    target = data.get("back")
    if isinstance(target, str) and target.startswith("/console/") and not target.startswith("//"):
        return target
    return f"/console/tickets/{ticket_id}"


def _actor(request: web.Request) -> Actor:
    return Actor(user=user_of(request), address=address(request))


@routes.post("/tickets/{id}/assign", "supervisor")
async def assign(request: web.Request) -> web.StreamResponse:
    ticket_id = int_param(request.match_info["id"], "ticket")
    data = await form(request)
    svc = services(request)
    operator = text(data, "operator", limit=32)
    logins = {o.login for o in await svc.operators.directory.all()}
    at = now(request)
    try:
        if operator not in logins:
            raise Invalid("scegli un operatore attivo")
        assert operator is not None
        await svc.callback_desk.assign(ticket_id, operator, at=at, by=_actor(request))
    except (Invalid, messages.MessageError) as exc:
        return render(request, "error.html", status=400, error=str(exc), back=_back(request, ticket_id, data))
    raise redirect(_back(request, ticket_id, data), "assigned")


@routes.post("/tickets/{id}/callback-result", "operator")
async def callback_result(request: web.Request) -> web.StreamResponse:
    user = user_of(request)
    ticket_id = int_param(request.match_info["id"], "ticket")
    svc = services(request)
    found = await svc.tickets.get(ticket_id)
    if found is None:
        raise web.HTTPNotFound(text="nessuna pratica con questo numero")
    if not user.at_least("supervisor") and (user.operator_login is None or found.assigned_to != user.operator_login):
        raise web.HTTPForbidden(text="questa richiamata non è assegnata a te")
    data = await form(request)
    at = now(request)
    who = user.operator_login or user.login
    try:
        result = text(data, "result", limit=16, required=True) or ""
        note = text(data, "note", limit=2000)
        await svc.callback_desk.result(ticket_id, result, at=at, operator=who, note=note, by=_actor(request))
    except (Invalid, messages.MessageError) as exc:
        return render(request, "error.html", status=400, error=str(exc), back=_back(request, ticket_id, data))
    raise redirect(_back(request, ticket_id, data), "attempt")


@routes.post("/tickets/{id}/close", "supervisor")
async def close(request: web.Request) -> web.StreamResponse:
    ticket_id = int_param(request.match_info["id"], "ticket")
    data = await form(request)
    at = now(request)
    try:
        note = text(data, "note", limit=2000)
        await services(request).callback_desk.close(ticket_id, at=at, note=note, by=_actor(request))
    except (Invalid, messages.MessageError) as exc:
        return render(request, "error.html", status=400, error=str(exc), back=_back(request, ticket_id, data))
    raise redirect(_back(request, ticket_id, data), "closed")


@routes.get("/recordings/{id}/audio", "supervisor")
async def recording_audio(request: web.Request) -> web.StreamResponse:
    """A call recorded in a quality campaign: supervisors only, and every listen is audited."""
    recording_id = int_param(request.match_info["id"], "recording")
    row = await services(request).queries.recording(recording_id)
    if row is None or row.kind != "call":
        raise web.HTTPNotFound(text="registrazione non trovata")
    dirs = audio_dirs(services(request).settings)
    kept = confined((row.web_path or row.path,), dirs, what=f"recording {recording_id}")
    path = kept[0] if kept else None
    if path is None or not await asyncio.to_thread(path.is_file):
        raise web.HTTPNotFound(text="il file della registrazione non è disponibile")
    await audit_listen(request, "recording_listen", "recording", recording_id, path)
    return web.FileResponse(path, headers={"Cache-Control": "no-store", "Content-Disposition": "inline"})


async def audit_listen(request: web.Request, action: str, kind: str, object_id: int, path: Path) -> None:
    """Written before a single byte is served, whatever the Range header asks (first byte or
    not, suffix, several ranges, nonsense): one entry per user and file per window, not one per
    range the player asks for while it plays."""
    window = timedelta(minutes=services(request).settings.console.listen_audit_window_min)
    await services(request).accounts.audit_once(
        user_of(request),
        action,
        now(request),
        window=window,
        kind=kind,
        object_id=object_id,
        address=address(request),
        detail={"file": path.name, "download": request.query.get("download") == "1"},
    )
