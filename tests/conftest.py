"""Session-wide real parts: the Asterisk pair and a PostgreSQL server, started once."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import tempfile
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from ivr.command_table import install as install_commands
from ivr.tickets.db import make_engine, upgrade
from ivr.tickets.store import SqlTicketStore
from tests.harness.pbx import PbxPair, connected, start_pair
from tests.harness.postgres import PostgresServer
from tests.harness.stuck import STUCK
from tests.harness.voices import Voices, make_voices


def pytest_configure(config: pytest.Config) -> None:
    """Every write command named, as the engine does before it builds its store."""
    install_commands()
    capture = config.pluginmanager.getplugin("capturemanager")
    if capture is not None:
        STUCK.uncaptured = capture.global_and_fixture_disabled


FILE_SECONDS = Path(__file__).with_name("file_seconds.json")


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """The longest real-call files first (their seconds as last measured, `scripts/test_times.py
    --write-weights`): workers take whole files in this order (`--no-loadscope-reorder`), and a
    two-minute file started last would leave the other workers idle for its tail. Within a file
    the order is the file's own; a file not measured yet counts as short."""
    seconds: dict[str, float] = json.loads(FILE_SECONDS.read_text()) if FILE_SECONDS.exists() else {}
    items.sort(key=lambda item: -seconds.get(item.nodeid.partition("::")[0], 0.0))


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_teardown(item: pytest.Item, nextitem: pytest.Item | None) -> None:
    """The worker's last test: its teardown ends the session's fixtures; if that never ends,
    say what it waits for (tests.harness.stuck)."""
    if nextitem is None:
        STUCK.arm(f"the teardown after {item.nodeid}")


@pytest.fixture(scope="session")
def prompts_cache() -> Iterator[Path]:
    """Generated prompt audio shared by every engine of the session (built once)."""
    path = Path(tempfile.mkdtemp(prefix="nul-prompts-"))
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture(scope="session")
async def pbx(prompts_cache: Path) -> AsyncIterator[PbxPair]:
    """The engine's Asterisk and the lab carrier. Fails (never skips) if they cannot start."""
    STUCK.loop = asyncio.get_running_loop()
    async with connected(start_pair(prompts_cache)) as pair:
        yield pair


@pytest.fixture(autouse=True)
def _no_ring_left_by_an_earlier_test(request: pytest.FixtureRequest) -> None:
    """The lab carrier is shared by the session: a test starts with no outside-number ring queued
    by the one before (CI once answered a ring whose channel had gone with its test)."""
    if "pbx" in request.fixturenames:
        pair: PbxPair = request.getfixturevalue("pbx")
        pair.carrier.forget_rings()


@pytest.fixture(scope="session")
def voices(tmp_path_factory: pytest.TempPathFactory) -> Voices:
    return make_voices(tmp_path_factory.mktemp("voices"))


@pytest.fixture(scope="session")
def postgres() -> Iterator[PostgresServer]:
    server = PostgresServer()
    server.start()
    try:
        yield server
    finally:
        server.stop()


_db_counter = iter(range(10_000))


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """The same test on the embedded default and on a real PostgreSQL."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'nul.db'}"
    server: PostgresServer = request.getfixturevalue("postgres")
    return server.create_database(f"t{os.getpid()}_{next(_db_counter)}")


@pytest.fixture
async def sqlite_store(tmp_path: Path) -> AsyncIterator[SqlTicketStore]:
    """A migrated ticket store on a fresh SQLite file (fast unit tests of call logic)."""
    engine = make_engine(f"sqlite:///{tmp_path / 'tickets.db'}")
    upgrade(engine)
    store = SqlTicketStore(engine)
    yield store
    await store.stop()
    engine.dispose()
