"""Who is asking: the session cookie, the role each route needs, CSRF on every change, the
login page with throttling, and logout."""

from __future__ import annotations

import logging
import secrets
from datetime import datetime, timedelta
from typing import Literal

from aiohttp import web

from ivr.console.accounts import LEVEL, SessionInfo, UserInfo
from ivr.console.services import ConsoleServices
from ivr.console.web import (
    PUBLIC,
    UPLOADS,
    Handler,
    Invalid,
    NotDone,
    Routes,
    address,
    check_csrf,
    current_session,
    end_desk_phones,
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
from ivr.ha.guard import Fenced
from ivr.tickets.writer import StoreUnavailable, unavailable

log = logging.getLogger(__name__)
COOKIE = "nul_session"
LOGIN_COOKIE = "nul_login_csrf"
SAFE_METHODS = ("GET", "HEAD", "OPTIONS")
UNAVAILABLE = "I dati del servizio non sono raggiungibili in questo momento: riprova tra qualche secondo."
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


def _cookie_settings(request: web.Request) -> dict[str, object]:
    return {
        "httponly": True,
        "samesite": "Strict",
        "secure": secure_cookies(request),
        "path": "/",
    }


def secure_cookies(request: web.Request) -> bool:
    settings = services(request).settings
    return settings.console.secure_cookies(settings.profile)


def lifetimes(request: web.Request) -> tuple[timedelta, timedelta]:
    return _lifetimes(services(request))


def _lifetimes(svc: ConsoleServices) -> tuple[timedelta, timedelta]:
    c = svc.settings.console
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
    except Exception as exc:
        if isinstance(exc, Fenced) or not (unavailable(exc) or isinstance(exc, (StoreUnavailable, NotDone))):
            raise
        # The database away (the soak's outages: 187 pages answered 500 with a traceback each):
        # the page says so, and what to do; the line's calls go on meanwhile. Every console
        # page is answered here, never among a handler's refusals (4xx): a fault is retried,
        # a refusal is not. A change it stopped says what was not done (NotDone).
        cause = exc.__cause__ if isinstance(exc, NotDone) else exc
        log.warning("console %s %s: database unavailable (%s)", request.method, request.path, cause)
        said = f"{exc} {UNAVAILABLE}" if isinstance(exc, NotDone) else UNAVAILABLE
        busy = web.HTTPServiceUnavailable(text=said, headers={"Retry-After": "10"})
        _secure_headers(busy)
        raise busy from None
    _secure_headers(response)
    return response


def _secure_headers(response: web.StreamResponse) -> None:
    for name, value in HEADERS.items():
        response.headers.setdefault(name, value)
    if response.content_type in ("text/html", "application/json"):
        response.headers.setdefault("Cache-Control", "no-store")


async def _guarded(request: web.Request, handler: Handler) -> web.StreamResponse:
    limit = UPLOADS.get(request.match_info.handler)
    if limit is not None:  # a page taking a file: its own limit, before the CSRF check reads the body
        request = request.clone(client_max_size=limit)
    rule = rule_of(request)
    session = await _session(request)
    set_session(request, session)
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
    return await session_from_cookie(services(request), request)


async def session_from_cookie(svc: ConsoleServices, request: web.Request) -> SessionInfo | None:
    """The valid session the request's cookie names, if any (also for routes outside /console/)."""
    token = request.cookies.get(COOKIE)
    if not token or len(token) > 128:
        return None
    idle, absolute = _lifetimes(svc)
    return await svc.accounts.resolve(token, svc.clock.now(), idle=idle, absolute=absolute)


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
    user = await _check_password(request, login_name, password[:1024], addr, at)
    if user == "locked":
        await svc.accounts.audit(None, "login_locked", at, address=addr, login=login_name)
        return _login_form(request, "Troppi tentativi errati: riprova tra qualche minuto.", login_name, 429)
    if user is None:
        await svc.accounts.audit(None, "login_failed", at, address=addr, login=login_name)
        return _login_form(request, "Nome utente o password non corretti.", login_name, 401)
    token, _csrf = await svc.accounts.open_session(user.id, at, addr)
    await svc.accounts.audit(user, "login", at, address=addr)
    target = data.get("next")
    response = web.HTTPSeeOther(_safe_next(target if isinstance(target, str) else None))
    _idle, absolute = lifetimes(request)
    response.set_cookie(COOKIE, token, max_age=int(absolute.total_seconds()), **_cookie_settings(request))  # type: ignore[arg-type]
    response.del_cookie(LOGIN_COOKIE, path="/")
    raise response


async def _check_password(
    request: web.Request, login: str, password: str, addr: str | None, at: datetime
) -> UserInfo | Literal["locked"] | None:
    """The attempt is counted before the check (given back if right), one check at a time per
    login and a few at a time in all."""
    svc = services(request)
    throttle = svc.throttle
    async with throttle.turn(login):
        stamp = throttle.reserve(login, addr)
        if stamp is None:
            return "locked"
        async with throttle.checking():
            user = await svc.accounts.authenticate(login, password, at)
        if user is not None:
            throttle.release(login, addr, stamp)
    return user


@routes.post("/logout", "operator")
async def logout(request: web.Request) -> web.StreamResponse:
    session = session_of(request)
    accounts = services(request).accounts
    await accounts.close_session(session.token_hash)
    await end_desk_phones(request, session.token_hash)  # the desk's phone loses its SIP password too
    await accounts.audit(session.user, "logout", now(request), address=address(request))
    response = redirect("/console/login", "logged_out")
    response.del_cookie(COOKIE, path="/")
    raise response


@routes.get("/", "operator")
async def home(request: web.Request) -> web.StreamResponse:
    user = session_of(request).user
    raise web.HTTPSeeOther("/console/desk" if LEVEL[user.role] == 1 else "/console/wallboard")
