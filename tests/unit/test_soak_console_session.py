"""The soak's console client against a real HTTP server: a post the console answers with its
login page (the session ended while the soak moved the clock a day on) was counted as done,
and the checker then found 34 second-level calls and 5 web replies on no ticket. Against the
real console: a post sent beside another action's login again (full run 6, ticket 3572, refused
for its token) and a token the console changed by itself."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import timedelta
from pathlib import Path

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from sqlalchemy import update

from ivr.lab.soak.driver_http import LineConsole, Target
from ivr.schema.console import ConsoleSession
from tests.console_support import PASSWORD, ConsoleLab, console_lab

LOGIN_PAGE = '<form><input type="hidden" name="_csrf" value="login-token"></form>'


def console_app(valid: set[str], logins: list[str]) -> web.Application:
    async def login_page(request: web.Request) -> web.Response:
        return web.Response(text=LOGIN_PAGE, content_type="text/html")

    async def login(request: web.Request) -> web.Response:
        data = await request.post()
        if data["password"] != "pw":
            return web.Response(text=LOGIN_PAGE, content_type="text/html")  # refused: the form again
        logins.append(str(data["login"]))
        cookie = f"s{len(logins)}"
        valid.add(cookie)
        response = web.HTTPSeeOther("/console/")
        response.set_cookie("nul_session", cookie)
        raise response

    async def kb(request: web.Request) -> web.Response:
        return web.Response(text='<meta name="csrf-token" content="page-token">', content_type="text/html")

    async def reply(request: web.Request) -> web.Response:
        if request.cookies.get("nul_session") not in valid:
            raise web.HTTPSeeOther("/console/login?next=/console/requests")
        raise web.HTTPSeeOther("/console/requests/7?msg=request_replied")

    app = web.Application()
    app.router.add_get("/console/login", login_page)
    app.router.add_post("/console/login", login)
    app.router.add_get("/console/kb", kb)
    app.router.add_post("/console/requests/7/reply", reply)
    return app


async def test_a_post_met_by_the_login_page_logs_in_again_and_is_sent_again() -> None:
    valid: set[str] = set()
    logins: list[str] = []
    async with TestServer(console_app(valid, logins)) as server:
        base = str(server.make_url("")).rstrip("/")

        async def locate() -> Target:
            return Target(base, "token")

        console = LineConsole(locate, {"soakcapo": "pw"})
        try:
            assert (await console.login("soakcapo")).status == 303
            valid.clear()  # the session ends (idle past its limit)
            answer = await console.post("soakcapo", "/console/requests/7/reply", {"text": "x"})
            assert (answer.status, answer.location) == (303, "/console/requests/7?msg=request_replied")
            assert logins == ["soakcapo", "soakcapo"]

            console.passwords["soakcapo"] = "wrong"  # a login that does not take: never "done"
            valid.clear()
            answer = await console.post("soakcapo", "/console/requests/7/reply", {"text": "x"})
            assert answer.status == 401 and "login page" in answer.text
            assert logins == ["soakcapo", "soakcapo"]
        finally:
            await console.close()


class HeldConsole(LineConsole):
    """The driver's console, with a login's token read held back until `go` is set: the moment
    between the new session's cookie and its token, when full run 6's outcome round had logged
    soak08 in again and the second level's post went out with the old page's token."""

    def __init__(self, locate: Callable[[], Awaitable[Target]], passwords: dict[str, str]) -> None:
        super().__init__(locate, passwords)
        self.go: asyncio.Event | None = None
        self.reading = asyncio.Event()

    async def _fresh_csrf(self, user: str) -> None:
        if self.go is not None:
            self.reading.set()
            await self.go.wait()
        await super()._fresh_csrf(user)


@pytest.fixture
async def lab(tmp_path: Path) -> AsyncIterator[ConsoleLab]:
    async with console_lab(tmp_path) as lab:
        yield lab


def _driver_console(lab: ConsoleLab) -> HeldConsole:
    base = str(lab.server.make_url("")).rstrip("/")

    async def locate() -> Target:
        return Target(base, "token")

    return HeldConsole(locate, {"anna": PASSWORD})


async def _logins(lab: ConsoleLab) -> int:
    return len([e for e in await lab.accounts.audit_entries(login="anna") if e.action == "login"])


async def test_a_post_beside_a_login_again_reloads_its_token_and_is_sent_again(lab: ConsoleLab) -> None:
    console = _driver_console(lab)
    try:
        assert (await console.login("anna")).status == 303
        lab.clock.set(lab.clock.now() + timedelta(days=1))  # the soak's next day: the session has ended
        console.go = asyncio.Event()
        desk = asyncio.ensure_future(console.get("anna", "/console/desk"))  # finds the login page, logs in
        await asyncio.wait_for(console.reading.wait(), 10)  # the new session's cookie is in, its token not yet
        pause = asyncio.ensure_future(
            console.post("anna", "/console/desk/presence", {"presence": "paused", "reason": "Pausa"}, as_json=True)
        )
        await asyncio.sleep(0.5)
        console.go.set()
        answer = await asyncio.wait_for(pause, 10)
        assert (answer.status, answer.json) == (200, {"state": "paused"})
        assert (await desk).status == 200
        assert await _logins(lab) == 2  # once at the start, once for the new day: not once per action
    finally:
        await console.close()


async def test_a_token_the_console_changed_with_no_login_is_a_refusal(lab: ConsoleLab) -> None:
    """No reload then: a token gone stale while the person did nothing (a takeover, a restart)
    would lose their work, and is the console's to answer for, not the driver's to paper over."""
    console = _driver_console(lab)
    try:
        assert (await console.login("anna")).status == 303
        await lab.deps.store.run_write(
            lambda s: s.execute(update(ConsoleSession).values(csrf="changed-by-the-console"))
        )
        answer = await console.post("anna", "/console/desk/presence", {"presence": "paused"}, as_json=True)
        assert answer.status == 403 and "token CSRF" in answer.text
        assert await _logins(lab) == 1
    finally:
        await console.close()
