"""ARI client and channel logic against scripted REST answers and injected events."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from ivr.telephony.ari import AriClient
from ivr.telephony.ari_channel import AriChannel
from ivr.telephony.errors import CallerHungUp, NotFound


class ScriptedAri(AriClient):
    """An AriClient whose REST calls are answered by the test, and recorded."""

    def __init__(self) -> None:
        super().__init__("http://127.0.0.1:1", "nul", "u", "p")
        self.calls: list[tuple[str, str, dict[str, Any]]] = []
        self.answers: dict[tuple[str, str], Any] = {}

    async def request(self, method: str, path: str, params: dict[str, Any] | None = None, body: Any = None) -> Any:
        self.calls.append((method, path, dict(params or {})))
        answer = self.answers.get((method, path.split("/")[0]), self.answers.get((method, path)))
        if isinstance(answer, Exception):
            raise answer
        return answer


def channel_json(cid: str = "c1", **extra: Any) -> dict[str, Any]:
    return {
        "id": cid,
        "name": f"PJSIP/carrier-{cid}",
        "caller": {"number": "333", "name": ""},
        "dialplan": {"exten": "800000039"},
        **extra,
    }


def test_events_reach_the_routed_handler_only() -> None:
    client = ScriptedAri()
    seen: list[str] = []
    starts: list[str] = []
    client.route("channel:c1", lambda e: seen.append(e["type"]))
    client.on_start.subscribe(lambda e: starts.append(e["channel"]["id"]))
    client.dispatch({"type": "ChannelDtmfReceived", "channel": {"id": "c1"}, "digit": "5"})
    client.dispatch({"type": "PlaybackFinished", "playback": {"id": "p", "target_uri": "channel:c1"}})
    client.dispatch({"type": "ChannelDtmfReceived", "channel": {"id": "other"}, "digit": "5"})
    client.dispatch({"type": "StasisStart", "channel": {"id": "c2"}, "args": []})
    assert seen == ["ChannelDtmfReceived", "PlaybackFinished"]
    assert starts == ["c2"]


def test_malformed_frames_are_ignored() -> None:
    client = ScriptedAri()
    seen: list[Any] = []
    client.on_event.subscribe(seen.append)
    for frame in ["not json", "[]", '{"no": "type"}', '{"type": 5}', '{"type": "Ping"}']:
        client._on_text(frame)
    assert seen == [{"type": "Ping"}]


async def test_play_waits_for_its_playback_to_finish() -> None:
    client = ScriptedAri()
    channel = AriChannel(client, channel_json())
    task = asyncio.create_task(channel.play(["sound:x"]))
    await asyncio.sleep(0.01)
    (method, path, params) = client.calls[-1]
    assert method == "POST" and path.startswith("channels/c1/play/")
    assert params["media"] == ["sound:x"] and params["lang"] == "it"
    assert not task.done()
    playback_id = path.rsplit("/", 1)[1]
    client.dispatch({"type": "PlaybackFinished", "playback": {"id": playback_id, "target_uri": "channel:c1"}})
    assert await task is True


async def test_a_key_stops_an_interruptible_prompt_and_stays_buffered() -> None:
    client = ScriptedAri()
    channel = AriChannel(client, channel_json())
    task = asyncio.create_task(channel.play(["sound:menu"], interruptible=True))
    await asyncio.sleep(0.01)
    playback_id = client.calls[-1][1].rsplit("/", 1)[1]
    client.dispatch({"type": "ChannelDtmfReceived", "channel": {"id": "c1"}, "digit": "2"})
    await asyncio.sleep(0.01)
    assert ("DELETE", f"playbacks/{playback_id}", {}) in client.calls
    client.dispatch({"type": "PlaybackFinished", "playback": {"id": playback_id, "target_uri": "channel:c1"}})
    assert await task is False
    assert await channel.next_digit(0.1) == "2"
    assert await channel.next_digit(0.05) is None


async def test_hangup_during_a_wait_raises_caller_hung_up() -> None:
    client = ScriptedAri()
    channel = AriChannel(client, channel_json())
    play = asyncio.create_task(channel.play(["sound:x"]))
    digit = asyncio.create_task(channel.next_digit(30))
    await asyncio.sleep(0.01)
    client.dispatch({"type": "StasisEnd", "channel": {"id": "c1"}})
    with pytest.raises(CallerHungUp):
        await play
    with pytest.raises(CallerHungUp):
        await digit
    assert channel.hung_up
    assert "channel:c1" not in client.routed()


async def test_hangup_request_beats_the_playback_it_ends() -> None:
    """Asterisk reports the hangup request before the PlaybackFinished it causes; the prompt
    must end as a hangup, not as a prompt heard to the end."""
    client = ScriptedAri()
    channel = AriChannel(client, channel_json())
    play = asyncio.create_task(channel.play(["sound:last"]))
    await asyncio.sleep(0.01)
    playback_id = client.calls[-1][1].rsplit("/", 1)[1]
    client.dispatch({"type": "ChannelHangupRequest", "channel": {"id": "c1"}, "cause": 16})
    client.dispatch({"type": "PlaybackFinished", "playback": {"id": playback_id, "target_uri": "channel:c1"}})
    with pytest.raises(CallerHungUp):
        await play


async def test_request_on_a_vanished_channel_is_a_hangup() -> None:
    client = ScriptedAri()
    client.answers[("POST", "channels")] = NotFound("POST", "channels/c1/answer", 404, "Channel not found")
    channel = AriChannel(client, channel_json())
    with pytest.raises(CallerHungUp):
        await channel.answer()
    assert channel.hung_up


async def test_resync_ends_vanished_channels_and_adopts_unseen_ones() -> None:
    client = ScriptedAri()
    alive = AriChannel(client, channel_json("alive"))
    vanished = AriChannel(client, channel_json("vanished"))
    adopted: list[tuple[str, list[str]]] = []
    client.on_start.subscribe(lambda e: adopted.append((e["channel"]["id"], e["args"])))
    client.answers[("GET", "channels")] = [
        channel_json("alive", dialplan={"app_name": "Stasis", "app_data": "nul,inbound"}),
        channel_json("new", dialplan={"app_name": "Stasis", "app_data": "nul,inbound"}),
        channel_json("elsewhere", dialplan={"app_name": "Stasis", "app_data": "other,inbound"}),
        channel_json("dialplan", dialplan={"app_name": "Playback", "app_data": "x"}),
    ]
    await client._resync()
    assert vanished.hung_up and not alive.hung_up
    assert adopted == [("new", ["inbound"])]


async def test_playback_end_lost_during_outage_is_recovered() -> None:
    client = ScriptedAri()
    channel = AriChannel(client, channel_json())
    task = asyncio.create_task(channel.play(["sound:x"]))
    await asyncio.sleep(0.01)
    client.answers[("GET", "playbacks")] = NotFound("GET", "playbacks/x", 404, "Playback not found")
    client.dispatch({"type": "Resynced", "channel": {"id": "c1"}, "synthetic": True})
    assert await asyncio.wait_for(task, 1) is True
