"""A call taken over from an engine that died: what the dead engine left playing on the caller's
channel is stopped before the call goes on (the soak's finding 6: a prompt still playing held the
bridging behind it, and the operator who answered meanwhile was never heard)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import pytest

from ivr.callflows.facts import CallFacts, Rejoin
from ivr.callflows.model import Flow
from ivr.callflows.nodes import BASIC_HANDLERS
from ivr.callflows.session import CallContext, CallSession, Resume
from ivr.clock import SystemClock
from ivr.telephony.ari_channel import PLAYBACK_SLOTS, AriChannel
from ivr.telephony.errors import AriError, NotFound
from ivr.tickets.store import NewCall, SqlTicketStore
from tests.fakes import FakeChannel
from tests.unit.test_ari import ScriptedAri, channel_json
from tests.unit.test_session import PROMPTS

T0 = datetime(2026, 2, 10, 9, 30, tzinfo=UTC)
FLOW = Flow.model_validate(
    {
        "name": "t",
        "start": "queue",
        "nodes": {
            "queue": {"type": "queue", "fallback": "goodbye", "next": "goodbye"},
            "goodbye": {"type": "hangup", "prompt": "goodbye"},
        },
    }
)


def _played_id(client: ScriptedAri) -> str:
    (method, path, _) = client.calls[-1]
    assert method == "POST" and path.startswith("channels/c1/play/")
    return path.rsplit("/", 1)[1]


async def test_the_next_engine_stops_the_prompt_a_dead_one_left_playing() -> None:
    dead = ScriptedAri()
    announcement = asyncio.create_task(AriChannel(dead, channel_json()).play(["sound:queue_enter"]))
    await asyncio.sleep(0.01)
    left = _played_id(dead)
    announcement.cancel()  # the engine is gone; Asterisk plays on

    client = ScriptedAri()
    for slot in range(PLAYBACK_SLOTS):
        if f"c1.play{slot}" != left:
            client.answers[("DELETE", f"playbacks/c1.play{slot}")] = NotFound("DELETE", "playbacks", 404, "not found")
    taking_over = AriChannel(client, channel_json())
    stopping = asyncio.create_task(taking_over.stop_media_left())
    await asyncio.sleep(0.01)
    assert ("DELETE", f"playbacks/{left}", {}) in client.calls
    assert not stopping.done()  # waits for the old prompt to end before its own use the slots
    client.dispatch({"type": "PlaybackFinished", "playback": {"id": left, "target_uri": "channel:c1"}})
    assert await stopping == 1
    assert client.calls[-1] == ("DELETE", "channels/c1/moh", {})  # its music on hold too
    assert not taking_over.hung_up


async def test_with_nothing_left_playing_it_goes_on_at_once() -> None:
    client = ScriptedAri()
    client.answers[("DELETE", "playbacks")] = NotFound("DELETE", "playbacks", 404, "not found")
    channel = AriChannel(client, channel_json())
    assert await channel.stop_media_left() == 0
    deleted = [path for method, path, _ in client.calls if method == "DELETE"]
    assert deleted == [f"playbacks/c1.play{slot}" for slot in range(PLAYBACK_SLOTS)] + ["channels/c1/moh"]
    assert not channel.hung_up  # an empty slot (404) is not the channel gone


async def test_prompts_take_the_channel_slots_in_turn() -> None:
    client = ScriptedAri()
    channel = AriChannel(client, channel_json())
    ids = []
    for _ in range(PLAYBACK_SLOTS + 1):
        play = asyncio.create_task(channel.play(["sound:x"]))
        await asyncio.sleep(0)
        ids.append(_played_id(client))
        client.dispatch({"type": "PlaybackFinished", "playback": {"id": ids[-1], "target_uri": "channel:c1"}})
        assert await play is True
    assert ids[:PLAYBACK_SLOTS] == [f"c1.play{slot}" for slot in range(PLAYBACK_SLOTS)]
    assert ids[PLAYBACK_SLOTS] == ids[0]


async def _resume(store: SqlTicketStore, channel: FakeChannel, facts: CallFacts) -> list[int]:
    """Resume a call in the queue node; returns how many times the media left was stopped
    when the node began."""
    ticket_id = await store.open_call(NewCall(channel.id, T0, "3331234567", None, "800000039"))
    await store.update(ticket_id, last_state="queue:queue")
    ticket = await store.get(ticket_id)
    assert ticket is not None
    seen: list[int] = []

    async def queue(ctx: CallContext, node: object) -> str:
        seen.append(channel.media_left_stopped)
        return "goodbye"

    await CallSession(
        channel,
        FLOW,
        {**BASIC_HANDLERS, "queue": queue},
        store=store,
        clock=SystemClock(),
        prompts=PROMPTS,
        resume=Resume(ticket, "queue", facts),
    ).run()
    closed = await store.get(ticket_id)
    assert closed is not None and closed.outcome == "completed"
    return seen


async def test_a_caller_resumed_in_the_queue_is_quieted_first(sqlite_store: SqlTicketStore) -> None:
    channel = FakeChannel()
    assert await _resume(sqlite_store, channel, CallFacts(resumed=True, admitted=True)) == [1]


async def test_a_conversation_picked_up_in_its_bridge_is_left_alone(sqlite_store: SqlTicketStore) -> None:
    channel = FakeChannel()
    rejoin = Rejoin("bridge-1", FakeChannel("leg-1"), "op00")
    assert await _resume(sqlite_store, channel, CallFacts(resumed=True, rejoin=rejoin)) == [0]


class _Refusing(FakeChannel):
    async def stop_media_left(self) -> int:
        raise AriError("DELETE", "playbacks/x", 500, "Internal Server Error")


async def test_a_refused_stop_does_not_end_the_call(
    sqlite_store: SqlTicketStore, caplog: pytest.LogCaptureFixture
) -> None:
    channel = _Refusing()
    assert await _resume(sqlite_store, channel, CallFacts(resumed=True, admitted=True)) == [0]
    assert "was not stopped" in caplog.text
