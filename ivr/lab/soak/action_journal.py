"""The soak driver's own record of every non-call action it carried out: what it asked the line
for (a citizen's web request, an operator's pause, a supervisor's closure...), when, and what the
line answered, so the checker can hold the store against a witness the engine did not write.

One JSON object per line, appended as each action ends. An action the line could not take because
of a fault is written down as such (`failed`, with the reason), never dropped; one that had
nothing to act on (no conversation to put on hold, nobody in wrap-up) is `skipped`, with why.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta
from enum import StrEnum
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

from ivr.lab.soak.journal import read_lines

Param = str | int | float | bool | None


class ActionResult(StrEnum):
    DONE = "done"  # the line took it
    REFUSED = "refused"  # the line said no, with a reason (a 4xx the product meant)
    FAILED = "failed"  # no answer, or a fault's answer (engine down, database away, 5xx)
    SKIPPED = "skipped"  # nothing to act on at that moment (said why)


OUTCOME = "outcome"  # the kind of a desk step: an outcome filed for a call an operator took


class ActionRecord(BaseModel):
    """One action as the driver carried it out. Times are UTC from the soak machine's clock;
    `offset_s` turns them into the engines' simulated time (what the store's rows carry)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    kind: str = Field(description="an ActionKind value, or 'outcome' for a desk step")
    planned_s: float | None = Field(None, description="the plan's moment, seconds after the soak's start")
    sent_at: datetime = Field(description="when the (last) request was sent")
    done_at: datetime = Field(description="when the line's answer came (or the driver gave up)")
    offset_s: float = Field(0.0, description="the engines' clock offset: simulated = real + offset_s")
    result: ActionResult
    status: int | None = Field(None, description="the HTTP status of the deciding answer; None: no answer")
    answer: str = Field("", description="what the line answered, in short (or why it was skipped/failed)")
    attempts: int = 1
    engine: str | None = Field(None, description="the console that took it (its base URL)")
    user: str | None = Field(None, description="the console user (or the citizen's address) acting")
    ref: str | None = Field(None, description="the plan's reference (web request, closure)")
    operator: str | None = None
    ticket: int | None = None
    object_id: str | None = Field(None, description="what else it acted on: a closure, a recording, a message")
    params: dict[str, Param] = Field(default_factory=dict)

    def line_time(self, at: datetime) -> datetime:
        return at + timedelta(seconds=self.offset_s)

    @property
    def done(self) -> bool:
        return self.result is ActionResult.DONE


class ActionJournal:
    """Append-only JSON lines; `read` skips a last line cut short by a kill."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.records: list[ActionRecord] = []

    def append(self, record: ActionRecord) -> None:
        self.records.append(record)
        with self.path.open("a", encoding="utf-8") as out:
            out.write(record.model_dump_json() + "\n")

    def read(self) -> Iterator[ActionRecord]:
        return read_lines(self.path, ActionRecord, "an action record")
