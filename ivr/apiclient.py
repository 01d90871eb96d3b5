"""A tiny client of the engine's API, for the `ivr` commands that act on the running engine."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from typing import Any

from ivr.errors import SetupError
from ivr.settings import Settings


class ApiError(SetupError):
    pass


def call_api(settings: Settings, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
    token = settings.console.api_token
    if token is None:
        raise ApiError("console.api_token is not set (run `ivr setup`)")
    host = "127.0.0.1" if settings.console.bind in ("0.0.0.0", "") else settings.console.bind
    request = urllib.request.Request(
        f"http://{host}:{settings.console.port}{path}",
        method=method,
        data=json.dumps(body).encode() if body is not None else None,
        headers={"Authorization": f"Bearer {token.get_secret_value()}", "Content-Type": "application/json"},
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return json.loads(response.read() or b"null")
    except urllib.error.HTTPError as exc:
        try:
            message = json.loads(exc.read()).get("error", exc.reason)
        except ValueError:
            message = exc.reason
        raise ApiError(f"{message} (HTTP {exc.code})") from None
    except urllib.error.URLError as exc:
        raise ApiError(
            f"the engine is not reachable at {request.full_url} ({exc.reason}); is `ivr run` running?"
        ) from None
