"""The console's plumbing: routes that carry their access rule, templates, forms, redirects.

Every route is declared with the least role that may use it; a route without a rule is refused
(and the authorization test fails), so a new page cannot be published by accident.
"""

from __future__ import annotations

import contextlib
import hmac
import logging
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

import jinja2
from aiohttp import web
from multidict import MultiDictProxy

from ivr.console.accounts import SessionInfo, UserInfo
from ivr.console.labels import LABELS, MESSAGES, label
from ivr.console.services import ConsoleServices
from ivr.ha.guard import Fenced
from ivr.stats.operator_time import hms
from ivr.tickets.store import TicketView
from ivr.tickets.writer import StoreUnavailable
from ivr.web.clientaddr import client_address

log = logging.getLogger(__name__)
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
PUBLIC = "public"
ROLES_BY_RULE = (PUBLIC, "operator", "supervisor", "administrator")
SERVICES: web.AppKey[ConsoleServices] = web.AppKey("console_services")
RULES: web.AppKey[dict[Handler, str]] = web.AppKey("console_rules")
TEMPLATES: web.AppKey[jinja2.Environment] = web.AppKey("console_templates")
# The request's session, stored on the request by the guard before any handler runs.
SESSION: web.RequestKey[SessionInfo | None] = web.RequestKey("console_session")


# Handlers that take a file, with the largest body each accepts (the console's own limit is for
# forms); read by the guard before anything reads the body.
UPLOADS: dict[Handler, int] = {}


def takes_upload(max_bytes: int) -> Callable[[Handler], Handler]:
    def mark(handler: Handler) -> Handler:
        UPLOADS[handler] = max_bytes
        return handler

    return mark


@dataclass(frozen=True)
class Route:
    method: str
    path: str
    handler: Handler
    rule: str


class Routes:
    """Collects routes with their rule; `install` registers them and records the rules."""

    def __init__(self) -> None:
        self.routes: list[Route] = []

    def _add(self, method: str, path: str, rule: str) -> Callable[[Handler], Handler]:
        if rule not in ROLES_BY_RULE:
            raise ValueError(f"unknown access rule {rule!r}")

        def register(handler: Handler) -> Handler:
            self.routes.append(Route(method, path, handler, rule))
            return handler

        return register

    def get(self, path: str, rule: str) -> Callable[[Handler], Handler]:
        return self._add("GET", path, rule)

    def post(self, path: str, rule: str) -> Callable[[Handler], Handler]:
        return self._add("POST", path, rule)


def install(app: web.Application, rules: dict[Handler, str], *tables: Routes) -> None:
    """Register the routes; rules are kept by handler, because a sub-application's paths change
    when it is mounted under its prefix."""
    for table in tables:
        for r in table.routes:
            app.router.add_route(r.method, r.path, r.handler)
            rules[r.handler] = r.rule


def rule_of(request: web.Request) -> str | None:
    """The access rule of the matched route, or None when the route has none (refused)."""
    route = request.match_info.route
    if isinstance(route.resource, web.StaticResource):
        return PUBLIC
    return request.app[RULES].get(request.match_info.handler)


# --- request helpers --------------------------------------------------------------------------


def services(request: web.Request) -> ConsoleServices:
    return request.app[SERVICES]


def set_session(request: web.Request, session: SessionInfo | None) -> None:
    request[SESSION] = session


def current_session(request: web.Request) -> SessionInfo | None:
    return request.get(SESSION)


def session_of(request: web.Request) -> SessionInfo:
    session = current_session(request)
    if session is None:
        raise web.HTTPForbidden(text="login required")
    return session


def user_of(request: web.Request) -> UserInfo:
    return session_of(request).user


def address(request: web.Request) -> str | None:
    """The client's address, as the whole HTTP side sees it (the proxy's forwarding header)."""
    return client_address(request)


def now(request: web.Request) -> datetime:
    return services(request).clock.now()


async def end_desk_phones(request: web.Request, session: str | None = None) -> None:
    """Sessions just ended (`session`: a logout; None: a user disabled or given a new password):
    their desks' SIP credentials leave Asterisk now, not at the next sweep. The sweep still
    catches them should this fail (it is logged), so the ending itself is never refused for it."""
    svc = services(request)
    if svc.desks is None:
        return
    if session is not None:
        svc.desks.revoke_session(session)
    if svc.relay is not None:  # and their SIP WebSockets close
        await (svc.relay.close_session(session) if session is not None else svc.relay.recheck())
    try:
        await svc.operators.resync()  # prunes against the store, rewrites the endpoints, reloads PJSIP
    except Exception:
        log.exception("desk phones not withdrawn at once; the periodic sync retries")


async def audit(request: web.Request, action: str, kind: str, object_id: object, **detail: Any) -> None:
    """The access log entry for what the signed-in user just did, from where."""
    await services(request).accounts.audit(
        user_of(request), action, now(request), kind=kind, object_id=object_id, address=address(request),
        detail=detail or None,
    )  # fmt: skip


async def form(request: web.Request) -> MultiDictProxy[Any]:
    return await request.post()


