"""The soak's driver: the plan's non-call actions carried out at their moment against the ACTIVE
engine, through the product's own HTTP surfaces, as the people of the line would (a citizen on the
request form, operators and a supervisor on the console), and each written down in the action
journal (`actions.jsonl`) with the line's answer.

- Web requests, replies, escalations and second-level replies, a supervisor's listens and the
  closures: `ivr.lab.soak.driver_web`.
- Operators' presence, the call controls (hold, transfer, consultation, conference) and the
  outcome of each call they took (the plan's desk steps, in turn): `ivr.lab.soak.driver_desk`.

An action the line cannot take because of a fault is written down as `failed`; what a person
would try again (a citizen's request, an answer to it, a closure to switch) is tried again every
`retry_every_s` until `retry_for_s` has passed.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from ivr.lab.soak.action_journal import ActionJournal, ActionRecord, ActionResult, Param
from ivr.lab.soak.actions import Action, ActionKind, DeskStep
from ivr.lab.soak.driver_http import Answer, Console, LineDown
from ivr.lab.soak.driver_pages import error

log = logging.getLogger(__name__)
SUPERVISOR = "soakcapo"


@dataclass(frozen=True)
class Cast:
    """Who acts: the operators' console users (login = operator login), the supervisor, and the
    operators whose console role may add a third party to a call (`queue.conference_roles`)."""

    operators: tuple[str, ...]
    supervisor: str = SUPERVISOR
    conference: frozenset[str] = frozenset()
    # The operator at the browser desk files their own outcomes (ivr.lab.soak.desk_operator): the
    # driver filing them too raced the desk and filed some tickets twice (short soak, full run 3).
    browser_desk: str | None = None


@dataclass
class Attempt:
    answer: Answer | None
    why: str  # why there is no usable answer (a fault), else ""
    attempts: int
    sent_at: datetime


@dataclass
class DriverState:
    """What the driver learnt from the line's answers, for the actions that follow."""

    requests: dict[str, int] = field(default_factory=dict)  # web ref -> ticket
    request_done: dict[str, asyncio.Event] = field(default_factory=dict)  # filed or given up
    escalated: set[str] = field(default_factory=set)
    closures: dict[str, int] = field(default_factory=dict)  # ref -> closure id, while on
    closure_done: dict[str, asyncio.Event] = field(default_factory=dict)
    notices: dict[str, int] = field(default_factory=dict)  # ref -> notice id, while in force
    notice_done: dict[str, asyncio.Event] = field(default_factory=dict)
    heard_messages: set[int] = field(default_factory=set)
    heard_recordings: set[int] = field(default_factory=set)
    logged_in: set[str] = field(default_factory=set)
    filed: set[int] = field(default_factory=set)  # tickets whose outcome was filed or refused
    desk_turn: int = 0

    def event(self, table: dict[str, asyncio.Event], ref: str) -> asyncio.Event:
        return table.setdefault(ref, asyncio.Event())


@dataclass(frozen=True)
class DriverJobs:
    """What the driver does for each kind of action and at each round, given by whoever builds it
    (`ivr.lab.soak.driver_setup.jobs`): the desk's and the web's modules work on the driver, so
    the driver does not import them (no import cycle)."""

    handlers: Mapping[ActionKind, Callable[[ActionDriver, Action], Awaitable[ActionRecord]]]
    file_outcomes: Callable[[ActionDriver], Awaitable[None]]
    lift_closures: Callable[[ActionDriver], Awaitable[None]]


