"""Console accounts, sessions and the access audit, in the store.

Passwords are kept only as argon2id hashes; a session cookie carries a random token of which
only the SHA-256 is stored, so neither a database copy nor a log line can be turned into a login.
"""

from __future__ import annotations

import asyncio
import hashlib
import re
import secrets
from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

from ivr.schema.console import ROLES, AuditEntry, ConsoleSession, ConsoleUser
from ivr.schema.tickets import Operator
from ivr.tickets.audit import audit_row
from ivr.tickets.repository import Repository

LOGIN = re.compile(r"^[a-z][a-z0-9_.@-]{1,63}$")
MIN_PASSWORD = 10
LEVEL = {"operator": 1, "supervisor": 2, "administrator": 3}
TOUCH_EVERY = timedelta(seconds=60)  # last_seen_at is written at most this often per session
_hasher = PasswordHasher()
# Verifying against this when the login is unknown keeps the answer time the same either way.
_DUMMY_HASH = _hasher.hash(secrets.token_urlsafe(16))


class AccountError(ValueError):
    pass


@dataclass(frozen=True)
class UserInfo:
    id: int
    login: str
    name: str
    role: str
    operator_id: int | None
    operator_login: str | None
    active: bool
    created_at: datetime
    last_login_at: datetime | None

    def at_least(self, role: str) -> bool:
        return LEVEL[self.role] >= LEVEL[role]


@dataclass(frozen=True)
class SessionInfo:
    user: UserInfo
    csrf: str
    token_hash: str


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def new_password() -> str:
    return secrets.token_urlsafe(12)


