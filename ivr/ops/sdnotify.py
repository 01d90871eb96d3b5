"""systemd's notify protocol without a C library: one datagram per message to $NOTIFY_SOCKET.

`Type=notify` units learn the engine is ready (READY=1) only once it answers calls, and
`WatchdogSec=` restarts it when the event loop stops sending WATCHDOG=1 (a hung process that a
plain `Restart=on-failure` would never notice).
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
from collections.abc import Callable, Mapping

log = logging.getLogger(__name__)


def _address(env: Mapping[str, str]) -> str | None:
    path = env.get("NOTIFY_SOCKET")
    if not path:
        return None
    return "\0" + path[1:] if path.startswith("@") else path  # "@name": Linux abstract socket


def notify(message: str, env: Mapping[str, str] | None = None) -> bool:
    """Send `message` (e.g. "READY=1\\nSTATUS=...") to systemd; False when not run by systemd."""
    address = _address(os.environ if env is None else env)
    if address is None:
        return False
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        try:
            sock.connect(address)
            sock.sendall(message.encode())
        except OSError as exc:
            log.warning("systemd notification not sent (%s): %s", address.lstrip("\0"), exc)
            return False
    return True


def watchdog_interval(env: Mapping[str, str] | None = None) -> float | None:
    """Half the watchdog timeout systemd gave this process, or None when there is none."""
    env = os.environ if env is None else env
    usec, pid = env.get("WATCHDOG_USEC"), env.get("WATCHDOG_PID")
    if not usec or (pid and pid != str(os.getpid())):
        return None
    try:
        return max(int(usec) / 2_000_000, 0.05)
    except ValueError:
        return None


async def keep_alive(interval_s: float, status: Callable[[], str], env: Mapping[str, str] | None = None) -> None:
    """WATCHDOG=1 every `interval_s` from the event loop (so a blocked loop stops them), with a
    one-line status for `systemctl status`."""
    while True:
        notify(f"WATCHDOG=1\nSTATUS={status()}", env)
        await asyncio.sleep(interval_s)
