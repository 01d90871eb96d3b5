"""Console accounts, sessions and the access audit, in the store.

Passwords are kept only as argon2id hashes; a session cookie carries a random token of which
only the SHA-256 is stored, so neither a database copy nor a log line can be turned into a login.
"""

from __future__ import annotations

import hashlib
import re
import secrets
import threading
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import Engine, delete, select
from sqlalchemy.orm import Session, sessionmaker

from ivr.console.models import ROLES, AuditEntry, ConsoleSession, ConsoleUser
from ivr.tickets.models import Operator

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


class Accounts:
    def __init__(self, engine: Engine) -> None:
        self._sessions = sessionmaker(engine, expire_on_commit=False)
        self._audit_once = threading.Lock()  # one look-then-write at a time: no twin entries

    # --- users --------------------------------------------------------------------------------

    def add(
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
        with self._sessions.begin() as session:
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
                password_hash=_hasher.hash(password),
                operator_id=operator_id,
                active=True,
                created_at=now,
            )
            session.add(row)
            session.flush()
            return self._info(session, row)

    def set_password(self, login: str, password: str) -> None:
        _check_password(password)
        with self._sessions.begin() as session:
            row = self._user(session, login)
            row.password_hash = _hasher.hash(password)
            session.execute(delete(ConsoleSession).where(ConsoleSession.user_id == row.id))

    def set_active(self, login: str, active: bool) -> UserInfo:
        """Disabling also ends every session of the user at once."""
        with self._sessions.begin() as session:
            row = self._user(session, login)
            row.active = active
            if not active:
                session.execute(delete(ConsoleSession).where(ConsoleSession.user_id == row.id))
            return self._info(session, row)

    def all(self) -> list[UserInfo]:
        with self._sessions() as session:
            rows = session.scalars(select(ConsoleUser).order_by(ConsoleUser.login))
            return [self._info(session, r) for r in rows]

    def get(self, login: str) -> UserInfo:
        with self._sessions() as session:
            return self._info(session, self._user(session, login))

    def authenticate(self, login: str, password: str, now: datetime) -> UserInfo | None:
        with self._sessions.begin() as session:
            row = session.scalar(select(ConsoleUser).where(ConsoleUser.login == login))
            if row is None or not row.active:
                _verify(_DUMMY_HASH, password)
                return None
            if not _verify(row.password_hash, password):
                return None
            if _hasher.check_needs_rehash(row.password_hash):
                row.password_hash = _hasher.hash(password)
            row.last_login_at = now
            return self._info(session, row)

    # --- sessions -----------------------------------------------------------------------------

    def open_session(self, user_id: int, now: datetime, address: str | None) -> tuple[str, str]:
        """A new session; returns (cookie token, CSRF token). The token itself is not stored."""
        token, csrf = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
        with self._sessions.begin() as session:
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
        return token, csrf

    def resolve(self, token: str, now: datetime, *, idle: timedelta, absolute: timedelta) -> SessionInfo | None:
        """The session of a cookie, if still valid (user active, neither idle nor too old)."""
        digest = token_hash(token)
        with self._sessions.begin() as session:
            row = session.scalar(select(ConsoleSession).where(ConsoleSession.token_hash == digest))
            if row is None:
                return None
            user = session.get(ConsoleUser, row.user_id)
            if user is None or not user.active or now - row.last_seen_at > idle or now - row.created_at > absolute:
                session.delete(row)
                return None
            if now - row.last_seen_at > TOUCH_EVERY:
                row.last_seen_at = now
            return SessionInfo(self._info(session, user), row.csrf, digest)

    def close_session(self, digest: str) -> None:
        with self._sessions.begin() as session:
            session.execute(delete(ConsoleSession).where(ConsoleSession.token_hash == digest))

    def purge_sessions(self, now: datetime, *, idle: timedelta, absolute: timedelta) -> int:
        with self._sessions.begin() as session:
            result = session.execute(
                delete(ConsoleSession).where(
                    (ConsoleSession.last_seen_at < now - idle) | (ConsoleSession.created_at < now - absolute)
                )
            )
            return int(result.rowcount)  # type: ignore[attr-defined]

    # --- audit --------------------------------------------------------------------------------

    def audit(
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
        with self._sessions.begin() as session:
            session.add(
                AuditEntry(
                    at=now,
                    user_id=user.id if user else None,
                    login=user.login if user else login,
                    action=action,
                    object_kind=kind,
                    object_id=None if object_id is None else str(object_id),
                    address=(address or "")[:64] or None,
                    detail=detail,
                )
            )

    def audit_once(
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
        many byte ranges is one listening, however the ranges are cut. False when one was there."""
        with self._audit_once, self._sessions.begin() as session:
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
            return True

    def audit_entries(
        self, *, limit: int = 200, kind: str | None = None, object_id: str | None = None, login: str | None = None
    ) -> list[AuditEntry]:
        with self._sessions() as session:
            query = select(AuditEntry).order_by(AuditEntry.id.desc()).limit(limit)
            if kind:
                query = query.where(AuditEntry.object_kind == kind)
            if object_id:
                query = query.where(AuditEntry.object_id == object_id)
            if login:
                query = query.where(AuditEntry.login == login)
            return list(session.scalars(query))

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
