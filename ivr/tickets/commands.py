"""Writes of the call path as named commands with plain data arguments.

A command can run at once, in the writer's next batch, or wait in the durable outbox while the
database is away and run when it returns: the same function, the same arguments, so a call
writes its ticket the same way whether the database is up or not. Commands that create a row
return its id; while the database is away they return a provisional (negative) id, which later
commands may carry and the replay translates into the real one.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy.orm import Session

# Arguments that name a row: provisional ids in them are translated at replay.
REF_ARGS = frozenset({"ticket_id", "message_id", "recording_id"})


@dataclass(frozen=True)
class CommandSpec:
    fn: Callable[..., Any]
    creates: bool = False  # returns the id of a new row
    lookup: Callable[..., int | None] | None = None  # finds the row it made (same arguments), if any
    # Run instead of `fn` for a write of an earlier run of the engine, which may be about a call
    # another engine has served since (ivr.tickets.replay); None: `fn` is safe either way.
    stale: Callable[..., Any] | None = None


class UnknownCommand(LookupError):
    """A write no handler is registered for: a fault of the process (its command table not
    installed: full run 11, a standby's replay set 9 writes aside as 'unknown command'), never of
    the data, so a replay stops on it and keeps the write waiting instead of setting it aside."""


# Filled by `ivr.command_table.install()`, the one place every command is named: a command is
# no longer registered as a side effect of importing the module that defines it.
COMMANDS: dict[str, CommandSpec] = {}


def register(name: str, spec: CommandSpec) -> None:
    """`spec.fn(session, **args)` under `name`; its arguments must be plain data."""
    if name in COMMANDS and COMMANDS[name] != spec:
        raise ValueError(f"command {name!r} registered twice")
    COMMANDS[name] = spec


@dataclass(frozen=True)
class Command:
    name: str
    args: dict[str, Any]

    @property
    def spec(self) -> CommandSpec:
        try:
            return COMMANDS[self.name]
        except KeyError:
            raise UnknownCommand(f"unknown command {self.name!r} (is the command table installed?)") from None

    def run(self, session: Session, refs: Callable[[int], int], *, stale: bool = False) -> Any:
        fn = self.spec.stale if stale and self.spec.stale is not None else self.spec.fn
        return fn(session, **self.resolved(refs))

    def run_lookup(self, session: Session, refs: Callable[[int], int]) -> int | None:
        lookup = self.spec.lookup
        return None if lookup is None else lookup(session, **self.resolved(refs))

    def resolved(self, refs: Callable[[int], int]) -> dict[str, Any]:
        """The arguments, with provisional row ids replaced by the real ones."""
        return {k: (refs(v) if k in REF_ARGS and isinstance(v, int) and v < 0 else v) for k, v in self.args.items()}

    def dumps(self) -> str:
        return json.dumps({"name": self.name, "args": self.args}, default=_encode, ensure_ascii=False)

    @classmethod
    def loads(cls, text: str) -> Command:
        data = json.loads(text, object_hook=_decode)
        return cls(data["name"], data["args"])


def _encode(value: Any) -> Any:
    if isinstance(value, datetime):
        if value.tzinfo is None:
            raise ValueError("naive datetime in a command")
        return {"$dt": value.isoformat()}
    if isinstance(value, date):
        return {"$date": value.isoformat()}
    raise TypeError(f"{type(value).__name__} is not plain data")


def _decode(obj: dict[str, Any]) -> Any:
    if len(obj) == 1:
        if "$dt" in obj:
            return datetime.fromisoformat(obj["$dt"])
        if "$date" in obj:
            return date.fromisoformat(obj["$date"])
    return obj
