"""The soak driver's way into the line: the product's own HTTP surfaces of the ACTIVE engine (the
public request form, the console with a session per user and its CSRF token, the queue's state
on the token API), followed across a takeover.

`Console` is what the driver needs; `LineConsole` is the real one, on aiohttp. Unit tests give the
driver a fake with the same methods.
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Protocol

import aiohttp

log = logging.getLogger(__name__)
CSRF_META = re.compile(r'<meta name="csrf-token" content="([^"]+)"')
LOGIN_CSRF = re.compile(r'name="_csrf" value="([^"]+)"')
TIMEOUT = aiohttp.ClientTimeout(total=20)


class LineDown(Exception):
    """No answer at all: no engine active, connection refused or cut, no reply in time."""


@dataclass(frozen=True)
class Answer:
    status: int
    text: str = ""
    location: str = ""
    json: Any = None
    engine: str = ""

    @property
    def fault(self) -> bool:
        """An answer a fault gives (the product's own 503, a proxy's or an unhandled error)."""
        return self.status >= 500


@dataclass(frozen=True)
class Target:
    base: str  # http://127.0.0.1:PORT of the active engine's console and API
    token: str  # its API token (the queue's state)


class Console(Protocol):
    passwords: dict[str, str]  # each console user's password (the browser desks log in with theirs)

    async def get(self, user: str, path: str, *, as_json: bool = False) -> Answer: ...

    async def post(self, user: str, path: str, data: dict[str, str], *, as_json: bool = False) -> Answer: ...

    async def login(self, user: str) -> Answer: ...

    async def logout(self, user: str) -> Answer: ...

    async def queue(self) -> Answer: ...

    async def citizen_page(self, source: str, path: str) -> Answer: ...

    async def citizen(self, source: str, path: str, data: dict[str, str]) -> Answer: ...

    async def close(self) -> None: ...


class LineConsole:
    """A console session per user (cookies and CSRF token kept), the active engine found anew
    when the last one stopped answering.

    One user's actions run side by side (the second level's round, the outcome round, presence),
    on one cookie jar, as one person's browser tabs. When their session ends (the soak moves the
    clock a day on) one of them logs in again: the new session's cookie takes effect at once,
    its token only once a page is read, so a tab still holding the old page's token is refused
    ("token CSRF mancante o errato: ricarica la pagina"; full run 6, ticket 3572: the outcome
    round logged soak08 in again 0.3 s before the round's post). The person does what the
    refusal says: reloads and sends again, which is safe, as the console refuses before acting.
    That is done only when a login of this user came after the token was read; any other CSRF
    refusal (a token gone stale with no login, say across a takeover) is the console's, and is
    recorded as refused."""

    def __init__(self, locate: Callable[[], Awaitable[Target]], passwords: dict[str, str]) -> None:
        self.locate = locate
        self.passwords = passwords
        self._target: tuple[float, Target] | None = None
        self._http: dict[str, aiohttp.ClientSession] = {}
        self._csrf: dict[str, tuple[str, int]] = {}  # user -> (token, the login it belongs to)
        self._logins: dict[str, int] = {}  # user -> logins begun (the session's generation)
        self._locks: dict[str, asyncio.Lock] = {}

    async def target(self) -> Target:
        if self._target is not None and time.monotonic() - self._target[0] < 3.0:
            return self._target[1]
        try:
            found = await self.locate()
        except RuntimeError as exc:  # SoakLine.active(): no engine is active (a takeover under way)
            self._target = None
            raise LineDown(str(exc)) from exc
        self._target = (time.monotonic(), found)
        return found

    def _session(self, user: str) -> aiohttp.ClientSession:
        if user not in self._http:
            self._http[user] = aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True), timeout=TIMEOUT)
        return self._http[user]

    async def _send(
        self, http: aiohttp.ClientSession, method: str, path: str, *, headers: dict[str, str] | None = None,
        data: dict[str, str] | None = None, json_body: Any = None,
    ) -> Answer:  # fmt: skip
        target = await self.target()
        try:
            async with http.request(
                method, target.base + path, data=data, json=json_body, headers=headers, allow_redirects=False
            ) as response:
                body = await response.read()
                text = body.decode("utf-8", "replace") if not response.content_type.startswith("audio") else ""
                parsed = None
                if response.content_type == "application/json":
                    try:
                        parsed = await response.json()
                    except (ValueError, aiohttp.ContentTypeError):
                        parsed = None
                return Answer(response.status, text, response.headers.get("Location", ""), parsed, target.base)
        except (TimeoutError, aiohttp.ClientError, OSError) as exc:
            self._target = None  # look for the active engine again next time
            raise LineDown(f"{type(exc).__name__}: {exc}") from exc

    def _lock(self, user: str) -> asyncio.Lock:
        return self._locks.setdefault(user, asyncio.Lock())

    async def login(self, user: str) -> Answer:
        async with self._lock(user):
            return await self._login(user)

    async def _login(self, user: str) -> Answer:
        self._logins[user] = self._logins.get(user, 0) + 1  # from here the old token may be stale
        http = self._session(user)
        page = await self._send(http, "GET", "/console/login")
        token = LOGIN_CSRF.search(page.text)
        if token is None:
            return page
        data = {"_csrf": token.group(1), "login": user, "password": self.passwords[user], "next": "/console/"}
        answer = await self._send(http, "POST", "/console/login", data=data)
        if answer.status == 303:
            await self._fresh_csrf(user)
        return answer

    async def _relogin(self, user: str, seen: int) -> None:
        """The session ended: log in again, unless another of the user's actions already did
        since `seen` (one person logs in once, whichever tab found the login page first)."""
        async with self._lock(user):
            if self._logins.get(user, 0) == seen:
                await self._login(user)

    async def _fresh_csrf(self, user: str) -> None:
        made = self._logins.get(user, 0)
        page = await self._send(self._session(user), "GET", "/console/kb")  # any role's page carries the token
        found = CSRF_META.search(page.text)
        if found is not None:
            self._csrf[user] = (found.group(1), made)

    async def logout(self, user: str) -> Answer:
        answer = await self.post(user, "/console/logout", {})
        self._csrf.pop(user, None)
        return answer

    async def get(self, user: str, path: str, *, as_json: bool = False) -> Answer:
        headers = {"Accept": "application/json"} if as_json else None
        seen = self._logins.get(user, 0)
        answer = await self._send(self._session(user), "GET", path, headers=headers)
        if _to_login(answer) and user in self._csrf:
            await self._relogin(user, seen)  # the session ended (expired): a person logs in again
            answer = await self._send(self._session(user), "GET", path, headers=headers)
        return answer

    async def post(self, user: str, path: str, data: dict[str, str], *, as_json: bool = False) -> Answer:
        if user not in self._csrf:
            await self._fresh_csrf(user)
        seen = self._logins.get(user, 0)
        answer, made = await self._post(user, path, data, as_json)
        if _csrf_refused(answer) and made != self._logins.get(user, 0):
            # A login of this user came after the token was read (see the class): reload, send again.
            async with self._lock(user):  # a login under way ends first
                await self._fresh_csrf(user)
            answer, made = await self._post(user, path, data, as_json)
        if path == "/console/logout" or not _to_login(answer):
            return answer
        # Not done: the session had ended (idle while the soak moved the clock a day on). The
        # login page stopped the post before anything changed, so a person logs in and sends it
        # again; one still sent to the login page is a failure, never "done".
        if user in self._csrf:
            await self._relogin(user, seen)
            answer, made = await self._post(user, path, data, as_json)
        if _to_login(answer):
            return Answer(401, "the console answered with its login page", answer.location, None, answer.engine)
        return answer

    async def _post(self, user: str, path: str, data: dict[str, str], as_json: bool) -> tuple[Answer, int]:
        """The post with the token held now, and the login that token belongs to."""
        token, made = self._csrf.get(user, ("", -1))
        headers = {"X-CSRF-Token": token}
        if as_json:
            headers["Accept"] = "application/json"
        return await self._send(self._session(user), "POST", path, data=data, headers=headers), made

    async def queue(self) -> Answer:
        target = await self.target()
        http = self._session("api")
        return await self._send(http, "GET", "/api/queue", headers={"Authorization": f"Bearer {target.token}"})

    async def citizen_page(self, source: str, path: str) -> Answer:
        """The page a citizen opens (the request form, with its one-time token), from their address."""
        return await self._as_citizen(source, "GET", path)

    async def citizen(self, source: str, path: str, data: dict[str, str]) -> Answer:
        """A citizen's post from an address of their own (127.0.0.0/8: each its own loopback
        address, as the request form's per-address guard expects of separate people)."""
        return await self._as_citizen(source, "POST", path, data)

    async def _as_citizen(self, source: str, method: str, path: str, data: dict[str, str] | None = None) -> Answer:
        connector = aiohttp.TCPConnector(local_addr=(source, 0))
        async with aiohttp.ClientSession(connector=connector, timeout=TIMEOUT) as http:
            return await self._send(http, method, path, data=data)

    async def close(self) -> None:
        for http in self._http.values():
            await http.close()
        self._http.clear()


def _to_login(answer: Answer) -> bool:
    return answer.status in (302, 303) and "/console/login" in answer.location


def _csrf_refused(answer: Answer) -> bool:
    """The console's refusal of a post's token (ivr.console.auth), made before the handler ran."""
    return answer.status == 403 and "token CSRF" in answer.text
