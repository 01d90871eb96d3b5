"""The desk's call controls: hold, blind transfer, consultation and handover, a third party.

Only the operator talking with the caller can act on the call (the control registry is keyed by
their login); every command is a POST with the session's CSRF token, answered in JSON for the
desk's script or with a redirect back to the desk for a page without it.

Who may be pulled into a live call is kept narrow: a consultation or a third party rings only a
colleague who is logged in (ivr.acd.control), and a third party (a three-way) is for the roles
of `queue.conference_roles` (supervisors by default). A refusal is a 403 with the reason; every
attempt, done, refused or not possible now, is written to the access audit.
"""

from __future__ import annotations

from aiohttp import web

from ivr.acd.control import CallControl, ControlError, ControlRefused, LiveCall
from ivr.console.accounts import UserInfo
from ivr.console.web import Routes, address, form, now, redirect, render, services, text, user_of, wants_json

routes = Routes()
DONE = {
    "hold": "Chiamante in attesa con musica.",
    "resume": "Di nuovo in linea con il chiamante.",
    "transfer": "Chiamata trasferita: il chiamante torna in coda, per primo.",
    "consult": "Stai chiamando il collega; il chiamante è in attesa.",
    "complete": "Chiamata passata al collega.",
    "cancel": "Consultazione chiusa: di nuovo con il chiamante.",
    "conference": "Stai chiamando il collega in conferenza.",
}


def _control(request: web.Request) -> CallControl:
    control = services(request).control
    if control is None:
        raise web.HTTPNotFound(text="i comandi di chiamata non sono attivi su questa linea")
    return control


async def _run(control: CallControl, action: str, login: str, data: dict[str, str | None]) -> LiveCall:
    if action == "hold":
        return await control.hold(login)
    if action == "resume":
        return await control.resume(login)
    if action == "transfer":
        return await control.transfer(login, data.get("topic") or "")
    if action == "consult":
        return await control.consult(login, data.get("operator") or "")
    if action == "complete":
        return await control.complete(login)
    if action == "cancel":
        return await control.cancel(login)
    return await control.conference(login, data.get("operator") or "")


def may_conference(request: web.Request, user: UserInfo) -> bool:
    return user.role in services(request).settings.queue.conference_roles


@routes.post("/desk/call/{action}", "operator")
async def call_command(request: web.Request) -> web.StreamResponse:
    action = request.match_info["action"]
    if action not in DONE:
        raise web.HTTPNotFound(text="comando sconosciuto")
    user = user_of(request)
    control = _control(request)
    if user.operator_login is None:
        raise web.HTTPConflict(text="il tuo utente non è collegato a un operatore attivo")
    raw = await form(request)
    data = {"topic": text(raw, "topic", limit=40), "operator": text(raw, "operator", limit=40)}
    detail: dict[str, str] = {k: v for k, v in data.items() if v}
    current = control.calls.get(user.operator_login)
    ticket = current.ticket_id if current is not None else None
    try:
        if action == "conference" and not may_conference(request, user):
            roles = ", ".join(services(request).settings.queue.conference_roles) or "nessuno"
            raise ControlRefused(f"la conferenza a tre è riservata a: {roles} (queue.conference_roles)")
        live = await _run(control, action, user.operator_login, data)
    except ControlError as exc:
        refused = isinstance(exc, ControlRefused)
        status = 403 if refused else 409
        await _audit(request, user, f"call_{action}_{'refused' if refused else 'failed'}", ticket, detail, str(exc))
        if wants_json(request):
            return web.json_response({"error": str(exc)}, status=status)
        return render(request, "error.html", status=status, error=str(exc), back="/console/desk")
    await _audit(request, user, f"call_{action}", live.ticket_id, detail)
    if wants_json(request):
        return web.json_response({"ticket": live.ticket_id, "call": live.view(), "message": DONE[action]})
    raise redirect("/console/desk", action)


async def _audit(
    request: web.Request, user: UserInfo, action: str, ticket: int | None, detail: dict[str, str], reason: str = ""
) -> None:
    """Every attempt on a live call, with who was asked for and, when not done, why."""
    await services(request).accounts.audit(
        user, action, now(request), kind="ticket", object_id=ticket, address=address(request),
        detail={**detail, "reason": reason} if reason else detail or None,
    )  # fmt: skip
