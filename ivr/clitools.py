"""What the store-reading commands share: the ticket store (its repositories run through
`asyncio.run`, as the engine runs them) and the engine's clock.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import datetime
from typing import TYPE_CHECKING, TypeVar

from ivr.settings import Settings

if TYPE_CHECKING:
    from ivr.tickets.store import SqlTicketStore

T = TypeVar("T")


@contextlib.asynccontextmanager
async def open_store(settings: Settings) -> AsyncIterator[SqlTicketStore]:
    """The ticket store on an up-to-date schema, flushed and closed on the way out."""
    from ivr.command_table import install as install_commands
    from ivr.tickets.db import make_engine, upgrade
    from ivr.tickets.store import SqlTicketStore

    install_commands()
    engine = make_engine(settings.database_url)
    upgrade(engine)
    store = SqlTicketStore(engine, tz=settings.service.tz)
    await store.start()
    try:
        yield store
    finally:
        await store.stop()
        engine.dispose()


def with_store(settings: Settings, fn: Callable[[SqlTicketStore], Awaitable[T]]) -> T:
    """Run `fn` on the ticket store in a fresh event loop: a command's one trip to the database."""

    async def go() -> T:
        async with open_store(settings) as store:
            return await fn(store)

    return asyncio.run(go())


def now(settings: Settings) -> datetime:
    from ivr.assembly import Assembly

    return Assembly(settings).clock.now()
