"""A standby's one question to Asterisk: does some event socket hold the line's Stasis app?

The lease in the database has run out. That happens when its engine died (its socket is gone with
it: Asterisk drops the app), froze, or lost the database and rides on Asterisk's word
(ivr.ha.guard). In the last case the old engine renews as soon as the database is back, and its
outbox (the calls of the outage) can only be replayed by it; a standby that took the lease at that
moment would throw those writes away. So a standby takes a run-out lease at once only when no
socket holds the app, and otherwise leaves its holder a lease term to renew. A read-only request:
it takes nothing from anyone.
"""

from __future__ import annotations

import logging

import aiohttp

from ivr.settings import Settings

log = logging.getLogger(__name__)


async def app_held(settings: Settings, timeout_s: float = 1.0) -> bool | None:
    """True: a socket holds the app; False: none does; None: Asterisk did not say."""
    a = settings.asterisk
    if a.ari.password is None:
        return None
    url = f"http://{a.host}:{a.ari.port}/ari/applications/{a.ari.app}"
    headers = {"Authorization": aiohttp.encode_basic_auth(a.ari.username, a.ari.password.get_secret_value())}
    try:
        async with (
            aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=timeout_s)) as http,
            http.get(url, headers=headers) as resp,
        ):
            if resp.status == 404:
                return False
            if resp.status == 200:
                return True
            log.warning("standby: Asterisk answered %d about the app", resp.status)
            return None
    except (aiohttp.ClientError, TimeoutError, OSError) as exc:
        log.warning("standby: could not ask Asterisk whether the app is held (%s)", exc or type(exc).__name__)
        return None
