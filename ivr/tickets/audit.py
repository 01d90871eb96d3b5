"""Who did an action and from where, and the audit log's writer, as the services that own an
action need them (`ivr.tickets.filing`, `ivr.hours.closing`): the console, the API and the
command line hand them the same `Actor` and the same log, so every surface leaves one record.

An outcome's entry is written in the outcome's own transaction (`Audited`): written after it, an
engine killed between the two writes left an outcome on the timeline that no entry named (full
run 6, ticket 6412: the outcome stored, the engine killed 60 ms later)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from ivr.schema.console import AuditEntry


@dataclass(frozen=True)
class Actor:
    """A console user (`user`), or a caller of the API or the command line named by `login`;
    the client's address when there is one."""

    user: Any = None
    login: str | None = None
    address: str | None = None

    @property
    def name(self) -> str | None:
        return getattr(self.user, "login", None) or self.login


def audit_row(
    user: Any,
    action: str,
    at: datetime,
    *,
    kind: str | None = None,
    object_id: object = None,
    address: str | None = None,
    detail: dict[str, Any] | None = None,
    login: str | None = None,
) -> AuditEntry:
    """One entry of the audit log (a console user's id and login, or the `login` given)."""
    return AuditEntry(
        at=at,
        user_id=getattr(user, "id", None),
        login=getattr(user, "login", None) or login,
        action=action,
        object_kind=kind,
        object_id=None if object_id is None else str(object_id),
        address=(address or "")[:64] or None,
        detail=detail,
    )


@dataclass(frozen=True)
class Audited:
    """The audit entry of a change, handed to the store's write of that change so both commit
    together or neither does."""

    by: Actor
    action: str
    detail: dict[str, Any] = field(default_factory=dict)

    def row(self, at: datetime, kind: str, object_id: object, **more: Any) -> AuditEntry:
        detail = {**self.detail, **more}
        return audit_row(self.by.user, self.action, at, kind=kind, object_id=object_id, address=self.by.address,
                         detail=detail or None, login=self.by.login)  # fmt: skip


class AuditSink(Protocol):
    """The audit log's writer (`ivr.console.accounts.Accounts.audit`)."""

    async def __call__(
        self,
        user: Any,
        action: str,
        now: datetime,
        *,
        kind: str | None = None,
        object_id: object = None,
        address: str | None = None,
        detail: dict[str, Any] | None = None,
        login: str | None = None,
    ) -> None: ...


async def record(
    audit: AuditSink, by: Actor, action: str, at: datetime, kind: str, object_id: object, **detail: Any
) -> None:
    await audit(
        by.user, action, at, kind=kind, object_id=object_id, address=by.address, detail=detail or None, login=by.login
    )