def text(data: MultiDictProxy[Any], name: str, *, limit: int = 200, required: bool = False) -> str | None:
    value = data.get(name)
    if not isinstance(value, str):
        value = None
    value = (value or "").strip() or None
    if value is not None and len(value) > limit:
        raise Invalid(f"«{name}»: al massimo {limit} caratteri")
    if required and value is None:
        raise Invalid(f"«{name}» è obbligatorio")
    return value


def int_param(value: str | None, name: str) -> int:
    """A row id from a URL: a number a database column can hold, or 404."""
    try:
        number = int(value or "")
    except ValueError:
        raise web.HTTPNotFound(text=f"{name}: not a number") from None
    if not 0 < number < 2**63:
        raise web.HTTPNotFound(text=f"{name}: no such {name}")
    return number


class Invalid(ValueError):
    """Bad input in a form: the page is shown again with the message."""


class NotDone(Exception):
    """A change the ticket database's absence kept from being made: nothing of it was stored or
    sent. The guard (ivr.console.auth) answers it as it answers every page the database's
    absence stopped, 503 and to retry, with this sentence first, so the user, and the soak's
    driver, tell a fault to retry from a refusal (run 6's reply page said 400 for both)."""


@contextlib.contextmanager
def unless_store_away(not_done: str) -> Iterator[None]:
    """The step inside stores a change first and acts on it after (a reply stored, then
    e-mailed): the database away when it is stored means `not_done` (NotDone), never a refusal.
    Handlers leave the outage to the guard this way, not catching it among their refusals."""
    try:
        yield
    except Fenced:  # no longer the line's engine: not an outage to wait out (the guard says so)
        raise
    except StoreUnavailable as exc:
        raise NotDone(not_done) from exc


def can_see_ticket(user: UserInfo, operator_id: int | None, assigned_to: str | None) -> bool:
    """Supervisors see every ticket; an operator the calls they took and the callbacks given to them."""
    if user.at_least("supervisor"):
        return True
    mine = user.operator_id is not None and operator_id == user.operator_id
    return mine or (user.operator_login is not None and assigned_to == user.operator_login)


async def own_call(request: web.Request) -> TicketView:
    """The call named in the URL when it is the signed-in operator's own (to file, to give its
    reason, to refer): 404 without it, 403 when another operator took it."""
    user = user_of(request)
    ticket = await services(request).tickets.get(int_param(request.match_info["id"], "ticket"))
    if ticket is None:
        raise web.HTTPNotFound(text="nessuna pratica con questo numero")
    if user.operator_id is None or ticket.operator_id != user.operator_id:
        raise web.HTTPForbidden(text="questa chiamata non è tua")
    return ticket


def check_csrf(session: SessionInfo, given: str | None) -> bool:
    return given is not None and hmac.compare_digest(given.encode(), session.csrf.encode())


def redirect(location: str, msg: str | None = None, **params: object) -> web.HTTPSeeOther:
    query = {k: str(v) for k, v in params.items() if v is not None}
    if msg is not None:
        query["msg"] = msg
    return web.HTTPSeeOther(location + ("?" + urlencode(query) if query else ""))


def wants_json(request: web.Request) -> bool:
    return "application/json" in request.headers.get("Accept", "")


# --- templates --------------------------------------------------------------------------------


def csv_download(text: str, name: str) -> web.Response:
    """A CSV the supervisor's browser saves as `name` (never cached: it may hold personal data)."""
    return web.Response(
        text=text,
        content_type="text/csv",
        charset="utf-8",
        headers={"Content-Disposition": f'attachment; filename="{name}"', "Cache-Control": "no-store"},
    )


def make_templates(tz: ZoneInfo) -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("ivr.console", "templates"),
        autoescape=jinja2.select_autoescape(["html"]),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )

    def when(value: datetime | None, fmt: str = "%d/%m/%Y %H:%M") -> str:
        return "—" if value is None else value.astimezone(tz).strftime(fmt)

    def seconds(value: float | None) -> str:
        if value is None:
            return "—"
        total = round(value)
        return f"{total // 60}:{total % 60:02d}" if total >= 60 else f"{total} s"

    env.filters["when"] = when
    env.filters["day"] = lambda v: when(v, "%d/%m/%Y")
    env.filters["seconds"] = seconds
    env.filters["hms"] = hms
    env.filters["label"] = label
    env.globals["LABELS"] = LABELS
    return env


def render(request: web.Request, template: str, status: int = 200, **context: Any) -> web.Response:
    session = current_session(request)
    msg = request.query.get("msg")
    page = (
        request.app[TEMPLATES]
        .get_template(template)
        .render(
            user=session.user if session else None,
            csrf=session.csrf if session else "",
            message=MESSAGES.get(msg or ""),
            path=request.path,
            service=services(request).settings.service.name,
            **context,
        )
    )
    return web.Response(text=page, content_type="text/html", charset="utf-8", status=status)


def fragment(request: web.Request, template: str, **context: Any) -> str:
    session = current_session(request)
    return (
        request.app[TEMPLATES]
        .get_template(template)
        .render(user=session.user if session else None, csrf=session.csrf if session else "", **context)
    )
