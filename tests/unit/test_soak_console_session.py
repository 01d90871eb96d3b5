"""The soak's console client against a real HTTP server: a post the console answers with its
login page (the session ended while the soak moved the clock a day on) was counted as done,
and the checker then found 34 second-level calls and 5 web replies on no ticket."""

from __future__ import annotations

from aiohttp import web
from aiohttp.test_utils import TestServer

from ivr.lab.soak.driver_http import LineConsole, Target

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
