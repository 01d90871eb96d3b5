"""Console accounts and the access audit: administrators only."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from ivr.console.accounts import AccountError, new_password
from ivr.console.web import (
    Invalid,
    Routes,
    audit,
    end_desk_phones,
    form,
    now,
    redirect,
    render,
    services,
    text,
    user_of,
)
from ivr.schema.console import ROLES

routes = Routes()


async def _users_page(request: web.Request, status: int = 200, **extra: Any) -> web.Response:
    svc = services(request)
    users = await services(request).accounts.all()
    operators = await svc.operators.directory.all()
    return render(request, "users.html", status=status, users=users, operators=operators, roles=ROLES, **extra)


@routes.get("/users", "administrator")
async def users(request: web.Request) -> web.StreamResponse:
    return await _users_page(request)


@routes.post("/users", "administrator")
async def add_user(request: web.Request) -> web.StreamResponse:
    data = await form(request)
    password = new_password()
    try:
        login = (text(data, "login", limit=64, required=True) or "").lower()
        role = text(data, "role", limit=16, required=True) or ""
        operator = text(data, "operator", limit=32)
        name = text(data, "name", limit=128)
        await services(request).accounts.add(login, role, password, now(request), name=name, operator=operator)
    except (Invalid, AccountError) as exc:
        return await _users_page(request, 400, error=str(exc))
    await audit(request, "user_add", "user", login, role=role)
    return await _users_page(request, created=login, secret=password)


@routes.post("/users/{login}/active", "administrator")
async def set_active(request: web.Request) -> web.StreamResponse:
    login = request.match_info["login"]
    data = await form(request)
    active = data.get("active") == "1"
    if not active and login == user_of(request).login:
        return await _users_page(request, 400, error="non puoi disattivare il tuo stesso utente")
    try:
        await services(request).accounts.set_active(login, active)
    except AccountError as exc:
        return await _users_page(request, 400, error=str(exc))
    if not active:
        await end_desk_phones(request)  # their sessions ended: so do their desks' phones
    await audit(request, "user_enable" if active else "user_disable", "user", login)
    raise redirect("/console/users", "user_enabled" if active else "user_disabled")


@routes.post("/users/{login}/password", "administrator")
async def reset_password(request: web.Request) -> web.StreamResponse:
    login = request.match_info["login"]
    password = new_password()
    try:
        await services(request).accounts.set_password(login, password)
    except AccountError as exc:
        return await _users_page(request, 400, error=str(exc))
    await end_desk_phones(request)  # every session of the user ended with the old password
    await audit(request, "user_password_reset", "user", login)
    return await _users_page(request, created=login, secret=password)


@routes.get("/audit", "administrator")
async def audit_log(request: web.Request) -> web.StreamResponse:
    q = request.query
    kind = (q.get("kind") or "").strip()[:24] or None
    login = (q.get("login") or "").strip()[:64] or None
    object_id = (q.get("object") or "").strip()[:64] or None
    entries = await services(request).accounts.audit_entries(kind=kind, login=login, object_id=object_id)
    return render(
        request, "audit.html", entries=entries, kind=kind or "", login_q=login or "", object_q=object_id or ""
    )
