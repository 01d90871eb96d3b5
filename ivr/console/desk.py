"""The operator's desk: presence, the call that pops, the ticket form, the wrap-up timer, and
the callbacks given to them."""

from __future__ import annotations

import re
from typing import Any

from aiohttp import web

from ivr.acd.agents import Agent, AgentState
from ivr.acd.callbacks import CallbackError
from ivr.acd.control import CallControl, ControlError
from ivr.console import queries
from ivr.console.accounts import UserInfo
from ivr.console.auth import HEADERS, session_alive
from ivr.console.desk_relay import PATH as RELAY_PATH
from ivr.console.live import stream
from ivr.console.web import (
    Invalid,
    Routes,
    address,
    form,
    fragment,
    int_param,
    now,
    own_call,
    redirect,
    render,
    services,
    session_of,
    text,
    user_of,
    wants_json,
)
from ivr.knowledge.repository import ResolveError
from ivr.settings import Settings
from ivr.tickets.audit import Actor, Audited
from ivr.tickets.escalation import Contact, ContactError, contact
from ivr.tickets.reasons import ReasonError
from ivr.tickets.store import OUTCOMES, OutcomeError, TicketView

routes = Routes()
PAUSE_REASONS = ("Pausa", "Pranzo", "Formazione", "Riunione", "Attività di back office")


def phone_host(settings: Settings, request: web.Request) -> str:
    """The domain of the desk phone's SIP address: `public_host`, else the host the console was
    reached by (the phone's signalling goes to the console's own `/ws` either way)."""
    return settings.asterisk.webrtc.public_host or request.url.host or "localhost"


_HOST = re.compile(r"^[A-Za-z0-9.-]+(:[0-9]{1,5})?$|^\[[0-9A-Fa-f:.]+\](:[0-9]{1,5})?$")


def desk_csp(settings: Settings, request: web.Request) -> str:
    """The console's policy, naming the phone's WebSocket on this same origin (`'self'` covers it
    in current browsers; the explicit wss: source is for those that match `'self'` to http(s) only)."""
    base = HEADERS["Content-Security-Policy"]
    if not settings.asterisk.webrtc.enabled or not _HOST.match(request.host):
        return base
    return f"{base}; connect-src 'self' wss://{request.host}{RELAY_PATH}"


def _agent(request: web.Request, user: UserInfo) -> Agent | None:
    if user.operator_login is None:
        return None
    return services(request).queue.agents.get(user.operator_login)


def state_view(request: web.Request, user: UserInfo) -> dict[str, Any]:
    """The operator's live state (in memory only: cheap to compute on every change)."""
    svc = services(request)
    agent = _agent(request, user)
    if agent is None:
        return {"state": None}
    since = svc.clock.monotonic() - agent.since
    wrap_left = max(0.0, svc.settings.queue.wrap_up_s - since) if agent.state is AgentState.WRAP_UP else None
    callback = services(request).callbacks.current(agent.login)
    watched = svc.supervision.of(agent.login) if svc.supervision is not None else None
    # A supervisor's phone following a call is reserved with that call's ticket: not theirs to file.
    following = svc.supervision.on_phone_of(agent.login) if svc.supervision is not None else None
    return {
        "state": str(agent.state),
        "reason": agent.pause_reason,
        "registered": agent.registered,
        "reachable": agent.reachable,
        "softphone": agent.info.softphone,
        "desk": agent.desk,
        "deferred": None if agent.deferred is None else str(agent.deferred[0]),
        "wrap_left": None if wrap_left is None else round(wrap_left),
        "ticket": None if following is not None else agent.ticket_id,
        "callback": None
        if callback is None
        else {"ticket": callback.ticket_id, "state": callback.state, "result": callback.result},
        "supervised": None if watched is None else watched.view(),
        "following": None if following is None else following.view(),
    }


async def call_card(request: web.Request, ticket: TicketView, *, live: bool = False) -> str:
    """The popped call (or a call still to file): who, why, their previous tickets, the form."""
    previous: list[TicketView] = []
    if ticket.caller_number and ticket.caller_number != "anonymous":
        previous = await services(request).queries.previous_of(ticket.caller_number, ticket.id)
    svc = services(request)
    today = now(request).astimezone(svc.settings.service.tz).date()
    articles = (await svc.knowledge.for_topic(ticket.topic, today))[: svc.settings.knowledge.desk_articles]
    me = user_of(request).operator_login if live else None
    controls = live and svc.control is not None
    topics = sorted(t for t in svc.control.topics() if t != ticket.topic) if svc.control and controls else []
    colleagues = [  # only those logged in may be rung into a call (ivr.acd.control)
        a.info
        for login, a in sorted(svc.queue.agents.items())
        if controls and login != me and a.reachable and a.state is not AgentState.LOGGED_OUT
    ]
    return fragment(
        request,
        "_call_card.html",
        ticket=ticket,
        previous=previous,
        live=live,
        outcomes=OUTCOMES,
        articles=articles,
        today=today,
        controls=controls,
        topics=topics,
        colleagues=colleagues,
        reasons=svc.outcomes.reasons,
        conference=user_of(request).role in svc.settings.queue.conference_roles,
        held=controls and me is not None and _held(svc.control, me, ticket.id),
    )


