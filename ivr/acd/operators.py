"""Operator accounts in the store, and the PJSIP config that lets their softphones register.

Passwords are never stored: only the digest Asterisk needs (md5 of user:realm:password), shown
to nobody. An operator without a softphone is reached on an outside number through the carrier.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from ivr.asterisk.access import share_with_asterisk
from ivr.dialout.config import DialoutSettings
from ivr.dialout.guard import NumberRefused, check
from ivr.schema.tickets import Operator
from ivr.settings import SipSettings
from ivr.telephony.dialstring import operator_endpoint
from ivr.tickets.repository import Database, Repository

REALM = "nul"
LOGIN = re.compile(r"^[a-z][a-z0-9_.-]{1,31}$")
PRESENCES = ("logged_out", "available", "paused")


class OperatorError(ValueError):
    pass


@dataclass(frozen=True)
class OperatorInfo:
    id: int
    login: str
    name: str
    softphone: bool
    outside_number: str | None
    skills: tuple[str, ...]
    presence: str
    pause_reason: str | None
    presence_at: datetime | None = None

    @property
    def sip_user(self) -> str:
        return operator_endpoint(self.login)

    @classmethod
    def of(cls, row: Operator) -> OperatorInfo:
        return cls(
            row.id,
            row.login,
            row.name,
            row.sip_md5 is not None,
            row.outside_number,
            tuple(row.skills or ()),
            row.presence,
            row.pause_reason,
            row.presence_at,
        )


def sip_digest(login: str, password: str) -> str:
    return hashlib.md5(f"{operator_endpoint(login)}:{REALM}:{password}".encode()).hexdigest()


class OperatorDirectory(Repository):
    """The operators aggregate, on the ticket store's readers and writer."""

    refusals = (OperatorError,)

    def __init__(self, db: Database, dialout: DialoutSettings | None = None) -> None:
        """`dialout`: the numbers an operator's outside number may be (the default allow-list
        when not given)."""
        super().__init__(db)
        self.dialout = dialout or DialoutSettings()

    def _outside(self, number: str) -> str:
        """The number as the carrier will be dialled with, or OperatorError saying why not."""
        try:
            return check(number, self.dialout)
        except NumberRefused as exc:
            raise OperatorError(f"outside {exc}") from None

    async def add(
        self,
        login: str,
        name: str,
        *,
        now: datetime,
        softphone: bool = True,
        password: str | None = None,
        outside_number: str | None = None,
        skills: list[str] | None = None,
    ) -> tuple[OperatorInfo, str | None]:
        """Create an operator; returns it and the softphone password (generated unless given)."""
        if outside_number is not None:  # first: a number that costs money is the worse mistake
            outside_number = self._outside(outside_number)
        if not LOGIN.match(login):
            raise OperatorError(f"login {login!r}: 2-32 characters, lower-case letters, digits, . _ -")
        if not softphone and outside_number is None:
            raise OperatorError("an operator needs a softphone or an outside number to be reached")
        secret = (password or secrets.token_urlsafe(12)) if softphone else None

        def op(session: Session) -> OperatorInfo:
            if session.scalar(select(Operator.id).where(Operator.login == login)) is not None:
                raise OperatorError(f"operator {login!r} exists already")
            row = Operator(
                login=login,
                name=name,
                sip_md5=sip_digest(login, secret) if secret else None,
                outside_number=outside_number,
                skills=list(skills or []),
                active=True,
                presence="logged_out",
                created_at=now,
            )
            session.add(row)
            session.flush()
            return OperatorInfo.of(row)

        return await self._write(op), secret

    async def set_password(self, login: str, password: str | None = None) -> str:
        secret = password or secrets.token_urlsafe(12)

        def op(session: Session) -> None:
            self._get(session, login).sip_md5 = sip_digest(login, secret)

        await self._write(op)
        return secret

    async def update(
        self,
        login: str,
        *,
        outside_number: str | None = None,
        skills: list[str] | None = None,
        active: bool | None = None,
        name: str | None = None,
    ) -> OperatorInfo:
        number = self._outside(outside_number) if outside_number else None  # checked before any change

        def op(session: Session) -> OperatorInfo:
            row = self._get(session, login)
            if outside_number is not None:
                row.outside_number = number
            if skills is not None:
                row.skills = skills
            if active is not None:
                row.active = active
            if name is not None:
                row.name = name
            session.flush()
            return OperatorInfo.of(row)

        return await self._write(op)

    async def set_presence(self, login: str, presence: str, reason: str | None, now: datetime) -> OperatorInfo:
        if presence not in PRESENCES:
            raise OperatorError(f"presence must be one of {', '.join(PRESENCES)}")

        def op(session: Session) -> OperatorInfo:
            row = self._get(session, login)
            row.presence, row.pause_reason, row.presence_at = presence, reason if presence == "paused" else None, now
            return OperatorInfo.of(row)

        return await self._write(op)

    async def all(self, active_only: bool = True) -> list[OperatorInfo]:
        def fn(session: Session) -> list[OperatorInfo]:
            query = select(Operator).order_by(Operator.login)
            if active_only:
                query = query.where(Operator.active.is_(True))
            return [OperatorInfo.of(r) for r in session.scalars(query)]

        return await self._read(fn)

    async def get(self, login: str) -> OperatorInfo:
        return await self._read(lambda session: OperatorInfo.of(self._get(session, login)))

    async def digests(self) -> dict[str, str]:
        """login -> SIP digest, for the PJSIP config."""

        def fn(session: Session) -> dict[str, str]:
            rows = session.execute(
                select(Operator.login, Operator.sip_md5).where(Operator.active.is_(True), Operator.sip_md5.is_not(None))
            )
            return {login: md5 for login, md5 in rows if md5}

        return await self._read(fn)

    @staticmethod
    def _get(session: Session, login: str) -> Operator:
        row = session.scalar(select(Operator).where(Operator.login == login))
        if row is None:
            raise OperatorError(f"no operator {login!r}")
        return row


