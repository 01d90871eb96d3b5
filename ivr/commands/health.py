"""`ivr health`: the running engine's health, with exit codes for monitoring scripts.

0 healthy (active, every part up); 1 degraded (active and taking calls, but AMI, the store, the
outbox or recordings need a look); 2 down (not taking calls: ARI or the app missing, fenced) or
unreachable; 3 standby (waiting for the lease, another engine is active).
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable
from typing import Any

from ivr.apiclient import ApiError, call_api
from ivr.settings import Settings

HEALTHY, DEGRADED, DOWN, STANDBY = 0, 1, 2, 3
_CODES = {"ok": HEALTHY, "degraded": DEGRADED, "standby": STANDBY}


def cmd_health(args: argparse.Namespace, settings: Settings) -> int:
    try:
        report = call_api(settings, "GET", "/api/health")
    except ApiError as exc:
        print(f"down: {exc}")
        return DOWN
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        lease = report.get("lease") or {}
        holder = lease.get("holder") or {}
        active = f"{holder.get('host')} pid {holder.get('pid')}" if holder else "-"
        print(f"{report.get('status')}: role {report.get('role')}, active engine {active}")
        print(f"  ari {report.get('ari')} {report.get('ari_reason') or ''}".rstrip())
        print(f"  ami {report.get('ami')}, calls {report.get('calls', '-')}, store {report.get('store', '-')}")
    return _CODES.get(str(report.get("status")), DOWN)


def add_health_commands(sub: Any, add: Callable[..., argparse.ArgumentParser]) -> None:
    health = add("health", cmd_health, "the running engine's health (exit 0 ok, 1 degraded, 2 down, 3 standby)")
    health.add_argument("--json", action="store_true", help="the whole report as JSON")
