"""What the store-reading commands share: one short-lived database session, the engine's clock."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import TypeVar

from sqlalchemy.orm import Session

from ivr.settings import Settings

T = TypeVar("T")


def session_run(settings: Settings, fn: Callable[[Session], T], write: bool = False) -> T:
    """Run `fn` in one session (a transaction when writing), on an up-to-date schema."""
    from sqlalchemy.orm import sessionmaker

    from ivr.tickets.db import make_engine, upgrade

    engine = make_engine(settings.database_url)
    upgrade(engine)
    sessions = sessionmaker(engine, expire_on_commit=False)
    try:
        if write:
            with sessions.begin() as session:
                return fn(session)
        with sessions() as session:
            return fn(session)
    finally:
        engine.dispose()


def now(settings: Settings) -> datetime:
    from ivr.factories import make_clock

    return make_clock(settings).now()