def _held(control: CallControl | None, login: str, ticket_id: int) -> bool:
    """Whether the operator's live call of this card is on hold now (the card opened again)."""
    if control is None:
        return False
    try:
        live = control.of(login)
    except ControlError:
        return False
    return live.ticket_id == ticket_id and live.held_since is not None


@routes.get("/desk", "operator")
async def desk(request: web.Request) -> web.StreamResponse:
    user = user_of(request)
    svc = services(request)
    cards: list[str] = []
    callbacks: list[queries.CallbackItem] = []
    view = state_view(request, user)
    if user.operator_id is not None and user.operator_login is not None:
        operator_id, login = user.operator_id, user.operator_login
        current = view.get("ticket")
        if isinstance(current, int):
            ticket = await svc.tickets.get(current)
            if ticket is not None:
                cards.append(await call_card(request, ticket, live=True))
        pending = await svc.queries.to_file(operator_id)
        for ticket in pending:
            if ticket.id != current:
                cards.append(await call_card(request, ticket))
        callbacks = await svc.queries.callbacks_of(login)
    response = render(
        request,
        "desk.html",
        view=view,
        state_html=fragment(request, "_desk_state.html", view=view, reasons=PAUSE_REASONS),
        cards=cards,
        callbacks=callbacks,
        reasons=PAUSE_REASONS,
        phone=svc.desks is not None and user.operator_login is not None,
        phone_heartbeat=svc.settings.asterisk.webrtc.heartbeat_s,
        supervision_notice=svc.settings.supervision.operator_notice if svc.settings.supervision.enabled else None,
    )
    if svc.desks is not None:
        response.headers["Content-Security-Policy"] = desk_csp(svc.settings, request)
    return response


@routes.get("/desk/events", "operator")
async def desk_events(request: web.Request) -> web.StreamResponse:
    user = session_of(request).user
    svc = services(request)
    cards: dict[int, str] = {}

    async def compute() -> dict[str, Any]:
        view = state_view(request, user)
        ticket_id = view.get("ticket")
        card = None
        if isinstance(ticket_id, int):
            if ticket_id not in cards:
                ticket = await svc.tickets.get(ticket_id)
                if ticket is not None:
                    cards[ticket_id] = await call_card(request, ticket, live=True)
            card = cards.get(ticket_id)
        return {
            "view": view,
            "state_html": fragment(request, "_desk_state.html", view=view, reasons=PAUSE_REASONS),
            "card": card,
        }

    return await stream(request, svc.live, compute, lambda: session_alive(request))


@routes.post("/desk/presence", "operator")
async def presence(request: web.Request) -> web.StreamResponse:
    user = user_of(request)
    data = await form(request)
    wanted = text(data, "presence", limit=16)
    if wanted not in ("available", "paused", "logged_out"):
        raise web.HTTPBadRequest(text="stato non valido")
    reason = text(data, "reason", limit=64) if wanted == "paused" else None
    agent = _agent(request, user)
    if agent is None:
        raise web.HTTPConflict(text="il tuo utente non è collegato a un operatore attivo")
    svc = services(request)
    await svc.queue.set_presence(agent.login, wanted, reason or ("Pausa" if wanted == "paused" else None))
    if wants_json(request):
        return web.json_response({"state": str(agent.state)})
    raise redirect("/console/desk", "presence")


async def _ticket(request: web.Request) -> TicketView:
    """The ticket named in the URL, or 404."""
    ticket = await services(request).tickets.get(int_param(request.match_info["id"], "ticket"))
    if ticket is None:
        raise web.HTTPNotFound(text="nessuna pratica con questo numero")
    return ticket


@routes.post("/desk/tickets/{id}/outcome", "operator")
async def file_outcome(request: web.Request) -> web.StreamResponse:
    user = user_of(request)
    svc = services(request)
    ticket = await own_call(request)
    ticket_id = ticket.id
    data = await form(request)
    try:
        outcome = text(data, "outcome", limit=16, required=True)
        note = text(data, "note", limit=4000)
        given = _contact(data, ticket) if outcome == "escalated" else None
        filed = await svc.outcomes.file(
            ticket_id,
            outcome or "",
            note=note,
            operator_id=user.operator_id,
            at=now(request),
            contact=given,
            by=Actor(user=user, address=address(request)),
        )
    except (Invalid, OutcomeError, ContactError, ReasonError) as exc:
        if wants_json(request):
            return web.json_response({"error": str(exc)}, status=400)
        return render(request, "error.html", status=400, error=str(exc), back="/console/desk")
    if wants_json(request):
        return web.json_response({"ticket": filed.id, "status": filed.status, "level": filed.level})
    raise redirect("/console/desk", "outcome")


