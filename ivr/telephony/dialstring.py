"""The dial strings the engine places legs with, and the PJSIP endpoint names behind them.

A dial string names a PJSIP endpoint of the engine's Asterisk: `carrier` is the trunk section
of config/asterisk/engine/pjsip.conf.j2 (rendered with CARRIER_ENDPOINT), `op-<login>` the
endpoints ivr.acd.operators renders for softphones, `web-<login>` the browser phones of
ivr.webphone.desks. Building them in one place keeps a renamed
section from silently sending calls nowhere.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

TECH = "PJSIP"
CARRIER_ENDPOINT = "carrier"  # the trunk's endpoint/aor/identify sections in pjsip.conf.j2
OPERATOR_PREFIX = "op-"  # operators' softphone endpoints: op-<login>
DESK_PREFIX = "web-"  # operators' browser phones (the desk, WebRTC): web-<login>

_CARRIER_LEG = re.compile(rf"^{TECH}/(?P<number>[^@/]+)@(?P<trunk>[A-Za-z0-9_.-]+)$")


@dataclass(frozen=True)
class CarrierLeg:
    number: str
    trunk: str


def operator_endpoint(login: str) -> str:
    """The PJSIP endpoint (and aor, and auth username) of an operator's softphone."""
    return f"{OPERATOR_PREFIX}{login}"


def operator_login(endpoint: str) -> str | None:
    """The login behind an operator endpoint name; None for any other endpoint."""
    return endpoint[len(OPERATOR_PREFIX) :] if endpoint.startswith(OPERATOR_PREFIX) else None


def desk_endpoint(login: str) -> str:
    """The PJSIP endpoint (and aor, and auth username) of an operator's browser phone."""
    return f"{DESK_PREFIX}{login}"


def desk_login(endpoint: str) -> str | None:
    """The login behind a browser phone's endpoint name; None for any other endpoint."""
    return endpoint[len(DESK_PREFIX) :] if endpoint.startswith(DESK_PREFIX) else None


def desk_leg(login: str) -> str:
    """Dial string ringing an operator's desk (the browser phone registered through the console's /ws)."""
    return f"{TECH}/{desk_endpoint(login)}"


def softphone_leg(login: str) -> str:
    """Dial string ringing an operator's registered softphone."""
    return f"{TECH}/{operator_endpoint(login)}"


def carrier_leg(number: str, trunk: str = CARRIER_ENDPOINT) -> str:
    """Dial string calling an outside number through the carrier trunk."""
    return f"{TECH}/{number}@{trunk}"


def parse_carrier_leg(dial: str) -> CarrierLeg | None:
    """The number and trunk of a carrier dial string; None for a softphone (or anything else)."""
    found = _CARRIER_LEG.match(dial)
    return CarrierLeg(found.group("number"), found.group("trunk")) if found else None
