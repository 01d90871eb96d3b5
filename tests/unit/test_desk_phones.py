"""The desks' browser phones: short-lived per-session SIP credentials, the endpoints Asterisk
gets for them, TURN credentials in coturn's scheme, and the heartbeat that pauses a closed desk."""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Callable, Collection

import pytest
from pydantic import ValidationError

from ivr.acd.agents import Agent
from ivr.acd.operators import OperatorInfo
from ivr.webphone.config import WebRtcSettings
from ivr.webphone.desks import CLOSE_GRACE_S, DeskPhones, ice_servers, render_desks


class Ticking:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class Sessions:
    """The accounts' answer: which sessions are live, and as which operator."""

    def __init__(self) -> None:
        self.live: dict[str, str] = {}
        self.asked: list[set[str]] = []
        self.meanwhile: Callable[[], None] | None = None

    async def __call__(self, digests: Collection[str]) -> dict[str, str]:
        self.asked.append(set(digests))
        if self.meanwhile is not None:
            self.meanwhile()
        return {d: self.live[d] for d in digests if d in self.live}


def phones(sessions: Sessions | None = None, **settings: object) -> tuple[DeskPhones, Ticking]:
    clock = Ticking()
    return DeskPhones(WebRtcSettings.model_validate(settings), clock, sessions or Sessions()), clock


async def test_prune_keeps_only_live_sessions_of_the_same_operator() -> None:
    sessions = Sessions()
    desks, _ = phones(sessions)
    assert await desks.prune() == [] and sessions.asked == []  # nothing to ask about
    desks.issue("anna", "s-anna")
    desks.issue("bruno", "s-bruno")
    desks.issue("carla", "s-carla")
    sessions.live = {"s-anna": "anna", "s-bruno": "dario"}  # bruno's user now works as dario
    assert sorted(await desks.prune()) == ["bruno", "carla"]
    assert set(desks.digests()) == {"anna"} and desks.holds("anna") and not desks.holds("bruno")
    assert await desks.prune() == []  # reported once


async def test_a_credential_issued_while_the_accounts_are_asked_is_not_dropped_unseen() -> None:
    sessions = Sessions()
    desks, _ = phones(sessions)
    desks.issue("anna", "s-old")
    sessions.meanwhile = lambda: desks.issue("anna", "s-new") and None  # a new login takes the phone over
    assert await desks.prune() == []
    assert desks.holds("anna")
    sessions.meanwhile = None
    assert await desks.prune() == ["anna"]  # judged at the next prune: s-new is not live here


async def test_logout_and_expiry_are_reported_by_the_next_prune() -> None:
    desks, clock = phones(credential_ttl_min=5)
    desks.issue("anna", "s")
    desks.issue("bruno", "t")
    assert desks.revoke_session("s") == ["anna"]
    clock.now += 5 * 60 + 1
    assert desks.digests() == {}
    assert sorted(await desks.prune()) == ["anna", "bruno"]


def test_a_desk_keeps_its_credential_until_half_its_life_then_gets_a_new_one() -> None:
    desks, clock = phones(credential_ttl_min=10)
    first = desks.issue("anna", "session-a")
    assert first.username == "web-anna" and len(first.password) >= 20
    version = desks.version
    clock.now += 4 * 60
    assert desks.issue("anna", "session-a") == first and desks.version == version  # no PJSIP reload
    clock.now += 2 * 60  # less than half its life left
    renewed = desks.issue("anna", "session-a")
    assert renewed.password != first.password and desks.version > version
    assert desks.digests() == {"anna": hashlib.md5(f"web-anna:nul:{renewed.password}".encode()).hexdigest()}


def test_another_session_takes_the_phone_over_and_logout_removes_it() -> None:
    desks, _ = phones()
    first = desks.issue("anna", "session-a")
    second = desks.issue("anna", "session-b")
    assert second.password != first.password
    desks.revoke_session("session-a")  # the old session's logout does not touch the new phone
    assert set(desks.digests()) == {"anna"}
    desks.revoke_session("session-b")
    assert desks.digests() == {}


