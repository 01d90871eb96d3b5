"""`/ws`: the desk phone's SIP WebSocket on the console's own origin (ivr.webphone.relay).

It sits beside the console rather than under /console/ because JsSIP and the proxies in front
know the SIP WebSocket as `/ws`; its rules are the console's all the same, checked before
anything is opened towards Asterisk: a live console session (401 without one), a request from
the console's own page (the Origin header names the host the request was sent to: another
site's page, or none, is 403; the session cookie is SameSite=Strict as well), and an operator
with a desk (403 otherwise).
"""

from __future__ import annotations

import logging
from urllib.parse import urlsplit

from aiohttp import web

from ivr.console.auth import session_from_cookie
from ivr.console.services import ConsoleServices
from ivr.console.web import Handler, address
from ivr.tickets.writer import unavailable

log = logging.getLogger(__name__)
PATH = "/ws"


def same_origin(request: web.Request) -> bool:
    """The page that opens the socket was served by this host (the Host header the browser, or
    the proxy with `proxy_set_header Host $http_host`, sends)."""
    origin = request.headers.get("Origin")
    if not origin:
        return False
    parts = urlsplit(origin)
    return parts.scheme in ("http", "https") and bool(parts.netloc) and parts.netloc.lower() == request.host.lower()


def wants_sip(request: web.Request) -> bool:
    offered = request.headers.get("Sec-WebSocket-Protocol", "")
    return "sip" in (p.strip() for p in offered.split(","))


def relay_handler(svc: ConsoleServices) -> Handler:
    async def relay(request: web.Request) -> web.StreamResponse:
        if svc.relay is None or svc.desks is None:
            raise web.HTTPNotFound(text="il telefono nel browser non è attivo su questa linea")
        session = await session_from_cookie(svc, request)
        if session is None:
            raise web.HTTPUnauthorized(text="accesso richiesto")
        if not same_origin(request):
            log.warning(
                "desk phone WebSocket refused for %s from %s: Origin %r is not this console (Host %r)",
                session.user.login, address(request), request.headers.get("Origin"), request.host,
            )  # fmt: skip
            raise web.HTTPForbidden(text="origine non ammessa")
        login = session.user.operator_login
        if not session.user.at_least("operator") or login is None or login not in svc.queue.agents:
            raise web.HTTPForbidden(text="il tuo utente non ha una scrivania con telefono")
        if not wants_sip(request):
            raise web.HTTPBadRequest(text="sottoprotocollo WebSocket «sip» richiesto")
        token = session.token_hash

        async def still_valid() -> bool:
            """An outage of the database is not the end of the session: the relay carries calls
            in progress (cutting it, the desk's hangup never reached Asterisk and a citizen
            waited minutes on a dead leg); the session is checked again at its next turn."""
            try:
                found = await session_from_cookie(svc, request)
            except Exception as exc:
                if not unavailable(exc):
                    raise
                log.warning("desk phone relay of %s: session not checked, database unavailable (%s)", login, exc)
                return True
            return found is not None and found.token_hash == token

        log.info("desk phone WebSocket opened for %s from %s", login, address(request))
        return await svc.relay.serve(request, token, still_valid)

    return relay