class Accounts(Repository):
    """The accounts aggregate (users, their sessions, the access audit), on the ticket store's
    readers and writer.

    Argon2 hashing and checking cost real CPU and memory, so they run in a worker thread before or
    after the database trip, never inside the writer's batch (where they would hold up every other
    write) nor on the event loop."""

    refusals = (AccountError,)

    # --- users --------------------------------------------------------------------------------

    async def add(
        self,
        login: str,
        role: str,
        password: str,
        now: datetime,
        *,
        name: str | None = None,
        operator: str | None = None,
    ) -> UserInfo:
        if not LOGIN.match(login):
            raise AccountError(f"login {login!r}: 2-64 characters, lower-case letters, digits, . _ @ -")
        if role not in ROLES:
            raise AccountError(f"role must be one of {', '.join(ROLES)}")
        _check_password(password)
        hashed = await asyncio.to_thread(_hasher.hash, password)

        def op(session: Session) -> UserInfo:
            if session.scalar(select(ConsoleUser.id).where(ConsoleUser.login == login)) is not None:
                raise AccountError(f"user {login!r} exists already")
            operator_id = None
            if operator is not None:
                operator_id = session.scalar(select(Operator.id).where(Operator.login == operator))
                if operator_id is None:
                    raise AccountError(f"no operator {operator!r} (create it with `ivr operator add`)")
            elif role == "operator":
                raise AccountError("an operator user needs --operator (the operator account it works as)")
            row = ConsoleUser(
                login=login,
                name=name or login,
                role=role,
                password_hash=hashed,
                operator_id=operator_id,
                active=True,
                created_at=now,
            )
            session.add(row)
            session.flush()
            return self._info(session, row)

        return await self._write(op)

    async def set_password(self, login: str, password: str) -> None:
        _check_password(password)
        hashed = await asyncio.to_thread(_hasher.hash, password)

        def op(session: Session) -> None:
            row = self._user(session, login)
            row.password_hash = hashed
            session.execute(delete(ConsoleSession).where(ConsoleSession.user_id == row.id))

        await self._write(op)

    async def set_active(self, login: str, active: bool) -> UserInfo:
        """Disabling also ends every session of the user at once."""

        def op(session: Session) -> UserInfo:
            row = self._user(session, login)
            row.active = active
            if not active:
                session.execute(delete(ConsoleSession).where(ConsoleSession.user_id == row.id))
            return self._info(session, row)

        return await self._write(op)

    async def all(self) -> list[UserInfo]:
        def fn(session: Session) -> list[UserInfo]:
            rows = session.scalars(select(ConsoleUser).order_by(ConsoleUser.login))
            return [self._info(session, r) for r in rows]

        return await self._read(fn)

    async def get(self, login: str) -> UserInfo:
        return await self._read(lambda session: self._info(session, self._user(session, login)))

    async def authenticate(self, login: str, password: str, now: datetime) -> UserInfo | None:
        def look(session: Session) -> str | None:
            row = session.scalar(select(ConsoleUser).where(ConsoleUser.login == login))
            return row.password_hash if row is not None and row.active else None

        stored = await self._read(look)
        if stored is None:
            await asyncio.to_thread(_verify, _DUMMY_HASH, password)  # the same answer time either way
            return None
        if not await asyncio.to_thread(_verify, stored, password):
            return None
        rehashed = await asyncio.to_thread(_hasher.hash, password) if _hasher.check_needs_rehash(stored) else None

        def op(session: Session) -> UserInfo | None:
            row = session.scalar(select(ConsoleUser).where(ConsoleUser.login == login))
            if row is None or not row.active or row.password_hash != stored:
                return None  # disabled or given a new password while the check ran
            if rehashed is not None:
                row.password_hash = rehashed
            row.last_login_at = now
            return self._info(session, row)

        return await self._write(op)

    # --- sessions -----------------------------------------------------------------------------

    async def open_session(self, user_id: int, now: datetime, address: str | None) -> tuple[str, str]:
        """A new session; returns (cookie token, CSRF token). The token itself is not stored."""
        token, csrf = secrets.token_urlsafe(32), secrets.token_urlsafe(32)

        def op(session: Session) -> None:
            session.add(
                ConsoleSession(
                    token_hash=token_hash(token),
                    user_id=user_id,
                    csrf=csrf,
                    created_at=now,
                    last_seen_at=now,
                    address=(address or "")[:64] or None,
                )
            )
            session.flush()

        await self._write(op)
        return token, csrf

    async def resolve(self, token: str, now: datetime, *, idle: timedelta, absolute: timedelta) -> SessionInfo | None:
        """The session of a cookie, if still valid (user active, neither idle nor too old).

        Every request asks, so this reads; it writes only to drop a session that is no longer
        valid or to touch one (at most every TOUCH_EVERY)."""
        digest = token_hash(token)

        def look(session: Session) -> tuple[SessionInfo | None, str]:
            row = session.scalar(select(ConsoleSession).where(ConsoleSession.token_hash == digest))
            if row is None:
                return None, "none"
            user = session.get(ConsoleUser, row.user_id)
            if user is None or not user.active or now - row.last_seen_at > idle or now - row.created_at > absolute:
                return None, "drop"
            found = SessionInfo(self._info(session, user), row.csrf, digest)
            return found, "touch" if now - row.last_seen_at > TOUCH_EVERY else "none"

        found, then = await self._read(look)
        if then == "drop":
            await self._write(lambda s: s.execute(delete(ConsoleSession).where(ConsoleSession.token_hash == digest)))
        elif then == "touch":
            await self._write(
                lambda s: s.execute(
                    update(ConsoleSession).where(ConsoleSession.token_hash == digest).values(last_seen_at=now)
                )
            )
        return found

    async def live_operators(
        self, digests: Collection[str], now: datetime, *, idle: timedelta, absolute: timedelta
    ) -> dict[str, str]:
        """Of the sessions `digests`, those still valid now, each with the login of the active
        operator its user works as: the one rule a desk's SIP credential lives by (ended,
        expired, user disabled or given a new password, operator deactivated: absent)."""
        wanted = list(digests)
        if not wanted:
            return {}

        def fn(session: Session) -> dict[str, str]:
            rows = session.execute(
                select(ConsoleSession.token_hash, Operator.login)
                .join(ConsoleUser, ConsoleUser.id == ConsoleSession.user_id)
                .join(Operator, Operator.id == ConsoleUser.operator_id)
                .where(
                    ConsoleSession.token_hash.in_(wanted),
                    ConsoleUser.active.is_(True),
                    Operator.active.is_(True),
                    ConsoleSession.last_seen_at >= now - idle,
                    ConsoleSession.created_at >= now - absolute,
                )
            )
            return {digest: login for digest, login in rows}

        return await self._read(fn)

    async def close_session(self, digest: str) -> None:
        await self._write(lambda s: s.execute(delete(ConsoleSession).where(ConsoleSession.token_hash == digest)))

    async def purge_sessions(self, now: datetime, *, idle: timedelta, absolute: timedelta) -> int:
        def op(session: Session) -> int:
            result = session.execute(
                delete(ConsoleSession).where(
                    (ConsoleSession.last_seen_at < now - idle) | (ConsoleSession.created_at < now - absolute)
                )
            )
            return int(result.rowcount)  # type: ignore[attr-defined]

        return await self._write(op)

    # --- audit --------------------------------------------------------------------------------

    async def audit(
        self,
        user: UserInfo | None,
        action: str,
        now: datetime,
        *,
        kind: str | None = None,
        object_id: object = None,
        address: str | None = None,
        detail: dict[str, Any] | None = None,
        login: str | None = None,
    ) -> None:
        def op(session: Session) -> None:
            row = audit_row(
                user, action, now, kind=kind, object_id=object_id, address=address, detail=detail, login=login
            )
            session.add(row)
            session.flush()  # written now: a later refusal in the same batch finds nothing pending

        await self._write(op)

    async def audit_once(
        self,
        user: UserInfo,
        action: str,
        now: datetime,
        *,
        window: timedelta,
        kind: str,
        object_id: object,
        address: str | None = None,
        detail: dict[str, Any] | None = None,
    ) -> bool:
        """One entry per user, action and object within `window`: a player fetching a file in
        many byte ranges is one listening, however the ranges are cut. False when one was there.

        The look and the write are one operation on the one writer, so two requests at once
        cannot both miss the other's entry: no twin entries."""

        def op(session: Session) -> bool:
            found = session.scalar(
                select(AuditEntry.id)
                .where(
                    AuditEntry.user_id == user.id,
                    AuditEntry.action == action,
                    AuditEntry.object_kind == kind,
                    AuditEntry.object_id == str(object_id),
                    AuditEntry.at > now - window,
                )
                .limit(1)
            )
            if found is not None:
                return False
            session.add(
                AuditEntry(
                    at=now, user_id=user.id, login=user.login, action=action, object_kind=kind,
                    object_id=str(object_id), address=(address or "")[:64] or None, detail=detail,
                )
            )  # fmt: skip
            session.flush()
            return True

        return await self._write(op)

    async def audit_entries(
        self, *, limit: int = 200, kind: str | None = None, object_id: str | None = None, login: str | None = None
    ) -> list[AuditEntry]:
        def fn(session: Session) -> list[AuditEntry]:
            query = select(AuditEntry).order_by(AuditEntry.id.desc()).limit(limit)
            if kind:
                query = query.where(AuditEntry.object_kind == kind)
            if object_id:
                query = query.where(AuditEntry.object_id == object_id)
            if login:
                query = query.where(AuditEntry.login == login)
            return list(session.scalars(query))

        return await self._read(fn)

    # --- helpers ------------------------------------------------------------------------------

    @staticmethod
    def _user(session: Session, login: str) -> ConsoleUser:
        row = session.scalar(select(ConsoleUser).where(ConsoleUser.login == login))
        if row is None:
            raise AccountError(f"no user {login!r}")
        return row

    @staticmethod
    def _info(session: Session, row: ConsoleUser) -> UserInfo:
        operator_login = (
            session.scalar(select(Operator.login).where(Operator.id == row.operator_id)) if row.operator_id else None
        )
        return UserInfo(
            row.id,
            row.login,
            row.name,
            row.role,
            row.operator_id,
            operator_login,
            row.active,
            row.created_at,
            row.last_login_at,
        )


def _check_password(password: str) -> None:
    if len(password) < MIN_PASSWORD:
        raise AccountError(f"the password must have at least {MIN_PASSWORD} characters")


def _verify(hashed: str, password: str) -> bool:
    try:
        return _hasher.verify(hashed, password)
    except (VerificationError, InvalidHashError):
        return False
