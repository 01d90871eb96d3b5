"""Public ways in: the HTML form at /richiesta and the JSON API at /api/public/requests.

Anonymous by nature (citizens have no account), so abuse is held back by size limits, a field
only robots fill in, and a cap per address; every answer is a clear message, never a 500.
"""

from __future__ import annotations

import json
from typing import Any

import jinja2
from aiohttp import web

from ivr.tickets.writer import StoreUnavailable
from ivr.web.clientaddr import client_address
from ivr.webrequests.channel import Received, TooManyRequests, WebRequestChannel
from ivr.webrequests.form import TOPICS, FormErrors

FORM_PATH = "/richiesta"
API_PATH = "/api/public/requests"
_templates = jinja2.Environment(
    loader=jinja2.PackageLoader("ivr.webrequests", "templates"),
    autoescape=True,
    undefined=jinja2.StrictUndefined,
)


def routes(channel: WebRequestChannel, *, did: str) -> list[web.RouteDef]:
    def page(
        data: dict[str, Any], errors: dict[str, str], received: Received | None = None, status: int = 200
    ) -> web.Response:
        due_text = ""
        if received is not None:
            due_text = f"{received.due.astimezone(channel.tz):%d/%m/%Y alle %H:%M}"
        html = _templates.get_template("richiesta.html").render(
            service=channel.service_name,
            did=did,
            path=FORM_PATH,
            topics=TOPICS,
            data=data,
            errors=errors,
            received=received,
            due_text=due_text,
            reply_hours=round(channel.sla.web_reply_hours),
            max_message=channel.settings.max_message_chars,
        )
        return web.Response(text=html, status=status, content_type="text/html", charset="utf-8")

    async def show_form(request: web.Request) -> web.Response:
        return page({}, {})

    async def post_form(request: web.Request) -> web.Response:
        try:
            posted = await request.post()
        except ValueError:  # a body that does not parse as its Content-Type says (a multipart without boundary)
            return page({}, {"form": "Il modulo inviato non è leggibile: lo compili di nuovo."}, status=400)
        data = {k: v for k, v in posted.items() if isinstance(v, str)}
        try:
            received = await channel.submit(data, _address(request))
        except FormErrors as exc:
            return page(data, exc.errors, status=400)
        except TooManyRequests:
            errors = {"rate": "Troppe richieste da questo indirizzo: riprovi più tardi."}
            return page(data, errors, status=429)
        except StoreUnavailable:
            errors = {"store": "Il servizio è momentaneamente non disponibile: riprovi tra qualche minuto."}
            return page(data, errors, status=503)
        return page({}, {}, received=received, status=201)

    async def post_api(request: web.Request) -> web.Response:
        if request.content_type != "application/json":  # a form post from another site cannot be JSON
            error = "il corpo deve essere JSON (Content-Type: application/json)"
            return web.json_response({"error": error}, status=415)
        try:
            data = await request.json()
        except (json.JSONDecodeError, UnicodeDecodeError):
            return web.json_response({"error": "il corpo deve essere JSON"}, status=400)
        if not isinstance(data, dict):
            return web.json_response({"error": "il corpo deve essere un oggetto JSON"}, status=400)
        try:
            received = await channel.submit(data, _address(request))
        except FormErrors as exc:
            return web.json_response({"error": "richiesta non valida", "fields": exc.errors}, status=400)
        except TooManyRequests:
            return web.json_response({"error": "troppe richieste da questo indirizzo"}, status=429)
        except StoreUnavailable:
            return web.json_response({"error": "servizio momentaneamente non disponibile"}, status=503)
        body = {"ticket": received.ticket_id, "due": received.due.isoformat(), "receipt_sent": received.receipt_sent}
        return web.json_response(body, status=201)

    return [web.get(FORM_PATH, show_form), web.post(FORM_PATH, post_form), web.post(API_PATH, post_api)]


def _address(request: web.Request) -> str:
    return client_address(request) or "unknown"
