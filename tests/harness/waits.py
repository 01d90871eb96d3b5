"""Waiting in real-call tests for what the line does in its own time: a condition polled until
it holds or a deadline passes, the assertion naming what never came."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any


async def until(check: Callable[[], Any], what: str, timeout: float = 60) -> Any:
    """`check` run in a thread (it may read the database or ask Asterisk over HTTP) every 0.3 s
    until it returns something true, which is returned."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not (value := await asyncio.to_thread(check)):
        if loop.time() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.3)
    return value


async def soon(check: Callable[[], Any], what: str, timeout: float = 45) -> Any:
    """`check` run on the event loop (the engine's own state, in this process) every 0.05 s until
    it returns something true, which is returned."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not (value := check()):
        if loop.time() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.05)
    return value