class ActionDriver:
    def __init__(
        self,
        actions: Sequence[Action],
        desk: Sequence[DeskStep],
        console: Console,
        journal: ActionJournal,
        cast: Cast,
        jobs: DriverJobs,
        *,
        offset_s: Callable[[], float] = lambda: 0.0,
        retry_for_s: float = 300.0,
        retry_every_s: float = 5.0,
        poll_s: float = 5.0,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.actions = list(actions)
        self.desk = list(desk)
        self.jobs = jobs
        self.console = console
        self.journal = journal
        self.cast = cast
        self.offset_s = offset_s  # read at each record: the soak moves the engines' clock day by day
        self.retry_for_s = retry_for_s
        self.retry_every_s = retry_every_s
        self.poll_s = poll_s
        self.clock = clock
        self.state = DriverState()
        self.stopping = False
        self._filer: asyncio.Task[None] | None = None

    @property
    def records(self) -> list[ActionRecord]:
        return self.journal.records

    # --- the run ----------------------------------------------------------------------------------

    async def log_in(self) -> None:
        """Every user logs in before the first action (a console refusing them is a setup error)."""
        for user in (self.cast.supervisor, *self.cast.operators):
            answer = await self.console.login(user)
            if answer.status != 303:
                raise RuntimeError(f"console user {user} could not log in: HTTP {answer.status} {error(answer.text)}")
            if user != self.cast.supervisor:
                self.state.logged_in.add(user)

    async def run(self, started: float) -> None:
        """Each action at its moment (`started`: the soak's time.monotonic() at 0 s), the outcome
        filer beside them until `stop`."""
        self._filer = asyncio.ensure_future(self._every(self.poll_s, lambda: self.jobs.file_outcomes(self)))
        tasks: list[asyncio.Task[None]] = []
        for action in self.actions:
            await asyncio.sleep(max(0.0, action.at_s - (time.monotonic() - started)))
            if action.kind is ActionKind.WEB_REQUEST:
                self.state.event(self.state.request_done, str(action.params["ref"]))
            if action.kind is ActionKind.CLOSURE_ON:
                self.state.event(self.state.closure_done, str(action.params["ref"]))
            if action.kind is ActionKind.NOTICE_ON:
                self.state.event(self.state.notice_done, str(action.params["ref"]))
            tasks.append(asyncio.ensure_future(self.carry_out(action)))
        await asyncio.gather(*tasks)

    async def stop(self) -> None:
        """After the drain: one last round of outcomes, and no closure left on."""
        if self._filer is not None:
            self._filer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._filer
        try:
            await self.jobs.file_outcomes(self)
        except LineDown as exc:
            log.warning("soak driver: the last outcome round got no answer: %s", exc)
        await self.jobs.lift_closures(self)
        self.stopping = True
        await self.console.close()

    async def _every(self, seconds: float, job: Callable[[], Awaitable[None]]) -> None:
        while True:
            await asyncio.sleep(seconds)
            try:
                await job()
            except LineDown as exc:
                log.info("soak driver: the line did not answer the outcome round: %s", exc)
            except Exception:  # logged, and the next round goes on: one bad page must not end the desk
                log.exception("soak driver: the outcome round failed")

    async def carry_out(self, action: Action) -> None:
        handler = self.jobs.handlers.get(action.kind)
        sent = self.clock()
        try:
            if handler is None:
                raise NotImplementedError(f"no handler for {action.kind}")
            record = await handler(self, action)
        except Exception as exc:  # written down, never dropped: the run goes on
            log.exception("soak driver: %s at %.1f s", action.kind, action.at_s)
            record = self.record(action, sent, ActionResult.FAILED, None, f"driver error: {type(exc).__name__}: {exc}")
        self.journal.append(record)

    # --- helpers for the handlers -------------------------------------------------------------------

    async def attempt(self, call: Callable[[], Awaitable[Answer]], *, retry: bool) -> Attempt:
        """The call, tried again after a fault (no answer, a 5xx) while `retry` and time allow."""
        deadline = time.monotonic() + self.retry_for_s
        attempts = 0
        while True:
            attempts += 1
            sent = self.clock()
            answer: Answer | None
            try:
                answer = await call()
                why = f"HTTP {answer.status}: {error(answer.text)}" if answer.fault else ""
            except LineDown as exc:
                answer, why = None, f"no answer: {exc}"
            if not why or not retry or self.stopping or time.monotonic() + self.retry_every_s > deadline:
                return Attempt(answer, why, attempts, sent)
            await asyncio.sleep(self.retry_every_s)

    def record(
        self,
        action: Action | None,
        sent_at: datetime,
        result: ActionResult,
        answer: Answer | None,
        note: str = "",
        *,
        kind: str | None = None,
        attempts: int = 1,
        params: dict[str, Param] | None = None,
        **fields: Any,
    ) -> ActionRecord:
        merged: dict[str, Param] = {**(action.params if action is not None else {}), **(params or {})}
        return ActionRecord.model_validate(
            {
                "kind": kind or (str(action.kind) if action is not None else "unknown"),
                "planned_s": action.at_s if action is not None else None,
                "sent_at": sent_at,
                "done_at": self.clock(),
                "offset_s": self.offset_s(),
                "result": result,
                "status": answer.status if answer is not None else None,
                "answer": note or (error(answer.text) if answer is not None and answer.status >= 400 else ""),
                "attempts": attempts,
                "engine": answer.engine if answer is not None and answer.engine else None,
                "ref": str(action.params["ref"]) if action is not None and "ref" in action.params else None,
                "operator": str(action.params["operator"])
                if action is not None and "operator" in action.params
                else None,
                "params": merged,
                **fields,
            }
        )

    def judged(
        self, action: Action, tried: Attempt, ok: tuple[int, ...], note: str = "", **fields: Any
    ) -> ActionRecord:
        """The usual verdict on one request: `ok` statuses done, a fault failed, else refused."""
        answer = tried.answer
        if answer is None or tried.why:
            result = ActionResult.FAILED
            note = tried.why
        elif answer.status in ok:
            result = ActionResult.DONE
        else:
            result = ActionResult.REFUSED
        return self.record(action, tried.sent_at, result, answer, note, attempts=tried.attempts, **fields)

    def skipped(self, action: Action, why: str, **fields: Any) -> ActionRecord:
        return self.record(action, self.clock(), ActionResult.SKIPPED, None, why, **fields)