def test_an_expired_credential_leaves_asterisk() -> None:
    desks, clock = phones(credential_ttl_min=5)
    desks.issue("anna", "s")
    desks.issue("bruno", "t")
    clock.now += 5 * 60 + 1
    version = desks.version
    assert desks.digests() == {}
    assert desks.version > version  # the sync rewrites the endpoints


def test_a_silent_desk_is_overdue_once_and_a_closing_one_after_the_grace() -> None:
    desks, clock = phones(heartbeat_s=5, desk_timeout_s=20)
    assert desks.overdue() == []  # a desk never opened is nobody's concern (softphone users)
    desks.beat("anna")
    desks.beat("bruno")
    clock.now += 15
    desks.beat("bruno")
    clock.now += 6  # anna silent 21 s, bruno 6 s
    assert desks.overdue() == ["anna"]
    assert desks.overdue() == []  # reported once, until the desk speaks again
    desks.close("bruno")  # the page is going away: a reload would speak again within the grace
    clock.now += CLOSE_GRACE_S - 1
    desks.beat("bruno")
    clock.now += 2
    assert desks.overdue() == []
    desks.close("bruno")
    clock.now += CLOSE_GRACE_S + 0.1
    assert desks.overdue() == ["bruno"]


def test_endpoints_are_webrtc_only_with_the_digest_never_the_password() -> None:
    desks, _ = phones()
    credential = desks.issue("anna", "s")
    text = render_desks(desks.digests(), ["ulaw", "alaw"])
    assert credential.password not in text
    assert f"md5_cred = {credential.digest()}" in text
    for line in ("[web-anna]", "webrtc = yes", "transport = transport-wss", "dtls_auto_generate_cert = yes"):
        assert line in text
    assert "allow = ulaw,alaw" in text


def test_turn_credentials_follow_coturn_rest_scheme() -> None:
    settings = WebRtcSettings.model_validate(
        {
            "ice_servers": [
                {"urls": ["stun:turn.example.it:3478"]},
                {"urls": ["turn:turn.example.it:3478"], "auth_secret": "segreto"},
                {"urls": ["turns:other.example.it:5349"], "username": "u", "credential": "p"},
            ]
        }
    )
    stun, turn, static = ice_servers(settings, "anna", 1_800_000_000)
    assert stun == {"urls": ["stun:turn.example.it:3478"]}
    assert turn["username"] == "1800000000:anna"
    expected = base64.b64encode(hmac.new(b"segreto", b"1800000000:anna", hashlib.sha1).digest()).decode()
    assert turn["credential"] == expected
    assert static == {"urls": ["turns:other.example.it:5349"], "username": "u", "credential": "p"}


@pytest.mark.parametrize(
    "bad",
    [
        {"cert": "/etc/ssl/a.pem"},  # a certificate without its key
        {"heartbeat_s": 10, "desk_timeout_s": 15},  # one lost heartbeat would pause the operator
        {"ice_servers": [{"urls": ["http://turn.example.it"]}]},
    ],
)
def test_settings_refuse_what_cannot_work(bad: dict[str, object]) -> None:
    with pytest.raises(ValidationError):
        WebRtcSettings.model_validate(bad)


def test_the_desk_rings_first_then_the_softphone_then_the_outside_number() -> None:
    agent = Agent(OperatorInfo(1, "anna", "Anna", True, "3470000001", (), "available", None))
    assert (agent.endpoint(), agent.via) == ("PJSIP/3470000001@carrier", "phone")
    agent.registered = True
    assert (agent.endpoint(), agent.via) == ("PJSIP/op-anna", "softphone")
    agent.desk = True
    assert (agent.endpoint(), agent.via) == ("PJSIP/web-anna", "browser")
