"""A setting changed while the managed Asterisk runs takes effect: the trunk's address was changed
and the engine restarted, Asterisk (still running) kept the old trunk, and every call from the new
carrier was refused ("No matching endpoint found") with nothing said. Real Asterisk, real calls
from the lab carrier, before and after `ivr run`'s reload (`ivr.commands.asterisk`)."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from ivr.asterisk.drift import changes
from ivr.asterisk.managed import engine_context
from ivr.commands.asterisk import bring_running_up_to_date
from ivr.lab.carrier import CallNotAnswered
from tests.harness.pbx import CARRIER_HOST, PbxPair, connected, start_pair

pytestmark = pytest.mark.asterisk


@pytest.fixture
async def own_pair(prompts_cache: Path) -> AsyncIterator[PbxPair]:
    """A pair of its own: this test reconfigures the engine's Asterisk under the session's tests."""
    async with connected(start_pair(prompts_cache, name=f"t{os.getpid()}-drift", callers_wait_s=1.0)) as pair:
        yield pair


async def _answered(pair: PbxPair) -> bool:
    """A call from the lab carrier to the line, no engine attached: Asterisk answers it to say
    the service is unavailable once it knows the carrier, and refuses it when it does not."""
    did = pair.settings(Path("/nonexistent")).service.did
    try:
        call = await pair.carrier.call(did, answer_timeout=8.0)
    except CallNotAnswered:
        return False
    await call.hangup()
    return True


async def test_a_trunk_address_changed_while_asterisk_runs_is_reloaded_and_calls_follow_it(
    own_pair: PbxPair, prompts_cache: Path
) -> None:
    def context(trunk_host: str) -> dict[str, object]:
        port = own_pair.overrides["asterisk"]["trunk"]["port"]
        settings = own_pair.settings(prompts_cache, {"asterisk": {"trunk": {"host": trunk_host, "port": port}}})
        return engine_context(settings)

    engine = own_pair.engine_asterisk
    assert changes(engine, context(CARRIER_HOST)) == []  # as started
    assert await _answered(own_pair)

    elsewhere = context("127.0.0.3")  # the carrier moved: the line must stop taking the old one
    assert bring_running_up_to_date(engine, elsewhere) is True  # reloaded, not restarted
    assert "127.0.0.3" in engine.cli("pjsip show identifies")
    assert not await _answered(own_pair)

    back = context(CARRIER_HOST)
    pid = engine.pid()
    assert bring_running_up_to_date(engine, back) is True
    assert engine.pid() == pid  # the same Asterisk: no call would have been cut
    assert await _answered(own_pair)
