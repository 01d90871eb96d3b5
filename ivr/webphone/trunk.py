"""Whether the desks' phones can register at all: Asterisk knows the carrier by its source address
before any username (`endpoint_identifier_order = ip,username`), and the console's relay reaches
Asterisk from one address of this machine. When that address is the trunk's, every desk is taken
for the carrier and refused, and a desk that only said "trying again" left its operator guessing."""

from __future__ import annotations

import ipaddress
import socket

from ivr.settings import Settings


def relay_source(host: str, port: int) -> str | None:
    """The address this machine's connections to `host` leave from (the kernel's choice for a
    UDP socket; nothing is sent), or None when there is no route."""
    try:
        with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.connect((host, port))
            return str(s.getsockname()[0])
    except OSError:
        return None


def desks_taken_for_carrier(settings: Settings) -> str | None:
    """The relay's address when it is the trunk's (the desks cannot register), else None."""
    a = settings.asterisk
    relay = relay_source(a.host, a.ari.port)
    try:
        same = relay is not None and ipaddress.ip_address(relay) == ipaddress.ip_address(a.trunk.host)
    except ValueError:  # a trunk given by name: Asterisk resolves it, the relay's address is not a name
        return None
    return relay if same else None
