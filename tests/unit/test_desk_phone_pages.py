"""The desk's phone through the real console: who gets a SIP account and what it holds, the
desk page's policy for the phone's WebSocket, heartbeats, and the card fetched as it rings."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from ivr.acd.agents import AgentState
from tests.console_support import PASSWORD, ConsoleLab, console_lab


@pytest.fixture
async def lab(tmp_path: Path) -> Any:
    async with console_lab(tmp_path) as lab:
        yield lab


async def test_the_desk_gets_a_session_password_never_the_console_one(lab: ConsoleLab) -> None:
    anna = await lab.login("anna")
    response = await anna.get("/console/desk/phone/account")
    assert response.status == 200 and response.headers["Cache-Control"] == "no-store"
    account = await response.json()
    assert account["ws_path"] == "/ws"  # the console's own origin: no port of Asterisk's is named
    assert account["username"] == "web-anna" and account["uri"] == "sip:web-anna@127.0.0.1"
    assert account["password"] != PASSWORD and len(account["password"]) >= 20
    assert 0 < account["expires_in_s"] <= 3600
    desks = lab.deps.console.desks
    assert desks is not None and set(desks.digests()) == {"anna"}
    again = await (await anna.get("/console/desk/phone/account")).json()
    assert again["password"] == account["password"]  # the same session keeps its password

    page = await anna.get("/console/desk")
    html = await page.text()
    assert 'id="phone"' in html and "/console/static/vendor/jssip.min.js" in html
    host = anna.make_url("/").host
    assert f"connect-src 'self' wss://{host}:{anna.port}/ws" in page.headers["Content-Security-Policy"]

    csrf = await lab.csrf(anna, "/console/desk")
    await anna.post("/console/logout", data={"_csrf": csrf}, allow_redirects=False)
    assert desks.digests() == {}  # logging out takes the phone's password away


async def test_a_desk_that_asterisk_would_take_for_the_carrier_says_why_instead_of_retrying(
    tmp_path: Path, lab: ConsoleLab
) -> None:
    """The console's relay reaches Asterisk from 127.0.0.1: a trunk there makes every desk the
    carrier's (identified by address first), and the desk said only "trying again"."""
    async with console_lab(tmp_path / "shadowed", {"asterisk": {"trunk": {"host": "127.0.0.1"}}}) as shadowed:
        anna = await shadowed.login("anna")
        account = await (await anna.get("/console/desk/phone/account")).json()
    assert "127.0.0.1" in account["unusable"] and "asterisk.trunk.host" in account["unusable"]
    normal = await (await (await lab.login("anna")).get("/console/desk/phone/account")).json()
    assert "unusable" not in normal  # the lab carrier's 127.0.0.2


async def test_two_desks_of_one_operator_the_newer_takes_the_phone_and_the_older_says_so(lab: ConsoleLab) -> None:
    """Two browsers logged in as one operator took the phone from each other at every renewal
    (and at once after each refused registration): the newer keeps it, the older says so and
    takes it back only when asked."""
    older, newer = await lab.login("anna"), await lab.login("anna")
    first = await (await older.get("/console/desk/phone/account")).json()
    second = await (await newer.get("/console/desk/phone/account")).json()
    assert second["password"] != first["password"]  # the newer desk takes the phone

    token = await lab.csrf(older, "/console/desk")
    beat = await (await older.post("/console/desk/phone/heartbeat", headers={"X-CSRF-Token": token})).json()
    assert "un'altra scrivania" in beat["displaced"]  # told within a beat, not at its next registration
    token = await lab.csrf(newer, "/console/desk")
    assert (
        "displaced"
        not in await (await newer.post("/console/desk/phone/heartbeat", headers={"X-CSRF-Token": token})).json()
    )
    renewal = await older.get("/console/desk/phone/account")  # the older one renews: refused, and told why
    assert renewal.status == 409
    said = await renewal.json()
    assert "un'altra scrivania" in said["displaced"]
    kept = await (await newer.get("/console/desk/phone/account")).json()
    assert kept["password"] == second["password"]  # the newer one keeps it

    back = await older.get("/console/desk/phone/account?take=1")  # "use the phone here"
    assert back.status == 200 and (await back.json())["password"] not in (first["password"], second["password"])
    assert (await newer.get("/console/desk/phone/account")).status == 409  # now the other says so


async def test_only_operators_with_a_desk_get_an_account(lab: ConsoleLab) -> None:
    anonymous = await lab.client()
    response = await anonymous.get("/console/desk/phone/account", allow_redirects=False)
    assert response.status in (302, 303)
    sara = await lab.login("sara")  # a supervisor without an operator
    assert (await sara.get("/console/desk/phone/account")).status == 409


async def test_heartbeats_keep_the_desk_open_and_a_closing_desk_is_paused_after_the_grace(lab: ConsoleLab) -> None:
    anna = await lab.login("anna")
    csrf = await lab.csrf(anna, "/console/desk")
    await lab.deps.distributor.set_presence("anna", "available")
    refused = await anna.post("/console/desk/phone/heartbeat", json={"registered": True})
    assert refused.status == 403  # a change without the CSRF token
    beat = await anna.post("/console/desk/phone/heartbeat", json={"registered": True}, headers={"X-CSRF-Token": csrf})
    assert beat.status == 200 and (await beat.json())["state"] == "available"
    desks = lab.deps.console.desks
    assert desks is not None and desks.is_open("anna")
    closing = await anna.post("/console/desk/phone/closed", data={"_csrf": csrf})
    assert closing.status == 200
    assert lab.deps.distributor.agents["anna"].state is AgentState.AVAILABLE  # a reload may follow


async def test_the_ringing_card_is_the_call_offered_now(lab: ConsoleLab) -> None:
    anna = await lab.login("anna")
    empty = await (await anna.get("/console/desk/phone/card")).json()
    assert empty == {"ticket": None, "card": None}
    ticket = await lab.call("3471112222", operator="anna")
    lab.deps.distributor.agents["anna"].ticket_id = ticket
    ringing = await (await anna.get("/console/desk/phone/card")).json()
    assert ringing["ticket"] == ticket and "3471112222" in ringing["card"] and "live" in ringing["card"]
