"""Public ways in: the HTML form at /richiesta and the JSON API at /api/public/requests.

Anonymous by nature (citizens have no account), so abuse is held back by size limits, a field
only robots fill in, and a cap per address; every answer is a clear message, never a 500.

Each form served carries a one-time token: sent again, it answers with the request it filed
(200, "già ricevuta") rather than filing another; the API takes the same token, optionally.
"""

from __future__ import annotations

import json
import secrets
from typing import Any

import jinja2
from aiohttp import web

from ivr.tickets.writer import StoreUnavailable
from ivr.web.clientaddr import client_address
from ivr.webrequests.channel import FormUsed, Received, TooManyRequests, WebRequestChannel
from ivr.webrequests.form import TOKEN_FIELD, TOPICS, FormErrors

FORM_PATH = "/richiesta"
API_PATH = "/api/public/requests"
_templates = jinja2.Environment(
    loader=jinja2.PackageLoader("ivr.webrequests", "templates"),
    autoescape=True,
    undefined=jinja2.StrictUndefined,
)


def routes(channel: WebRequestChannel, *, did: str) -> list[web.RouteDef]:
    def page(
        data: dict[str, Any],
        errors: dict[str, str],
        received: Received | None = None,
        status: int = 200,
        *,
        notice: str | None = None,
        token: str | None = None,
    ) -> web.Response:
        """The form (its token: the one it was sent with, else a new one), or the request's number.
        `notice`: why a request was not taken, that no field of it would correct."""
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
            notice=notice,
            token_field=TOKEN_FIELD,
            token=token or (None if TOKEN_FIELD in errors else data.get(TOKEN_FIELD)) or secrets.token_urlsafe(18),
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
            return page({}, {}, notice="Il modulo inviato non è leggibile: lo compili di nuovo.", status=400)
        data = {k: v for k, v in posted.items() if isinstance(v, str)}
        try:
            received = await channel.submit(data, _address(request))
        except FormErrors as exc:
            return page(data, exc.errors, status=400)
        except FormUsed as exc:  # the citizen's new text comes back on a new form, to send as a new request
            notice = (
                f"Questo modulo è già stato inviato: la sua richiesta n. {exc.ticket_id} è registrata. "
                "Se vuole inviare anche la richiesta qui sotto, prema di nuovo «Invia la richiesta»."
            )
            return page(data, {}, notice=notice, token=secrets.token_urlsafe(18), status=409)
        except TooManyRequests:
            return page(data, {}, notice="Troppe richieste da questo indirizzo: riprovi più tardi.", status=429)
        except StoreUnavailable:
            notice = (
                "Il servizio è momentaneamente non disponibile: la richiesta non è stata registrata. "
                "La invii di nuovo tra qualche minuto."
            )
            return page(data, {}, notice=notice, status=503)
        return page({}, {}, received=received, status=200 if received.again else 201)

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
        except FormUsed as exc:
            error = f"{TOKEN_FIELD} già usato per un'altra richiesta"
            return web.json_response({"error": error, "ticket": exc.ticket_id}, status=409)
        except TooManyRequests:
            return web.json_response({"error": "troppe richieste da questo indirizzo"}, status=429)
        except StoreUnavailable:
            return web.json_response({"error": "servizio momentaneamente non disponibile"}, status=503)
        body = {
            "ticket": received.ticket_id,
            "due": received.due.isoformat(),
            "receipt_sent": received.receipt_sent,
            "receipt_perhaps": received.receipt_perhaps,
            "again": received.again,
        }
        return web.json_response(body, status=200 if received.again else 201)

    return [web.get(FORM_PATH, show_form), web.post(FORM_PATH, post_form), web.post(API_PATH, post_api)]


def _address(request: web.Request) -> str:
    return client_address(request) or "unknown"
