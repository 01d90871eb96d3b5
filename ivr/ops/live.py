"""Changes made from the command line that the running engine must learn at once.

`ivr operator add` writes the store; the engine re-reads operators every couple of seconds, so a
`ivr operator login` typed right after could find nobody. The command therefore asks the running
engine (API token, loopback) to read them now; with no engine running there is nothing to tell.
"""

from __future__ import annotations

import logging

from ivr.apiclient import ApiError, call_api
from ivr.settings import Settings

log = logging.getLogger(__name__)

# (command, subcommand) that change what the running engine holds in memory.
LIVE_CHANGES = frozenset({("operator", "add"), ("operator", "update")})


def tell_engine(settings: Settings, command: str, what: str | None) -> bool:
    """True when the engine took the change in; False when no engine runs (it reads it at start)."""
    if (command, what) not in LIVE_CHANGES or settings.console.api_token is None:
        return False
    try:
        result = call_api(settings, "POST", "/api/operators/sync")
    except ApiError as exc:
        log.debug("running engine not told (%s): it reads operators at start and every few seconds", exc)
        return False
    log.debug("running engine knows %s operators", result.get("operators") if isinstance(result, dict) else "?")
    return True
