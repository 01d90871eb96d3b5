"""Which desks have their phone open: the short-lived SIP credentials each one was given, and
when each last said it was there.

A desk's browser phone never sees the operator's console password nor their softphone's: after
logging in, the desk asks for a SIP password made for its console session, valid for
`asterisk.webrtc.credential_ttl_min` and renewed while the desk stays open. Only its digest
reaches Asterisk (the `web-<login>` endpoint the sync writes).

A credential is worth no more than its session: `prune` asks the accounts which sessions are
still valid (not logged out, not idle or too old, the user active with the same password, the
operator active) and drops every other credential. The operator sync prunes before each write of
the endpoints, every couple of seconds and at once after a logout, a disabled user or a new
password, so Asterisk only ever holds digests of live sessions whatever ended the session.
Kept in memory on purpose: after an engine restart a desk's registration is refused and the desk
simply asks again.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from collections.abc import Awaitable, Callable, Collection
from dataclasses import dataclass

from ivr.acd.operators import REALM, SILENT_LEG_S, auth_and_aor
from ivr.telephony.dialstring import desk_endpoint
from ivr.webphone.config import WebRtcSettings

CLOSED_REASON = "Scrivania chiusa"
DISPLACED_KEPT = 8  # replaced desks remembered per operator (older ones simply take the phone again)
CLOSE_GRACE_S = 3.0
# Session hashes -> the operator each live one works as (ivr.console.accounts.Accounts.live_operators,
# with the console's idle and absolute limits and the engine's clock).
LiveSessions = Callable[[Collection[str]], Awaitable[dict[str, str]]]


class DeskDisplaced(Exception):
    """This console session's desk lost the phone to a newer desk of the same operator."""


@dataclass(frozen=True)
class DeskCredential:
    login: str
    username: str
    password: str
    session: str  # hash of the console session it was made for
    expires_at: float  # monotonic

    def digest(self) -> str:
        return hashlib.md5(f"{self.username}:{REALM}:{self.password}".encode()).hexdigest()


class DeskPhones:
    def __init__(self, settings: WebRtcSettings, monotonic: Callable[[], float], live_sessions: LiveSessions) -> None:
        self.settings = settings
        self._now = monotonic
        self._live_sessions = live_sessions
        self._credentials: dict[str, DeskCredential] = {}  # one desk phone per operator
        self._seen: dict[str, float] = {}  # open desks: login -> last heartbeat
        self._ended: list[str] = []  # credentials dropped since the last prune
        self._displaced: dict[str, list[str]] = {}  # login -> sessions whose desk a newer one replaced
        self.version = 0  # changes whenever the digests Asterisk needs change

    @property
    def ttl_s(self) -> float:
        return self.settings.credential_ttl_min * 60.0

    def issue(self, login: str, session: str, *, take: bool = False) -> DeskCredential:
        """The desk's credential: the current one while it has more than half its life left and
        belongs to the same console session, else a new one. A second browser logged in as the
        same operator takes the phone over; the desk it replaced is refused (DeskDisplaced) until
        it asks to `take` the phone back: two desks no longer take it from each other at every
        renewal and after every refused registration."""
        now = self._now()
        current = self._credentials.get(login)
        if current is not None and current.session == session and current.expires_at - now > self.ttl_s / 2:
            return current
        displaced = self._displaced.setdefault(login, [])
        if session in displaced:
            if not take:
                raise DeskDisplaced(login)
            displaced.remove(session)
        if current is not None and current.session != session and current.expires_at > now:
            displaced.append(current.session)
            del displaced[:-DISPLACED_KEPT]
        fresh = DeskCredential(login, desk_endpoint(login), secrets.token_urlsafe(18), session, now + self.ttl_s)
        self._credentials[login] = fresh
        self.version += 1
        return fresh

    def displaced(self, login: str, session: str) -> bool:
        """Whether this session's desk lost the phone to a newer desk of the same operator."""
        return session in self._displaced.get(login, ())

    def revoke_session(self, session: str) -> list[str]:
        """The console session ended (logout): its phone loses its credential at once."""
        for sessions in self._displaced.values():
            if session in sessions:
                sessions.remove(session)
        return self._drop([login for login, c in self._credentials.items() if c.session == session])

    async def prune(self) -> list[str]:
        """Drop the credentials of sessions no longer valid, and expired ones; returns the logins
        whose desk lost its credential since the last prune (here, at a logout or on expiry).
        A credential is kept only if its session is live AND still works as the operator the
        credential is for (a user moved to another operator loses it too)."""
        asked = dict(self._credentials)
        if asked:
            live = await self._live_sessions({c.session for c in asked.values()})
            now = self._now()
            self._drop(
                [
                    login
                    for login, c in asked.items()
                    # one issued while the accounts were asked is judged at the next prune
                    if self._credentials.get(login) is c and (live.get(c.session) != login or c.expires_at <= now)
                ]
            )
        ended, self._ended = self._ended, []
        return ended

    def _drop(self, logins: list[str]) -> list[str]:
        for login in logins:
            del self._credentials[login]
            self._seen.pop(login, None)
            self._ended.append(login)
            self.version += 1
        return logins

    def holds(self, login: str) -> bool:
        """Whether `login`'s desk has a credential now: a desk without one is never rung, even
        while Asterisk still lists a contact it registered before."""
        credential = self._credentials.get(login)
        return credential is not None and credential.expires_at > self._now()

    def digests(self) -> dict[str, str]:
        """login -> digest of the live credentials (expired ones are dropped here)."""
        now = self._now()
        self._drop([login for login, c in self._credentials.items() if c.expires_at <= now])
        return {login: c.digest() for login, c in sorted(self._credentials.items())}

    # --- presence -------------------------------------------------------------------------------

    def beat(self, login: str) -> None:
        self._seen[login] = self._now()

    def close(self, login: str) -> None:
        """The desk said it is going away. A reload or a link inside the console says so too, and
        the next page speaks within a moment: the desk counts as closed only if it stays silent
        for `CLOSE_GRACE_S` (instead of the whole timeout)."""
        if login in self._seen:
            self._seen[login] = (
                self._now() - self.settings.desk_timeout_s + min(CLOSE_GRACE_S, self.settings.desk_timeout_s)
            )

    def is_open(self, login: str) -> bool:
        return login in self._seen

    def overdue(self) -> list[str]:
        """Desks silent for longer than `desk_timeout_s` (closed without a word, frozen, or off
        the network): forgotten here, so each is reported once until it speaks again."""
        limit = self._now() - self.settings.desk_timeout_s
        gone = [login for login, seen in self._seen.items() if seen < limit]
        for login in gone:
            del self._seen[login]
        return gone


