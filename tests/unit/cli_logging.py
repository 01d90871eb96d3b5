"""`ivr.cli.main` reconfigures the root logger for the process (a handler on the standard error
of the moment); tests that call it give the previous handlers and levels back afterwards, or
later tests would log into a closed capture stream."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator

import pytest

_NAMED = ("aiohttp", "alembic", "ivr.ami.panoramisk")


@contextlib.contextmanager
def logging_restored() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    named = {name: logging.getLogger(name).level for name in _NAMED}
    try:
        yield
    finally:
        root.handlers[:] = handlers
        root.setLevel(level)
        for name, old in named.items():
            logging.getLogger(name).setLevel(old)


@pytest.fixture(autouse=True)
def keep_logging() -> Iterator[None]:
    with logging_restored():
        yield
