"""Malformed ARI events and frames, fed to the real client, telephony port and channels.

Whatever arrives on the event socket, nothing may raise out of the client (an exception there
tears the socket down and drops every call's events until it reconnects), and a channel's state
must follow only real events: junk never hangs a call up, and a real hangup still does.
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass, field
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ivr.telephony.ari import AriClient
from ivr.telephony.ari_channel import AriChannel
from ivr.telephony.ari_telephony import AriTelephony
from ivr.telephony.errors import CallerHungUp
from ivr.telephony.ports import CallChannel
from tests.unit.fuzzing import FUZZ, HUGE, JSON, SCALARS, TEXT, json_values

GONE = ("ChannelHangupRequest", "StasisEnd", "ChannelDestroyed")
TYPES = st.one_of(
    st.sampled_from(
        [
            *GONE,
            "StasisStart",
            "PlaybackFinished",
            "PlaybackStarted",
            "RecordingFinished",
            "RecordingFailed",
            "ChannelDtmfReceived",
            "Resynced",
            "Dial",
            "ChannelVarset",
            "BridgeDestroyed",
            "ChannelEnteredBridge",
        ]
    ),
    TEXT,
)
SMALL = json_values(max_leaves=3)
IDS = st.one_of(st.sampled_from(["c1", "c2", "p1", "r1", "b1", "new", ""]), st.builds(lambda: HUGE), SCALARS)
TARGETS = st.one_of(st.sampled_from(["channel:c1", "channel:c2", "bridge:b1", "channel:", ":", "c1"]), SCALARS)
OBJECT = st.fixed_dictionaries({}, optional={"id": IDS, "name": IDS, "target_uri": TARGETS, "extra": SMALL})
HOLDER = st.one_of(OBJECT, SMALL)


def events(types: st.SearchStrategy[Any] = TYPES) -> st.SearchStrategy[dict[str, Any]]:
    return st.fixed_dictionaries(
        {"type": types},
        optional={
            "channel": HOLDER,
            "playback": HOLDER,
            "recording": HOLDER,
            "bridge": HOLDER,
            "peer": HOLDER,
            "digit": st.one_of(st.sampled_from(list("0123456789*#")), SCALARS),
            "cause": SCALARS,
            "synthetic": SCALARS,
            "args": SMALL,
            "timestamp": JSON,
        },
    )


def _names(event: dict[str, Any], channel_id: str) -> bool:
    """The event is about `channel_id` itself (not merely routed to it through a peer or a target)."""
    channel = event.get("channel")
    return isinstance(channel, dict) and channel.get("id") == channel_id


class ScriptedAri(AriClient):
    """The real client; REST answered locally (the resync and a channel's checks ask for things)."""

    def __init__(self) -> None:
        super().__init__("http://127.0.0.1:1", "nul", "u", "p")

    async def request(self, method: str, path: str, params: dict[str, Any] | None = None, body: Any = None) -> Any:
        return [] if path == "channels" else None


@dataclass
class Line:
    client: ScriptedAri
    c1: AriChannel
    c2: AriChannel
    playback: asyncio.Future[Any]
    recording: asyncio.Future[Any]
    calls: list[CallChannel] = field(default_factory=list)
    orphans: list[dict[str, Any]] = field(default_factory=list)


def make_line() -> Line:
    client = ScriptedAri()
    telephony = AriTelephony(client)  # the engine's own StasisStart handler
    c1 = AriChannel(client, {"id": "c1", "caller": {"number": "3331234567", "name": ""}, "dialplan": {}})
    c2 = AriChannel(client, {"id": "c2"})
    line = Line(client, c1, c2, c1._expect("playback:p1"), c1._expect("recording:r1"))
    telephony.on_call.subscribe(lambda channel, args: line.calls.append(channel))
    client.on_orphan.subscribe(line.orphans.append)
    return line


def feed(line: Line, event: dict[str, Any], as_frame: bool) -> None:
    """One event, through the socket's frame handler or straight into dispatch."""
    before = {c.id: c.hung_up for c in (line.c1, line.c2)}
    playback_done, recording_done = line.playback.done(), line.recording.done()
    if as_frame:
        line.client._on_text(json.dumps(event))
    else:
        line.client.dispatch(event)
    for c in (line.c1, line.c2):
        if c.hung_up and not before[c.id]:
            assert event["type"] in GONE and _names(event, c.id), f"{c.id} marked gone by {event!r:.300}"
    if line.playback.done() and not playback_done and not line.c1.hung_up:
        playback = event.get("playback")
        assert event["type"] == "PlaybackFinished" and isinstance(playback, dict) and playback.get("id") == "p1"
    if line.recording.done() and not recording_done and not line.c1.hung_up:
        recording = event.get("recording")
        assert event["type"] in ("RecordingFinished", "RecordingFailed")
        assert isinstance(recording, dict) and recording.get("name") == "r1"


async def still_works(line: Line) -> None:
    """After the junk: keys still arrive and a real hangup still ends the call."""
    await asyncio.sleep(0)  # let what the junk spawned (a resync check) run
    if not line.c2.hung_up:
        line.c2.clear_digits()
        line.client.dispatch({"type": "ChannelDtmfReceived", "channel": {"id": "c2"}, "digit": "7"})
        assert await line.c2.next_digit(0.01) == "7"
    line.client.dispatch({"type": "ChannelHangupRequest", "channel": {"id": "c1"}, "cause": 16})
    assert line.c1.hung_up and "channel:c1" not in line.client.routed()
    for fut in (line.playback, line.recording):
        assert fut.done()
        if fut.exception() is not None:
            assert isinstance(fut.exception(), CallerHungUp)
    for channel in line.calls:  # calls the junk started are real channels: they end cleanly
        line.client.dispatch({"type": "StasisEnd", "channel": {"id": channel.id}})
        assert channel.hung_up


def _routes_elsewhere(event: dict[str, Any]) -> bool:
    """Reaches a channel through its peer or a playback/recording target, not its own field."""
    keys = set()
    peer = event.get("peer")
    if isinstance(peer, dict) and isinstance(peer.get("id"), str):
        keys.add(f"channel:{peer['id']}")
    for holder in ("playback", "recording"):
        obj = event.get(holder)
        if isinstance(obj, dict) and isinstance(obj.get("target_uri"), str):
            keys.add(obj["target_uri"])
    channel = event.get("channel")
    own = f"channel:{channel['id']}" if isinstance(channel, dict) and isinstance(channel.get("id"), str) else None
    return bool(keys - {own})


def _starts_a_call(event: dict[str, Any]) -> bool:
    channel = event.get("channel")
    return isinstance(channel, dict) and isinstance(channel.get("id"), str) and channel["id"] not in ("c1", "c2")


def _channel_fields() -> st.SearchStrategy[dict[str, Any]]:
    return st.fixed_dictionaries(
        {"id": IDS},
        optional={"caller": HOLDER, "dialplan": HOLDER, "name": SCALARS, "connected": SMALL, "state": SCALARS},
    )


@pytest.mark.parametrize("as_frame", [True, False], ids=["frame", "dispatch"])
@FUZZ
@given(batch=st.lists(events() | events(st.just("StasisStart")), max_size=8), data=st.data())
def test_malformed_events_never_escape_and_never_hang_up(
    as_frame: bool, batch: list[dict[str, Any]], data: st.DataObject
) -> None:
    starts = data.draw(
        st.lists(st.builds(lambda ch: {"type": "StasisStart", "channel": ch}, _channel_fields()), max_size=3)
    )

    async def scenario() -> None:
        line = make_line()
        for event in [*batch, *starts]:
            feed(line, event, as_frame)
        await still_works(line)

    asyncio.run(scenario())


@FUZZ
@given(
    frame=st.one_of(
        TEXT,
        st.binary(max_size=200).map(lambda b: b.decode("utf-8", "surrogateescape")),
        JSON.map(json.dumps),
        st.integers(1, 200).map(lambda n: "[" * n + "]" * n),
        st.integers(1, 200).map(lambda n: '{"type": "Ping", "x": ' + "[" * n + "]" * n + "}"),
    )
)
def test_frames_that_are_not_events_are_dropped(frame: str) -> None:
    async def scenario() -> None:
        line = make_line()
        line.client._on_text(frame)
        assert not line.c1.hung_up and not line.c2.hung_up
        await still_works(line)

    asyncio.run(scenario())


# --- what the fuzzing found, fixed since: kept as plain tests ---------------------------------


def test_a_hangup_of_another_channel_naming_this_one_as_peer() -> None:
    async def scenario() -> None:
        line = make_line()
        line.client.dispatch({"type": "ChannelHangupRequest", "channel": {"id": "c2"}, "peer": {"id": "c1"}})
        assert line.c2.hung_up
        assert not line.c1.hung_up

    asyncio.run(scenario())


def test_stasis_start_with_a_non_object_caller_starts_a_withheld_call() -> None:
    async def scenario() -> None:
        line = make_line()
        line.client._on_text(
            json.dumps({"type": "StasisStart", "channel": {"id": "x", "caller": "333", "dialplan": 7}})
        )
        (call,) = line.calls
        assert (call.caller.number, call.caller.name, call.caller.dialed) == (None, None, None)

    asyncio.run(scenario())


def test_stasis_start_with_numeric_args() -> None:
    async def scenario() -> None:
        make_line().client.dispatch({"type": "StasisStart", "channel": {"id": "x"}, "args": 5})

    asyncio.run(scenario())


def test_dispatch_with_an_unhashable_type() -> None:
    async def scenario() -> None:
        make_line().client.dispatch({"type": ["StasisEnd"], "channel": {"id": "nobody"}})

    asyncio.run(scenario())


def test_a_deeply_nested_frame() -> None:
    async def scenario() -> None:
        make_line().client._on_text("[" * 100_000 + "]" * 100_000)

    asyncio.run(scenario())
