"""Who is asking: the session cookie, the role each route needs, CSRF on every change, the
login page with throttling, and logout."""

from __future__ import annotations

import asyncio
import logging
import secrets
from collections.abc import Callable
from datetime import timedelta

from aiohttp import web

from ivr.console.accounts import LEVEL, SessionInfo
from ivr.console.web import (
    PUBLIC,
    Handler,
    Invalid,
    Routes,
    address,
    check_csrf,
    current_session,
    engine_of,
    form,
    now,
    redirect,
    render,
    rule_of,
    services,
    session_of,
    set_session,
    text,
)

log = logging.getLogger(__name__)
COOKIE = "nul_session"
LOGIN_COOKIE = "nul_login_csrf"
SAFE_METHODS = ("GET", "HEAD", "OPTIONS")
HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
    "Content-Security-Policy": (
        "default-src 'self'; img-src 'self' data:; media-src 'self'; style-src 'self'; script-src 'self'; "
        "frame-ancestors 'none'; form-action 'self'; base-uri 'none'"
    ),
}
routes = Routes()


class LoginThrottle:
    """Wrong passwords in a row lock a login (and, more loosely, an address) for a while; kept in
    memory: a restart forgets, which only ever helps the legitimate user."""

    def __init__(self, max_failures: int, lockout_s: float, monotonic: Callable[[], float]) -> None:
        self.max_failures = max_failures
        self.lockout_s = lockout_s
        self.monotonic = monotonic
        self._failures: dict[str, list[float]] = {}

    def _keys(self, login: str, addr: str | None) -> list[tuple[str, int]]:
        return [(f"login:{login}", self.max_failures), (f"addr:{addr}", self.max_failures * 4)]

    def locked(self, login: str, addr: str | None) -> bool:
        now = self.monotonic()
        for key, limit in self._keys(login, addr):
            recent = [t for t in self._failures.get(key, []) if now - t < self.lockout_s]
            self._failures[key] = recent
            if len(recent) >= limit:
                return True
        return False

    def failed(self, login: str, addr: str | None) -> None:
        for key, _ in self._keys(login, addr):
            self._failures.setdefault(key, []).append(self.monotonic())

    def succeeded(self, login: str) -> None:
        self._failures.pop(f"login:{login}", None)


def _cookie_settings(request: web.Request) -> dict[str, object]:
    return {
        "httponly": True,
        "samesite": "Strict",
        "secure": engine_of(request).settings.console.cookie_secure,
        "path": "/",
    }


def lifetimes(request: web.Request) -> tuple[timedelta, timedelta]:
    c = engine_of(request).settings.console
    return timedelta(minutes=c.session_idle_min), timedelta(hours=c.session_max_h)


