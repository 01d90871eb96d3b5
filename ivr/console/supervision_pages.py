"""Listen, coach, join: a supervisor on an operator's live conversation, from the wallboard.

The commands are POSTs with the session's CSRF token, answered in JSON for the wallboard's
script or with a redirect back to it. What a session does is ivr.supervision; here only who asks
and from where. A refused or failed attempt is in the audit log too, with its reason.
"""

from __future__ import annotations

from aiohttp import web

from ivr.console.web import Routes, address, form, redirect, render, services, text, user_of, wants_json
from ivr.supervision.modes import mode_of
from ivr.supervision.service import Supervision, SupervisionError, SupervisionRefused
from ivr.tickets.audit import Actor

routes = Routes()
SESSION_ACTIONS = ("supervision_started", "supervision_mode", "supervision_ended")
DONE = {"start": "supervision_started", "mode": "supervision_mode", "end": "supervision_ended"}


def _supervision(request: web.Request) -> Supervision:
    supervision = services(request).supervision
    if supervision is None or not supervision.settings.enabled:
        raise web.HTTPNotFound(text="l'ascolto delle conversazioni non è attivo su questa linea")
    return supervision


@routes.post("/supervision/{login}/{action}", "supervisor")
async def command(request: web.Request) -> web.StreamResponse:
    action, operator = request.match_info["action"], request.match_info["login"][:40]
    if action not in DONE:
        raise web.HTTPNotFound(text="comando sconosciuto")
    supervision = _supervision(request)
    user = user_of(request)
    by = Actor(user=user, address=address(request))
    raw = await form(request)
    mode = mode_of(text(raw, "mode", limit=10))
    try:
        if action != "end" and mode is None:
            raise SupervisionError("modalità sconosciuta: ascolta, suggerisci o intervieni")
        if action == "start":
            assert mode is not None
            session = await supervision.start(by, user.name, user.operator_login, operator, mode)
            view = session.view()
        elif action == "mode":
            assert mode is not None
            view = (await supervision.switch(by, operator, mode)).view()
        else:
            await supervision.end(by, operator)
            view = None
    except SupervisionError as exc:
        refused = isinstance(exc, SupervisionRefused)
        status = 403 if refused else 409
        await services(request).accounts.audit(
            user, f"supervision_{action}_{'refused' if refused else 'failed'}", services(request).clock.now(),
            kind="operator", object_id=operator, address=address(request),
            detail={"mode": None if mode is None else str(mode), "reason": str(exc)},
        )  # fmt: skip
        if wants_json(request):
            return web.json_response({"error": str(exc)}, status=status)
        return render(request, "error.html", status=status, error=str(exc), back="/console/wallboard")
    if wants_json(request):
        return web.json_response({"session": view})
    raise redirect(
        "/console/wallboard",
        {"start": "supervision_started", "mode": "supervision_mode"}.get(action, "supervision_ended"),
    )


@routes.get("/desk/supervision", "operator")
async def my_sessions(request: web.Request) -> web.StreamResponse:
    """The operator's own record: every session on their conversations, from the audit log."""
    login = user_of(request).operator_login
    entries = []
    if login is not None:
        found = await services(request).accounts.audit_entries(kind="operator", object_id=login, limit=1000)
        entries = [e for e in found if e.action in SESSION_ACTIONS]
    return render(
        request, "my_supervision.html", entries=entries, notice=services(request).settings.supervision.operator_notice
    )
