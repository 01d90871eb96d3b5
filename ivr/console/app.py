"""The web console as an aiohttp sub-application of the engine's HTTP server, under /console/.

Pages are rendered on the server (Jinja2) and work without scripting; a small script adds live
updates (server-sent events) and keeps forms in place while a call pops.
"""

from __future__ import annotations

import logging
from pathlib import Path

from aiohttp import web

from ivr.console import (
    admin,
    auth,
    desk,
    desk_calls,
    desk_phone,
    desk_relay,
    kb_pages,
    missed_pages,
    notice_pages,
    operator_time_pages,
    referral_pages,
    request_pages,
    review_pages,
    stats_pages,
    supervise,
    supervision_pages,
    users,
    voicemail_pages,
)
from ivr.console.services import ConsoleServices
from ivr.console.web import RULES, SERVICES, TEMPLATES, Handler, install, make_templates

log = logging.getLogger(__name__)

STATIC = Path(__file__).with_name("static")
TABLES = (
    auth.routes,
    desk.routes,
    desk_phone.routes,
    desk_calls.routes,
    supervise.routes,
    voicemail_pages.routes,
    missed_pages.routes,
    request_pages.routes,
    admin.routes,
    users.routes,
    stats_pages.routes,
    operator_time_pages.routes,
    notice_pages.routes,
    review_pages.routes,
    supervision_pages.routes,
    referral_pages.routes,
    kb_pages.routes,
)


def make_console(services: ConsoleServices) -> web.Application:
    app = web.Application(middlewares=[auth.guard], client_max_size=256 * 1024)
    app[SERVICES] = services
    app[TEMPLATES] = make_templates(services.settings.service.tz)
    rules: dict[Handler, str] = {}
    install(app, rules, *TABLES)
    app[RULES] = rules
    app.router.add_static("/static", STATIC, name="static", append_version=False)

    async def starting(_app: web.Application) -> None:
        if services.alerts is not None:
            services.alerts.start()

    async def closing(_app: web.Application) -> None:
        services.live.closing.set()  # open event streams end, so the server stops at once
        if services.alerts is not None:
            await services.alerts.stop()
        if services.relay is not None:
            await services.relay.close_all()  # and the desks' SIP WebSockets

    app.on_startup.append(starting)
    app.on_shutdown.append(closing)
    return app


async def _to_console(request: web.Request) -> web.StreamResponse:
    raise web.HTTPFound("/console/")


CONSOLE: web.AppKey[web.Application] = web.AppKey("console_app")


def mount_console(app: web.Application, services: ConsoleServices) -> None:
    """Add the console to the engine's HTTP server; "/" leads to it; `/ws` is the desks' SIP
    WebSocket (ivr.console.desk_relay), when they have a phone."""
    console = make_console(services)
    if services.settings.console.wallboard_show_numbers:
        log.warning("console.wallboard_show_numbers is on: the wallboard shows callers' numbers in full (audited)")
    app.add_subapp("/console/", console)
    if services.relay is not None:
        app.router.add_get(desk_relay.PATH, desk_relay.relay_handler(services))
    app[CONSOLE] = console
    app.router.add_get("/", _to_console)
    app.router.add_get("/console", _to_console)