@routes.post("/desk/tickets/{id}/reason", "operator")
async def choose_reason(request: web.Request) -> web.StreamResponse:
    """Why the citizen called, chosen on the call card while talking: every way of filing the
    call then finds it (`ivr.tickets.reasons`)."""
    user = user_of(request)
    svc = services(request)
    ticket = await own_call(request)
    data = await form(request)
    try:
        given = text(data, "reason", limit=40, required=True) or ""
        reason = await svc.outcomes.choose_reason(ticket.id, given, operator_id=user.operator_id, at=now(request))
    except (Invalid, ReasonError, OutcomeError) as exc:
        if wants_json(request):
            return web.json_response({"error": str(exc)}, status=400)
        return render(request, "error.html", status=400, error=str(exc), back="/console/desk")
    label = svc.outcomes.reasons.settings.label(reason)
    if wants_json(request):
        return web.json_response({"ticket": ticket.id, "reason": reason, "message": f"Motivo: {label}."})
    raise redirect("/console/desk", "reason")


def _contact(data: Any, ticket: TicketView) -> Contact:
    """The second level's contact from the outcome form: the caller id counts only when the
    operator ticked that the citizen confirmed it."""
    return contact(
        name=text(data, "contact_name", limit=200),
        answer_by=text(data, "answer_by", limit=8),
        email=text(data, "contact_email", limit=300),
        caller_id=ticket.caller_number,
        caller_id_confirmed=data.get("caller_id_confirmed") == "yes",
        typed_phone=text(data, "contact_phone", limit=40),
    )


@routes.post("/desk/tickets/{id}/article", "operator")
async def resolve_with_article(request: web.Request) -> web.StreamResponse:
    """ "Risolta con l'articolo N": one click files the call as resolved at the first level,
    naming the article on the ticket."""
    user = user_of(request)
    svc = services(request)
    ticket = await own_call(request)
    assert user.operator_id is not None  # own_call refused anyone else
    data = await form(request)
    try:
        raw = text(data, "article", limit=20, required=True) or ""
        if not raw.isdigit():
            raise Invalid("«article»: deve essere un numero")
        article_id = int(raw)
        svc.outcomes.reasons.for_filing(ticket.call_reason, None)  # chosen on the card, if asked
        audited = Audited(Actor(user=user, address=address(request)), "ticket_outcome", {"outcome": "resolved"})
        await svc.knowledge.resolve_call(
            ticket.id, article_id, operator_id=user.operator_id, at=now(request), audited=audited
        )
    except (Invalid, ResolveError, ReasonError) as exc:
        if wants_json(request):
            return web.json_response({"error": str(exc)}, status=400)
        return render(request, "error.html", status=400, error=str(exc), back="/console/desk")
    if wants_json(request):
        return web.json_response({"ticket": ticket.id, "status": "resolved", "level": 1, "article": article_id})
    raise redirect("/console/desk", "kb_answer")


@routes.post("/desk/callbacks/{id}/call", "operator")
async def start_callback(request: web.Request) -> web.StreamResponse:
    user = user_of(request)
    svc = services(request)
    ticket = await _ticket(request)
    ticket_id = ticket.id
    if user.operator_login is None or ticket.assigned_to != user.operator_login:
        raise web.HTTPForbidden(text="questa richiamata non è assegnata a te")
    number = await svc.queries.callback_number(ticket_id)
    try:
        if number is None:
            raise CallbackError("nessun numero da richiamare per questa pratica")
        await services(request).callbacks.start(user.operator_login, ticket_id, number)
    except CallbackError as exc:
        if wants_json(request):
            return web.json_response({"error": str(exc)}, status=409)
        return render(request, "error.html", status=409, error=str(exc), back="/console/desk")
    await services(request).accounts.audit(
        user,
        "callback_call",
        now(request),
        kind="ticket",
        object_id=ticket_id,
        address=address(request),
    )
    if wants_json(request):
        return web.json_response({"ticket": ticket_id, "state": "calling_operator"})
    raise redirect("/console/desk", "callback_started")


@routes.post("/desk/callbacks/cancel", "operator")
async def cancel_callback(request: web.Request) -> web.StreamResponse:
    user = user_of(request)
    if user.operator_login is not None:
        services(request).callbacks.cancel(user.operator_login)
    raise redirect("/console/desk")


@routes.get("/desk/tickets", "operator")
async def my_tickets(request: web.Request) -> web.StreamResponse:
    user = user_of(request)
    found: list[TicketView] = []
    if user.operator_id is not None:
        f = queries.TicketFilter(operator_id=user.operator_id, limit=100)
        found, _total = await services(request).queries.tickets(f)
    return render(request, "my_tickets.html", tickets=found)
