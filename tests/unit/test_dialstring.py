"""Dial strings name endpoints that exist: the carrier trunk of the engine's pjsip.conf template
and the operators' endpoints the engine renders, both from ivr.telephony.dialstring."""

from __future__ import annotations

import re
from pathlib import Path

import jinja2

from ivr.acd.operators import PhoneSecurity, render_pjsip
from ivr.dialout.guard import carrier_number
from ivr.telephony.dialstring import (
    CARRIER_ENDPOINT,
    CarrierLeg,
    carrier_leg,
    desk_leg,
    desk_login,
    operator_login,
    parse_carrier_leg,
    softphone_leg,
)
from ivr.webphone.desks import render_desks

TEMPLATES = Path(__file__).resolve().parents[2] / "config" / "asterisk" / "engine"


def _sections(text: str) -> dict[str, set[str]]:
    """section name -> its `type =` values (PJSIP reuses a name for endpoint, aor, identify)."""
    found: dict[str, set[str]] = {}
    section: str | None = None
    for line in text.splitlines():
        header = re.match(r"^\[([^\]]+)\]", line)
        if header:
            section = header.group(1)
        kind = re.match(r"^type\s*=\s*(\S+)", line)
        if kind and section is not None:
            found.setdefault(section, set()).add(kind.group(1))
    return found


def _endpoint(dial: str) -> str:
    """The PJSIP endpoint a dial string goes out through."""
    tech, rest = dial.split("/", 1)
    assert tech == "PJSIP"
    return rest.rsplit("@", 1)[1] if "@" in rest else rest


def test_the_carrier_leg_goes_out_through_the_trunk_the_template_defines() -> None:
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(TEMPLATES), undefined=jinja2.StrictUndefined)
    text = env.get_template("pjsip.conf.j2").render(
        sip={"bind": "127.0.0.1", "port": 5060},
        tls=None,
        trunk={"host": "127.0.0.2", "port": 5070, "codecs": ["alaw"]},
        carrier_endpoint=CARRIER_ENDPOINT,
    )
    sections = _sections(text)
    assert {"endpoint", "aor", "identify"} <= sections[_endpoint(carrier_leg("3471234567"))]


def test_the_softphone_leg_rings_the_endpoint_the_engine_renders() -> None:
    text = render_pjsip({"anna": "0" * 32}, ["alaw"], PhoneSecurity(tls=False, plain=True))
    endpoint = _endpoint(softphone_leg("anna"))
    assert {"endpoint", "aor"} <= _sections(text)[endpoint]
    assert operator_login(endpoint) == "anna"
    assert operator_login(CARRIER_ENDPOINT) is None


def test_a_carrier_leg_is_read_back_and_a_softphone_is_not_a_carrier_leg() -> None:
    assert parse_carrier_leg(carrier_leg("+393471234567")) == CarrierLeg("+393471234567", CARRIER_ENDPOINT)
    assert parse_carrier_leg(softphone_leg("anna")) is None
    assert carrier_number(carrier_leg("0612345678", "other-trunk")) == "0612345678"
    assert carrier_number(softphone_leg("anna")) is None


def test_the_desk_leg_rings_the_webrtc_endpoint_over_the_transport_the_template_defines() -> None:
    endpoint = _endpoint(desk_leg("anna"))
    text = render_desks({"anna": "0" * 32}, ["ulaw"])
    assert {"endpoint", "aor", "auth"} <= _sections(text)[endpoint] | _sections(text)[f"{endpoint}-auth"]
    assert desk_login(endpoint) == "anna" and operator_login(endpoint) is None
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(TEMPLATES), undefined=jinja2.StrictUndefined)
    conf = env.get_template("pjsip.conf.j2").render(
        sip={"bind": "127.0.0.1", "port": 5060},
        tls=None,
        webrtc=True,
        trunk={"host": "127.0.0.2", "port": 5070, "codecs": ["alaw"]},
        carrier_endpoint=CARRIER_ENDPOINT,
    )
    assert "[transport-wss]" in conf and "protocol = wss" in conf
    assert "transport = transport-wss" in text


def test_an_operator_leg_without_audio_for_a_minute_is_hung_up_by_asterisk() -> None:
    """Softphones and desks alike: a dead leg (its transport gone) must not hold a caller."""
    for text in (
        render_pjsip({"anna": "0" * 32}, ["alaw"], PhoneSecurity(tls=True, plain=False)),
        render_desks({"anna": "0" * 32}, ["ulaw"]),
    ):
        endpoint = text.split("type = endpoint", 1)[1].split("\n\n", 1)[0]
        assert "rtp_timeout = 60" in endpoint.splitlines(), text
