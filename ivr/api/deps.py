"""What the HTTP side (the JSON API and the console) may use of the running line, as small objects
built by `ivr.app`. A page reaches the queue, the tickets or the operators' accounts through
these, never through the engine, so a page test builds only what the page uses.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any, Protocol, TypeVar

from sqlalchemy.orm import Session

from ivr.acd.agents import Agent
from ivr.acd.cap import DailyCap
from ivr.acd.distributor import Distributor
from ivr.acd.operators import OperatorDirectory
from ivr.hours.calendar import LineCalendar
from ivr.hours.closures import RuntimeClosures
from ivr.hours.config import ClosureConfig
from ivr.recordings.store import RecordingStore
from ivr.tickets.filing import OutcomeStore
from ivr.tickets.store import TicketView

T = TypeVar("T")


class NotFound(LookupError):
    """The thing a request names does not exist: the API answers 404 with this message."""


class TicketAccess(OutcomeStore, Protocol):
    """The tickets as the web reads and changes them (the ticket store satisfies it); the outcome
    is filed through `ivr.tickets.filing`, whose store protocol this extends."""

    async def get(self, ticket_id: int) -> TicketView | None: ...

    async def run_write(self, op: Callable[[Session], T]) -> T: ...

    async def run_read(self, fn: Callable[[Session], T]) -> T: ...


@dataclass(frozen=True)
class QueueView:
    """The live queue: operators and their state, waiting calls, the day's admissions."""

    distributor: Distributor
    cap: DailyCap
    calls_in_progress: Callable[[], int]

    @property
    def agents(self) -> Mapping[str, Agent]:
        return self.distributor.agents

    @property
    def daily_cap(self) -> int:
        return self.cap.limit

    def snapshot(self) -> dict[str, Any]:
        return self.distributor.snapshot()

    def day_of(self, at: datetime) -> date:
        return self.cap.day_of(at)

    async def admitted(self, at: datetime) -> int:
        return await self.cap.count(at)

    async def set_presence(self, login: str, presence: str, reason: str | None = None) -> Agent:
        if login not in self.distributor.agents:
            raise NotFound(f"no operator {login!r}")
        return await self.distributor.set_presence(login, presence, reason)


@dataclass(frozen=True)
class OperatorAdmin:
    """Operators' accounts in the store, and the step that pushes a change to Asterisk and the queue."""

    directory: OperatorDirectory
    resync: Callable[[], Awaitable[None]]


@dataclass(frozen=True)
class ClosureAdmin:
    """The line's calendar and the closures switched on at run time, with their spoken message."""

    closures: RuntimeClosures
    calendar: LineCalendar
    configured: Sequence[ClosureConfig]
    build_message: Callable[[str, str, Path], Path]
    convert_message: Callable[[str, Path, Path], Path] | None = None  # a supervisor's recording, as a prompt


def _no_lease() -> dict[str, Any]:
    return {"role": "active", "lease": None}


@dataclass(frozen=True)
class Health:
    """The engine's parts as `GET /api/health` reports them, and whether it can take calls
    (`GET /api/ready`). `status`: ok, degraded (calls are taken, something is wrong), down (calls
    are not taken), standby (waiting for the lease: another engine takes the calls)."""

    ari_connected: Callable[[], bool]
    ami_logged_in: Callable[[], bool]
    calls_in_progress: Callable[[], int]
    store_degraded: Callable[[], bool]
    store_outages: Callable[[], int]
    recordings: Mapping[str, RecordingStore]
    ari_app: Callable[[], tuple[bool, str | None]] | None = None  # app registered, else why not
    refresh: Callable[[], Awaitable[object]] | None = None  # asks Asterisk before answering
    role: Callable[[], dict[str, Any]] = _no_lease
    outbox_backlog: Callable[[], int] = lambda: 0
    outbox_rejected: Callable[[], int] = lambda: 0  # writes the database would not take (ivr.tickets.replay)

    def report(self) -> dict[str, Any]:
        ari, ari_reason = self.ari_app() if self.ari_app is not None else (self.ari_connected(), None)
        if not ari and ari_reason is None:
            ari_reason = "ARI event socket not connected"
        role = self.role()
        ami, degraded, backlog = self.ami_logged_in(), self.store_degraded(), self.outbox_backlog()
        rejected = self.outbox_rejected()
        recordings = {
            kind: {"failures": rec.failures, "last_error": rec.last_error} for kind, rec in self.recordings.items()
        }
        ready = role["role"] == "active" and ari
        if role["role"] != "active":
            status = str(role["role"])
        elif not ari:
            status = "down"
        elif not ami or degraded or backlog or rejected or any(r["failures"] for r in recordings.values()):
            status = "degraded"
        else:
            status = "ok"
        return {
            "status": status,
            "ready": ready,
            **role,
            "ari": ari,
            "ari_reason": ari_reason,
            "ami": ami,
            "calls": self.calls_in_progress(),
            "store": {
                "degraded": degraded,
                "outages": self.store_outages(),
                "outbox_backlog": backlog,
                "outbox_rejected": rejected,
            },
            "recordings": recordings,
        }