@dataclass(frozen=True)
class PhoneSecurity:
    """How operators' softphones may reach Asterisk: over the TLS listener (with SDES-SRTP
    media, keyed inside the TLS signalling), over plain UDP, or either."""

    tls: bool
    plain: bool

    def endpoint_lines(self) -> list[str]:
        if not self.tls:
            return ["transport = transport-udp"]
        if not self.plain:
            # Everything Asterisk sends to the phone goes over TLS (a contact registered over
            # UDP is never reached: its qualify fails, so the phone counts as unregistered), and
            # a call without SRTP is refused rather than carried in clear.
            return ["transport = transport-tls", "media_encryption = sdes", "media_encryption_optimistic = no"]
        # Either: each contact is reached over the transport it registered on; SRTP whenever
        # the phone offers to take it (a plain phone on loopback keeps plain RTP).
        return ["media_encryption = sdes", "media_encryption_optimistic = yes"]

    def accepts(self, contact_uri: str) -> bool:
        """Whether a registered contact came over a transport this setup allows.

        Asterisk rewrites each operator's contact with the transport it really arrived on
        (`rewrite_contact`): `;transport=TLS` over TLS, no transport parameter over UDP."""
        return self.plain or _TLS_CONTACT.search(contact_uri) is not None


_TLS_CONTACT = re.compile(r"^sips?:[^;?]*@[^;?@]+(;[^?]*)?;transport=tls(;|\?|>|$)", re.IGNORECASE)


def phone_security(sip: SipSettings) -> PhoneSecurity:
    return PhoneSecurity(tls=sip.tls_port is not None, plain=sip.operators_plain_allowed)


# An operator's phone sends audio all through a call (silence included). Without any for this
# long its leg is dead (the desk's WebSocket gone, the home connection down, the phone frozen):
# Asterisk hangs it up, so the caller is not left talking to nobody (the soak: a citizen called
# back waited three minutes on a desk leg whose hangup never reached Asterisk).
SILENT_LEG_S = 60


def render_pjsip(digests: dict[str, str], codecs: list[str], security: PhoneSecurity) -> str:
    """The operators' endpoints for pjsip.conf (`#tryinclude pjsip_operators.conf`)."""
    lines = ["; Generated by the engine from the operators in the store: do not edit.", ""]
    for login, md5 in sorted(digests.items()):
        user = operator_endpoint(login)
        lines += [
            f"[{user}]",
            "type = endpoint",
            "identify_by = username",  # never by address: a phone is whoever authenticates as it
            *security.endpoint_lines(),
            "context = from-operators",
            "disallow = all",
            f"allow = {','.join(codecs)}",
            f"auth = {user}-auth",
            f"aors = {user}",
            "direct_media = no",
            "rtp_symmetric = yes",
            "force_rport = yes",
            "rewrite_contact = yes",
            "dtmf_mode = rfc4733",
            f"rtp_timeout = {SILENT_LEG_S}",
            "",
            *auth_and_aor(user, md5, qualify_s=15),
        ]
    return "\n".join(lines)


def auth_and_aor(user: str, md5: str, *, qualify_s: int) -> list[str]:
    """A phone's digest credentials and its one-contact address of record (softphones and desks):
    Asterisk asks it every `qualify_s` seconds, so a phone that stops answering is seen."""
    return [
        f"[{user}-auth]",
        "type = auth",
        "auth_type = digest",
        f"username = {user}",
        f"realm = {REALM}",
        f"md5_cred = {md5}",
        "",
        f"[{user}]",
        "type = aor",
        "max_contacts = 1",
        "remove_existing = yes",
        f"qualify_frequency = {qualify_s}",
        "",
    ]


def write_if_changed(path: Path, text: str) -> bool:
    if path.exists() and path.read_text() == text:
        return False
    tmp = path.with_suffix(".tmp")
    tmp.write_text(text)
    share_with_asterisk(tmp)  # Asterisk, not root, reads it: its group, nobody else
    tmp.replace(path)
    return True
