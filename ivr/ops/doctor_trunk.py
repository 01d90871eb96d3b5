"""`ivr doctor`'s trunk check: a phone whose SIP comes from the trunk's address is taken for the
carrier and refused (`ivr.webphone.trunk`). The check names the addresses operators' phones may
come from: the console's desk relay, the browsers of the last month, this machine."""

from __future__ import annotations

import ipaddress
from datetime import UTC, datetime, timedelta

from ivr.ops.findings import FAIL, OK, WARN, Finding
from ivr.settings import Settings
from ivr.webphone.trunk import desks_taken_for_carrier

LAB_CARRIER = "127.0.0.2"  # `ivr lab`'s carrier, the default trunk
RECENT = timedelta(days=30)  # console sessions looked at: the operators of the last month


def console_addresses(settings: Settings, now: datetime) -> set[str]:
    """Where operators' and supervisors' browsers came from in the last month (the console keeps
    each session's client address); empty when the store cannot be read."""
    from sqlalchemy import select
    from sqlalchemy.exc import SQLAlchemyError

    from ivr.ops.backup import _sqlite_path
    from ivr.schema.console import ConsoleSession
    from ivr.tickets.db import make_engine

    path = _sqlite_path(settings.database_url)
    if path is not None and not path.exists():
        return set()  # no database yet (opening it would make an empty one)
    engine = make_engine(settings.database_url)
    try:
        with engine.connect() as conn:
            rows = conn.scalars(
                select(ConsoleSession.address).where(ConsoleSession.last_seen_at >= now - RECENT).distinct()
            )
            return {a for a in rows if a}
    except SQLAlchemyError:
        return set()
    finally:
        engine.dispose()


def check_trunk(settings: Settings) -> list[Finding]:
    a = settings.asterisk
    host, name = a.trunk.host, "trunk"
    fix = "set asterisk.trunk.host to the carrier's own address (the lab carrier's is 127.0.0.2)"
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return [
            Finding(
                name,
                WARN,
                f"the trunk is a name ({host}): Asterisk matches the address it resolves to at start",
                "give the carrier's address; a name that moves is not followed",
            )
        ]
    relay = desks_taken_for_carrier(settings)
    if relay is not None:
        return [
            Finding(
                name,
                FAIL,
                f"the desks' phones reach Asterisk from {relay} (the console's relay), the "
                "trunk's address: each desk is taken for the carrier and never registers",
                fix,
            )
        ]
    if host in console_addresses(settings, datetime.now(UTC)):
        return [
            Finding(
                name,
                FAIL,
                f"operators' browsers came from {host}, the trunk's address, this month: a "
                "softphone there is taken for the carrier and never registers",
                fix,
            )
        ]
    if address.is_loopback:
        lab = " (the lab carrier's)" if host == LAB_CARRIER else ""
        return [
            Finding(
                name,
                WARN,
                f"the trunk is on this machine, {host}:{a.trunk.port}{lab}: only `ivr lab call` "
                "reaches the line, and a phone on this machine must not use that address",
                fix,
            )
        ]
    return [
        Finding(name, OK, f"the carrier is known by {host}:{a.trunk.port}; no desk or operator's browser comes from it")
    ]