def ice_servers(settings: WebRtcSettings, login: str, expires_epoch: int) -> list[dict[str, object]]:
    """RTCPeerConnection's `iceServers` for one desk. With coturn's shared secret, a TURN user
    `<expiry>:<login>` and its HMAC-SHA1 password (coturn's REST API scheme): nothing lasting
    reaches the page."""
    servers: list[dict[str, object]] = []
    for server in settings.ice_servers:
        entry: dict[str, object] = {"urls": list(server.urls)}
        if server.auth_secret is not None:
            username = f"{expires_epoch}:{login}"
            mac = hmac.new(server.auth_secret.get_secret_value().encode(), username.encode(), hashlib.sha1)
            entry |= {"username": username, "credential": base64.b64encode(mac.digest()).decode()}
        elif server.username is not None and server.credential is not None:
            entry |= {"username": server.username, "credential": server.credential.get_secret_value()}
        servers.append(entry)
    return servers


def render_desks(digests: dict[str, str], codecs: list[str]) -> str:
    """The browser phones' endpoints, appended to pjsip_operators.conf.

    `webrtc = yes` means DTLS-SRTP media (fingerprint-verified, Asterisk's certificate made on
    the fly), ICE, AVPF and rtcp-mux: a browser can use nothing else, and nothing travels in clear."""
    lines = [
        "",
        "; Browser phones of the operators' desks (WebRTC, SIP relayed by the console), short-lived credentials.",
        "",
    ]
    for login, md5 in sorted(digests.items()):
        user = desk_endpoint(login)
        lines += [
            f"[{user}]",
            "type = endpoint",
            "identify_by = username",
            "transport = transport-wss",
            "webrtc = yes",
            "dtls_auto_generate_cert = yes",
            "context = from-operators",
            "disallow = all",
            f"allow = {','.join(codecs)}",
            f"auth = {user}-auth",
            f"aors = {user}",
            "direct_media = no",
            "dtmf_mode = rfc4733",
            f"rtp_timeout = {SILENT_LEG_S}",
            "",
            *auth_and_aor(user, md5, qualify_s=10),  # a closed, frozen or offline desk is seen soon
        ]
    return "\n".join(lines)
