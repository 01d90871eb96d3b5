"""The desk's browser phone: the SIP account a desk registers with, its heartbeat, and the call
card fetched as the phone rings (so the ring and the card reach the operator together).

The page gets a SIP password made for its console session only (ivr.webphone.desks), never the
operator's console password nor their softphone's; only this authenticated endpoint hands it out.
"""

from __future__ import annotations

import time
from typing import Any

from aiohttp import web

from ivr.console.desk import call_card, phone_host
from ivr.console.desk_relay import PATH as RELAY_PATH
from ivr.console.web import Routes, services, session_of, user_of
from ivr.webphone.desks import DeskDisplaced, DeskPhones, ice_servers
from ivr.webphone.trunk import desks_taken_for_carrier

routes = Routes()
DISPLACED = "Il telefono è passato a un'altra scrivania aperta con il tuo utente: qui non squilla più."


def _desks(request: web.Request) -> DeskPhones:
    desks = services(request).desks
    if desks is None:
        raise web.HTTPNotFound(text="il telefono nel browser non è attivo su questa linea")
    return desks


def _login(request: web.Request) -> str:
    login = user_of(request).operator_login
    if login is None or login not in services(request).queue.agents:
        raise web.HTTPConflict(text="il tuo utente non è collegato a un operatore attivo")
    return login


@routes.get("/desk/phone/account", "operator")
async def account(request: web.Request) -> web.StreamResponse:
    """The desk phone's SIP account for this console session; a new password makes the engine
    write it to Asterisk before answering, so the desk can register at once."""
    desks = _desks(request)
    login = _login(request)
    svc = services(request)
    before = desks.version
    try:
        credential = desks.issue(login, session_of(request).token_hash, take=request.query.get("take") == "1")
    except DeskDisplaced:
        return web.json_response(
            {"displaced": DISPLACED},
            status=409,
            headers={"Cache-Control": "no-store"},
        )
    if desks.version != before:
        await svc.operators.resync()
    webrtc = svc.settings.asterisk.webrtc
    left = max(0.0, credential.expires_at - svc.clock.monotonic())
    host = phone_host(svc.settings, request)
    body: dict[str, Any] = {
        "ws_path": RELAY_PATH,  # on the page's own origin: the console relays it to Asterisk
        "uri": f"sip:{credential.username}@{host}",
        "username": credential.username,
        "password": credential.password,
        "realm": "nul",
        "display_name": user_of(request).name,
        "expires_in_s": round(left),
        "ice_servers": ice_servers(webrtc, login, int(time.time() + left)),
        "heartbeat_s": webrtc.heartbeat_s,
        "audio_processing": webrtc.audio_processing,
    }
    relay = desks_taken_for_carrier(svc.settings)
    if relay is not None:  # Asterisk would take this desk for the carrier and refuse it: say so
        body["unusable"] = (
            f"il centralino riconosce il gestore telefonico dal suo indirizzo, {relay}, lo stesso da cui "
            "arrivano i telefoni della scrivania: l'amministratore deve correggere asterisk.trunk.host "
            "(ivr doctor lo segnala)"
        )
    return web.json_response(body, headers={"Cache-Control": "no-store"})


@routes.post("/desk/phone/heartbeat", "operator")
async def heartbeat(request: web.Request) -> web.StreamResponse:
    """The desk is open: while these keep coming its operator is not paused for a closed desk."""
    desks = _desks(request)
    login = _login(request)
    desks.beat(login)
    agent = services(request).queue.agents[login]
    body: dict[str, Any] = {"state": str(agent.state), "desk": agent.desk}
    if desks.displaced(login, session_of(request).token_hash):  # learnt within a beat, not at re-registration
        body["displaced"] = DISPLACED
    return web.json_response(body)


@routes.post("/desk/phone/closed", "operator")
async def closed(request: web.Request) -> web.StreamResponse:
    """The page is going away (sent as a beacon): unless another desk page speaks within a few
    seconds (a reload), the operator is paused then rather than after the whole timeout."""
    desks = _desks(request)
    desks.close(_login(request))
    return web.json_response({"closing": True})


@routes.get("/desk/phone/card", "operator")
async def ringing_card(request: web.Request) -> web.StreamResponse:
    """The call now offered to this operator, as its card: the phone shows it as it rings."""
    login = _login(request)
    svc = services(request)
    following = svc.supervision.on_phone_of(login) if svc.supervision is not None else None
    if following is not None:  # the supervisor's own phone, rung to follow a call: no card to file
        who = f"Supervisione · {following.operator} · pratica #{following.ticket_id}"
        return web.json_response({"ticket": None, "card": None, "who": who})
    ticket_id = svc.queue.agents[login].ticket_id
    ticket = await svc.tickets.get(ticket_id) if ticket_id is not None else None
    if ticket is None:
        return web.json_response({"ticket": None, "card": None})
    return web.json_response({"ticket": ticket.id, "card": await call_card(request, ticket, live=True)})
