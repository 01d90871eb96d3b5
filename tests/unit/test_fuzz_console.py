"""The console's forms and APIs fuzzed with a logged-in session of each role and a valid CSRF
token: whatever the fields hold, no answer is a 500 (the store and the pages stay consistent)."""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient
from hypothesis import event, given
from hypothesis import strategies as st

from ivr.console.app import CONSOLE
from tests.console_support import ConsoleLab, console_lab
from tests.unit.fuzzing import FUZZ, HOSTILE_TEXT

VALUES = st.one_of(HOSTILE_TEXT, st.text(max_size=40), st.sampled_from(["1", "0", "-1", "9" * 30, "on", "resolved"]))
FIELDS = st.dictionaries(
    st.one_of(
        st.sampled_from(
            [
                "note",
                "outcome",
                "reason",
                "presence",
                "login",
                "name",
                "role",
                "password",
                "operator",
                "result",
                "from",
                "to",
                "message",
                "skills",
                "phone",
                "active",
                "number",
                "id",
                "day",
                "topic",
                "status",
            ]
        ),
        st.text(min_size=1, max_size=12),
    ),
    VALUES,
    max_size=8,
)
IDS = st.one_of(st.sampled_from(["1", "2", "3", "999999", "0", "-1", "abc", "9" * 40]), st.text(max_size=6))


@pytest.fixture
async def lab(tmp_path: Path) -> AsyncIterator[ConsoleLab]:
    async with console_lab(tmp_path) as lab:
        await lab.call("3331110001", operator="anna")
        await lab.voicemail("3331110002")
        yield lab


def _routes(lab: ConsoleLab) -> list[tuple[str, str]]:
    app = lab.server.app
    assert app is not None
    found = []
    for route in app[CONSOLE].router.routes():
        resource = route.resource
        if resource is None or isinstance(resource, web.StaticResource) or route.method == "HEAD":
            continue
        if resource.canonical.endswith(("/events", "/login", "/logout")):
            continue  # the live stream never ends; login and logout have their own tests
        found.append((route.method, resource.canonical))
    return found


_sessions: dict[tuple[int, str], tuple[TestClient[Any, Any], str]] = {}


async def _session(lab: ConsoleLab, login: str) -> tuple[TestClient[Any, Any], str]:
    """One logged-in client per role for the whole run (the fixture lives across examples)."""
    key = (id(lab), login)
    if key not in _sessions:
        client = await lab.login(login)
        _sessions[key] = (client, await lab.csrf(client))
    return _sessions[key]


@FUZZ
@given(
    login=st.sampled_from(["anna", "sara", "ada"]),
    pick=st.integers(0, 10_000),
    ident=IDS,
    fields=FIELDS,
    as_json=st.booleans(),
)
async def test_logged_in_forms_never_answer_500(
    lab: ConsoleLab, login: str, pick: int, ident: str, fields: dict[str, str], as_json: bool
) -> None:
    client, token = await _session(lab, login)
    routes = _routes(lab)
    assert len(routes) > 30
    method, path = routes[pick % len(routes)]
    url = re.sub(r"\{\w+\}", quote(ident, safe="") or "1", path)
    headers = {"X-CSRF-Token": token}
    kwargs: dict[str, Any] = {"allow_redirects": False, "headers": headers}
    if method == "GET":
        # (a URL longer than the server reads is the client's own error, not a fuzz finding)
        kwargs["params"] = {k: v for k, v in fields.items() if "\x00" not in k + v and len(v) < 1000}
    else:  # encoded here, so any text at all reaches the server as the body
        body = {**fields, "_csrf": token}
        if as_json:
            kwargs["data"] = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        else:
            kwargs["data"] = urlencode(body, encoding="utf-8", errors="surrogatepass").encode()
            headers["Content-Type"] = "application/x-www-form-urlencoded"
    async with client.request(method, url, **kwargs) as response:
        await response.read()
        event(f"{login} {method} {response.status}")
        assert response.status < 500, (login, method, url, fields, response.status)
