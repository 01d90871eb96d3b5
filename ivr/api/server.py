"""JSON API served by the engine process, for `ivr` commands and, later, the web console.

Bound to loopback by default and guarded by a bearer token from the secrets file; the token is
compared in constant time and never logged.
"""

from __future__ import annotations

import hmac
import json
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from ivr.acd.operators import OperatorError
from ivr.api.deps import Health, NotFound, QueueView, TicketAccess
from ivr.clock import Clock
from ivr.console.app import mount_console
from ivr.console.services import ConsoleServices
from ivr.ha.guard import Fenced
from ivr.phonemask import mask_number
from ivr.settings import Settings
from ivr.stats.page import public_routes as public_stats_routes
from ivr.tickets.audit import Actor
from ivr.tickets.escalation import Contact, ContactError, contact
from ivr.tickets.filing import OutcomeFiling
from ivr.tickets.reasons import ReasonError
from ivr.tickets.store import OutcomeError
from ivr.tickets.writer import StoreUnavailable, unavailable
from ivr.web.clientaddr import PROXIES, client_address, relayed
from ivr.web.guard import security_headers
from ivr.webrequests.channel import WebRequestChannel
from ivr.webrequests.http import routes as webrequest_routes

log = logging.getLogger(__name__)
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
READY = "/api/ready"  # without the token when not relayed by a proxy: it says whether calls are taken here


@dataclass(frozen=True)
class WebDeps:
    """What the HTTP server uses of the running line; `ivr.app` builds it."""

    settings: Settings
    clock: Clock
    queue: QueueView
    tickets: TicketAccess
    health: Health
    web_requests: WebRequestChannel
    outcomes: OutcomeFiling  # the desk's own path: the same contact rule and audit entry
    console: ConsoleServices | None = None


DEPS: web.AppKey[WebDeps] = web.AppKey("web_deps")


def make_api(deps: WebDeps) -> web.Application:
    token = deps.settings.console.api_token
    secret = token.get_secret_value() if token is not None else None

    @web.middleware
    async def auth(request: web.Request, handler: Handler) -> web.StreamResponse:
        if _needs_token(request):
            given = request.headers.get("Authorization", "")
            if secret is None or not hmac.compare_digest(given.encode(), f"Bearer {secret}".encode()):
                return _error(401, "missing or wrong API token")
        try:
            return await handler(request)
        except (OperatorError, OutcomeError) as exc:
            return _error(400, str(exc))
        except Fenced as exc:  # before StoreUnavailable: the writer's Fenced is one too
            log.warning("%s %s refused: %s", request.method, request.path, exc)
            return _error(503, "this engine is no longer the line's active engine")
        except StoreUnavailable:
            return _error(503, "the ticket database is unavailable; try again shortly")
        except NotFound as exc:
            return _error(404, str(exc))
        except web.HTTPException:
            raise
        except Exception as exc:  # a read that met the database away: a 503 that says so, no 500
            if not unavailable(exc):
                raise
            log.warning("%s %s: database unavailable (%s)", request.method, request.path, exc)
            return _error(503, "the ticket database is unavailable; try again shortly")

    s = deps.settings
    hsts = s.console.send_hsts(s.profile)
    app = web.Application(middlewares=[security_headers(hsts=hsts), auth], client_max_size=64 * 1024)
    app[DEPS] = deps
    app[PROXIES] = (tuple(s.console.trusted_proxies), s.console.proxy_header)
    app.router.add_get("/api/health", health)
    app.router.add_get(READY, ready)
    app.router.add_get("/api/queue", queue_state)
    app.router.add_post("/api/operators/{login}/presence", set_presence)
    app.router.add_post("/api/tickets/{id}/outcome", file_outcome)
    if s.web_requests.enabled:
        app.add_routes(webrequest_routes(deps.web_requests, did=s.service.did))
    app.add_routes(
        public_stats_routes(
            deps.tickets.run_read,
            s.stats,
            clock=deps.clock,
            tz=s.service.tz,
            service_name=s.service.name,
            reasons=s.reasons,
        )
    )
    if deps.console is not None:
        mount_console(app, deps.console)  # the web console under /console/; "/" leads there
    return app


def _needs_token(request: web.Request) -> bool:
    """Every /api/ route but the public ones; `/api/ready` too when it comes through the TLS proxy:
    the public has no business asking about the line's state, and each answer asks Asterisk."""
    path = request.path
    if not path.startswith("/api/") or path.startswith("/api/public/"):
        return False
    return path != READY or relayed(request)


def _deps(request: web.Request) -> WebDeps:
    return request.app[DEPS]


