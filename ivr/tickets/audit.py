"""Who did an action and from where, and the audit log's writer, as the services that own an
action need them (`ivr.tickets.filing`, `ivr.hours.closing`): the console, the API and the
command line hand them the same `Actor` and the same log, so every surface leaves one record."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol


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