@web.middleware
async def guard(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Fail closed: a route without a rule is refused; anonymous users are sent to the login."""
    try:
        response = await _guarded(request, handler)
    except web.HTTPException as exc:
        _secure_headers(exc)
        raise
    except Invalid as exc:  # bad input a handler did not show its form again for: a 400 that says why
        error = web.HTTPBadRequest(text=str(exc))
        _secure_headers(error)
        raise error from None
    _secure_headers(response)
    return response


def _secure_headers(response: web.StreamResponse) -> None:
    for name, value in HEADERS.items():
        response.headers.setdefault(name, value)
    if response.content_type in ("text/html", "application/json"):
        response.headers.setdefault("Cache-Control", "no-store")


async def _guarded(request: web.Request, handler: Handler) -> web.StreamResponse:
    rule = rule_of(request)
    session = await _session(request)
    set_session(session)
    if rule == PUBLIC:
        return await handler(request)
    if session is None:
        if request.method in SAFE_METHODS and request.match_info.http_exception is None:
            raise redirect("/console/login", next=request.path_qs)
        raise redirect("/console/login")
    if rule is None:
        if request.match_info.http_exception is not None:
            raise request.match_info.http_exception
        log.error("console route %s %s has no access rule: refused", request.method, request.path)
        raise web.HTTPForbidden(text="this page has no access rule")
    if not session.user.at_least(rule):
        raise web.HTTPForbidden(text="non hai accesso a questa pagina")
    if request.method not in SAFE_METHODS:
        given = request.headers.get("X-CSRF-Token")
        if given is None and request.content_type in ("application/x-www-form-urlencoded", "multipart/form-data"):
            value = (await form(request)).get("_csrf")
            given = value if isinstance(value, str) else None
        if not check_csrf(session, given):
            raise web.HTTPForbidden(text="token CSRF mancante o errato: ricarica la pagina")
    return await handler(request)


async def _session(request: web.Request) -> SessionInfo | None:
    token = request.cookies.get(COOKIE)
    if not token or len(token) > 128:
        return None
    idle, absolute = lifetimes(request)
    accounts = services(request).accounts
    return await asyncio.to_thread(accounts.resolve, token, now(request), idle=idle, absolute=absolute)


async def session_alive(request: web.Request) -> bool:
    """Is the request's session still valid now (long event streams check it now and then)?"""
    session = current_session(request)
    if session is None:
        return False
    found = await _session(request)
    return found is not None and found.token_hash == session.token_hash


# --- pages --------------------------------------------------------------------------------------


@routes.get("/login", PUBLIC)
async def login_page(request: web.Request) -> web.StreamResponse:
    if current_session(request) is not None:
        raise redirect("/console/")
    return _login_form(request)


def _login_form(request: web.Request, error: str | None = None, login: str = "", status: int = 200) -> web.Response:
    token = secrets.token_urlsafe(24)
    response = render(
        request,
        "login.html",
        status=status,
        error=error,
        login_value=login,
        login_csrf=token,
        next=_safe_next(request.query.get("next")),
    )
    response.set_cookie(LOGIN_COOKIE, token, max_age=3600, **_cookie_settings(request))  # type: ignore[arg-type]
    return response


def _safe_next(value: str | None) -> str:
    """Only a path inside the console: never an open redirect."""
    if value and value.startswith("/console/") and not value.startswith("//") and "\\" not in value:
        return value
    return "/console/"


@routes.post("/login", PUBLIC)
async def login(request: web.Request) -> web.StreamResponse:
    data = await form(request)
    given = data.get("_csrf")
    expected = request.cookies.get(LOGIN_COOKIE)
    if not isinstance(given, str) or not expected or not secrets.compare_digest(given, expected):
        return _login_form(request, "Il modulo è scaduto: riprova.", status=400)
    login_name = (text(data, "login", limit=64) or "").lower()
    password = data.get("password")
    password = password if isinstance(password, str) else ""
    svc, addr, at = services(request), address(request), now(request)
    if svc.throttle.locked(login_name, addr):
        await asyncio.to_thread(svc.accounts.audit, None, "login_locked", at, address=addr, login=login_name)
        return _login_form(request, "Troppi tentativi errati: riprova tra qualche minuto.", login_name, 429)
    user = await asyncio.to_thread(svc.accounts.authenticate, login_name, password[:1024], at)
    if user is None:
        svc.throttle.failed(login_name, addr)
        await asyncio.to_thread(svc.accounts.audit, None, "login_failed", at, address=addr, login=login_name)
        return _login_form(request, "Nome utente o password non corretti.", login_name, 401)
    svc.throttle.succeeded(login_name)
    token, _csrf = await asyncio.to_thread(svc.accounts.open_session, user.id, at, addr)
    await asyncio.to_thread(svc.accounts.audit, user, "login", at, address=addr)
    target = data.get("next")
    response = web.HTTPSeeOther(_safe_next(target if isinstance(target, str) else None))
    _idle, absolute = lifetimes(request)
    response.set_cookie(COOKIE, token, max_age=int(absolute.total_seconds()), **_cookie_settings(request))  # type: ignore[arg-type]
    response.del_cookie(LOGIN_COOKIE, path="/")
    raise response


@routes.post("/logout", "operator")
async def logout(request: web.Request) -> web.StreamResponse:
    session = session_of(request)
    accounts = services(request).accounts
    await asyncio.to_thread(accounts.close_session, session.token_hash)
    await asyncio.to_thread(accounts.audit, session.user, "logout", now(request), address=address(request))
    response = redirect("/console/login", "logged_out")
    response.del_cookie(COOKIE, path="/")
    raise response


@routes.get("/", "operator")
async def home(request: web.Request) -> web.StreamResponse:
    user = session_of(request).user
    raise web.HTTPSeeOther("/console/desk" if LEVEL[user.role] == 1 else "/console/wallboard")