async def _contact(deps: WebDeps, ticket_id: int, body: dict[str, Any]) -> Contact | None:
    """The second level's contact from the request, by the desk's rule (`contact_name`,
    `answer_by`: email or phone, `contact_email`, `contact_phone`, or `caller_id_confirmed`: true
    for the number the call came from); None when none is given (the filing refuses it)."""
    fields = ("contact_name", "answer_by", "contact_email", "contact_phone", "caller_id_confirmed")
    if not any(body.get(k) for k in fields):
        return None
    ticket = await deps.tickets.get(ticket_id)

    def text(key: str) -> str | None:
        value = body.get(key)
        return value if isinstance(value, str) else None

    return contact(
        name=text("contact_name"),
        answer_by=text("answer_by"),
        email=text("contact_email"),
        caller_id=ticket.caller_number if ticket is not None else None,
        caller_id_confirmed=body.get("caller_id_confirmed") is True,
        typed_phone=text("contact_phone"),
    )


def _error(status: int, message: str) -> web.Response:
    return web.json_response({"error": message}, status=status)


async def _body(request: web.Request) -> dict[str, Any]:
    try:
        data = await request.json()
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise web.HTTPBadRequest(text='{"error": "the body must be JSON"}', content_type="application/json") from None
    if not isinstance(data, dict):
        raise web.HTTPBadRequest(text='{"error": "the body must be a JSON object"}', content_type="application/json")
    return data


async def health(request: web.Request) -> web.Response:
    checks = _deps(request).health
    if checks.refresh is not None:
        await checks.refresh()  # health never says the app is there on an old answer
    return web.json_response(checks.report())


async def ready(request: web.Request) -> web.Response:
    """For load balancers and watchdogs, without the token: 200 only when this engine takes calls."""
    checks = _deps(request).health
    if checks.refresh is not None:
        await checks.refresh()
    report = checks.report()
    body = {"ready": report["ready"], "role": report["role"], "status": report["status"]}
    return web.json_response(body, status=200 if report["ready"] else 503)


async def queue_state(request: web.Request) -> web.Response:
    deps = _deps(request)
    now = deps.clock.now()
    queue = deps.queue
    state = queue.snapshot()
    if not deps.settings.logging.personal_data:  # a list like any other: numbers masked (ivr.phonemask)
        for call in state.get("waiting", []):
            call["caller"] = mask_number(call["caller"]) if call.get("caller") else call.get("caller")
    state.update(
        today=str(queue.day_of(now)),
        admitted_today=await queue.admitted(now),
        daily_cap=queue.daily_cap,
        calls_in_progress=queue.calls_in_progress(),
    )
    return web.json_response(state)


async def set_presence(request: web.Request) -> web.Response:
    queue = _deps(request).queue
    body = await _body(request)
    login = request.match_info["login"]
    presence, reason = body.get("presence"), body.get("reason")
    if presence not in ("available", "paused", "logged_out"):
        return _error(400, "presence must be available, paused or logged_out")
    if reason is not None and (not isinstance(reason, str) or len(reason) > 64):
        return _error(400, "reason must be text of at most 64 characters")
    agent = await queue.set_presence(login, presence, reason)  # NotFound: no such operator
    return web.json_response({"login": login, "state": str(agent.state), "deferred": agent.deferred is not None})


async def file_outcome(request: web.Request) -> web.Response:
    deps = _deps(request)
    body = await _body(request)
    try:
        ticket_id = int(request.match_info["id"])
    except ValueError:
        return _error(400, "ticket id must be a number")
    if not 0 < ticket_id < 2**63:
        return _error(404, f"no ticket #{ticket_id}")
    note = body.get("note")
    if note is not None and (not isinstance(note, str) or len(note) > 4000):
        return _error(400, "note must be text of at most 4000 characters")
    operator_id, login = None, None
    if isinstance(body.get("operator"), str):
        agent = deps.queue.agents.get(body["operator"])
        if agent is None:
            return _error(404, f"no operator {body['operator']!r}")
        operator_id, login = agent.info.id, agent.login
    outcome = str(body.get("outcome"))
    reason = body.get("reason")
    if reason is not None and (not isinstance(reason, str) or len(reason) > 40):
        return _error(400, "reason must be the key of one of reasons.options")
    try:
        given = await _contact(deps, ticket_id, body) if outcome == "escalated" else None
        ticket = await deps.outcomes.file(
            ticket_id,
            outcome,
            note=note,
            operator_id=operator_id,
            at=deps.clock.now(),
            contact=given,
            by=Actor(login=f"api:{login}" if login else "api", address=client_address(request)),
            reason=reason,
        )
    except (ContactError, ReasonError) as exc:
        return _error(400, str(exc))
    return web.json_response(
        {
            "ticket": ticket.id,
            "level": ticket.level,
            "status": ticket.status,
            "callback_due": ticket.callback_due.isoformat() if ticket.callback_due else None,
        }
    )
