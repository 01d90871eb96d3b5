"""Operator time: each change of an operator's state written as the distributor makes it.

Supervisors answer for how operators' hours are spent (logged in, talking, in wrap-up, paused and
why); the state machine that knows it is the distributor's (`ivr.acd.agents`), so every move it
makes is kept, with the wall-clock time, as one row (`ivr.schema.presence`). The report is
`ivr.stats.operator_time`. Written like a call's writes (queued, not awaited; in the outbox while
the database is away), so a state change never waits on the store.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.orm import Session

from ivr.schema.presence import OperatorStateChange


def add_state(session: Session, *, login: str, state: str, reason: str | None, at: datetime) -> None:
    session.add(OperatorStateChange(login=login, state=state, reason=reason, at=at))
