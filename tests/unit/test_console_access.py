"""Every route of the engine's HTTP server has an access rule, and each role gets exactly what
its rule allows: the route table is enumerated, so a new route without a rule fails here."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from ivr.console.accounts import LEVEL
from ivr.console.app import CONSOLE
from ivr.console.desk_relay import PATH as RELAY_PATH
from ivr.console.web import PUBLIC, RULES
from tests.console_support import ConsoleLab, console_lab

# Pages outside the console that are public by design (built by other packages), and the API,
# which has its own bearer token.
PUBLIC_PREFIXES = ("/statistiche", "/richiesta", "/api/public/")
PUBLIC_CONSOLE = {("GET", "/console/login"), ("POST", "/console/login")}
SAMPLE = {"id": "999999", "login": "nessuno", "version": "1", "action": "hold"}


def _console_routes(api: web.Application) -> list[tuple[str, str, Any]]:
    console = api[CONSOLE]
    found = []
    for route in console.router.routes():
        resource = route.resource
        assert resource is not None
        if isinstance(resource, web.StaticResource):
            continue
        found.append((route.method, resource.canonical, route.handler))
    return found


def _fill(path: str) -> str:
    return re.sub(r"\{(\w+)\}", lambda m: SAMPLE[m.group(1)], path)


def _login_redirect(response: Any) -> bool:
    return response.status in (302, 303) and response.headers.get("Location", "").startswith("/console/login")


@pytest.fixture
async def lab(tmp_path: Path) -> Any:
    async with console_lab(tmp_path) as lab:
        yield lab


async def test_every_route_has_a_rule(lab: ConsoleLab) -> None:
    api = lab.server.app
    assert api is not None
    rules = api[CONSOLE][RULES]
    routes = _console_routes(api)
    assert len(routes) > 30
    missing = [(m, p) for m, p, h in routes if h not in rules]
    assert missing == [], f"console routes without an access rule: {missing}"
    public = {(m, p) for m, p, h in routes if rules[h] == PUBLIC}
    assert public == PUBLIC_CONSOLE
    for route in api.router.routes():
        resource = route.resource
        assert resource is not None
        path = resource.canonical
        if path.startswith("/console") and path not in ("/console",):
            continue  # the sub-application, checked above
        if path == RELAY_PATH:  # the desks' SIP WebSocket checks the session, Origin and desk itself
            continue  # (tests/unit/test_desk_relay.py: anonymous 401, another origin or no desk 403)
        assert path in ("/", "/console") or path.startswith("/api/") or path.startswith(PUBLIC_PREFIXES), (
            f"{route.method} {path}: a page outside the console must be public by design or under /api/"
        )


async def test_anonymous_gets_only_the_login_page(lab: ConsoleLab) -> None:
    api = lab.server.app
    assert api is not None
    rules = api[CONSOLE][RULES]
    anonymous = await lab.client()
    for method, path, handler in _console_routes(api):
        response = await anonymous.request(method, _fill(path), allow_redirects=False)
        if rules[handler] == PUBLIC:
            assert not _login_redirect(response), f"{method} {path}"
        else:
            assert _login_redirect(response), f"anonymous {method} {path}: {response.status}"
        response.close()
    home = await anonymous.get("/", allow_redirects=False)
    assert home.status == 302 and home.headers["Location"] == "/console/"
    static = await anonymous.get("/console/static/console.css")
    assert static.status == 200
    api_call = await anonymous.get("/api/queue")
    assert api_call.status == 401


@pytest.mark.parametrize("login", ["anna", "sara", "ada"])
async def test_each_role_reaches_exactly_its_routes(lab: ConsoleLab, login: str) -> None:
    api = lab.server.app
    assert api is not None
    rules = api[CONSOLE][RULES]
    role = lab.users[login].role
    client = await lab.login(login)
    token = await lab.csrf(client)
    checked = 0
    for method, path, handler in _console_routes(api):
        if path == "/console/logout":
            continue  # would end the session used for the rest; covered by its own test
        rule = rules[handler]
        headers = {"X-CSRF-Token": token} if method == "POST" else {}
        response = await client.request(method, _fill(path), allow_redirects=False, headers=headers)
        status = response.status
        response.close()
        if rule == PUBLIC:
            continue
        if LEVEL[role] >= LEVEL[rule]:
            assert status != 403 and not _login_redirect(response), f"{login} ({role}) refused {method} {path}"
        else:
            assert status == 403, f"{login} ({role}) reached {method} {path}: {status}"
        checked += 1
    assert checked > 25


async def test_operator_sees_only_their_own_data(lab: ConsoleLab, tmp_path: Path) -> None:
    mine = await lab.call("3330000001", operator="anna")
    theirs = await lab.call("3330000002", operator="bruno")
    given_to_bruno = await lab.voicemail("3330000003", assigned_to="bruno")
    given_to_anna = await lab.voicemail("3330000004", assigned_to="anna")
    anna = await lab.login("anna")
    token = await lab.csrf(anna)
    assert (await anna.get(f"/console/tickets/{mine}")).status == 200
    assert (await anna.get(f"/console/tickets/{theirs}")).status == 403
    assert (await anna.get(f"/console/voicemail/{given_to_bruno}")).status == 403
    assert (await anna.get(f"/console/voicemail/{given_to_bruno}/audio")).status == 403
    assert (await anna.get(f"/console/voicemail/{given_to_anna}")).status == 200
    listen = await anna.get(f"/console/voicemail/{given_to_anna}/audio")
    assert listen.status == 200 and listen.content_type.startswith("audio/")
    desk = await (await anna.get("/console/desk")).text()
    assert "3330000001" in desk and "3330000002" not in desk  # her call to file, not bruno's
    headers = {"X-CSRF-Token": token}
    refused = await anna.post(f"/console/desk/tickets/{theirs}/outcome", data={"outcome": "resolved"}, headers=headers)
    assert refused.status == 403
    vm_ticket = (await lab.deps.store.run_read(lambda s: s.execute(
        __import__("sqlalchemy").text("select ticket_id from voicemails where id = :i"), {"i": given_to_bruno}
    ).scalar_one()))  # fmt: skip
    refused = await anna.post(
        f"/console/tickets/{vm_ticket}/callback-result", data={"result": "answered"}, headers=headers
    )
    assert refused.status == 403
    mine_list = await (await anna.get("/console/desk/tickets")).text()
    assert f"#{mine}<" in mine_list and f"#{theirs}<" not in mine_list


async def test_state_changes_need_the_csrf_token(lab: ConsoleLab) -> None:
    mine = await lab.call("3330000011", operator="anna")
    anna = await lab.login("anna")
    response = await anna.post(f"/console/desk/tickets/{mine}/outcome", data={"outcome": "resolved"})
    assert response.status == 403
    response = await anna.post(f"/console/desk/tickets/{mine}/outcome", data={"outcome": "resolved", "_csrf": "wrong"})
    assert response.status == 403
    ticket = await lab.deps.store.get(mine)
    assert ticket is not None and ticket.status is None  # nothing was filed
    token = await lab.csrf(anna)
    response = await anna.post(
        f"/console/desk/tickets/{mine}/outcome",
        data={
            "outcome": "escalated",
            "note": "serve il secondo livello",
            "contact_name": "Gino Verdi",
            "contact_email": "gino.verdi@example.org",
            "answer_by": "email",
            "_csrf": token,
        },
        allow_redirects=False,
    )
    assert response.status == 303
    ticket = await lab.deps.store.get(mine)
    assert ticket is not None and (ticket.status, ticket.level) == ("new", 2)
    assert ticket.resolution_note == "serve il secondo livello"
