"""Stopping a prompt that has just ended by itself: Asterisk answers the DELETE with 404 (the
playback is gone), and that is not the caller gone. Taken for a hangup, it ended the call of a
caller who pressed a key in a prompt's last moment, and a caller whose announcement ended just
as an operator answered was joined to the operator and at once "hung up"."""

from __future__ import annotations

import asyncio

from ivr.telephony.ari_channel import AriChannel
from ivr.telephony.errors import NotFound
from tests.unit.test_ari import ScriptedAri, channel_json


def _gone_playbacks() -> ScriptedAri:
    client = ScriptedAri()
    client.answers[("DELETE", "playbacks")] = NotFound("DELETE", "playbacks/x", 404, "Playback not found")
    return client


async def test_a_key_at_the_end_of_a_prompt_leaves_the_call_up() -> None:
    client = _gone_playbacks()
    channel = AriChannel(client, channel_json())
    play = asyncio.create_task(channel.play(["sound:menu"], interruptible=True))
    await asyncio.sleep(0.01)
    playback_id = client.calls[-1][1].rsplit("/", 1)[1]
    client.dispatch({"type": "ChannelDtmfReceived", "channel": {"id": "c1"}, "digit": "2"})
    await asyncio.sleep(0.01)
    client.dispatch({"type": "PlaybackFinished", "playback": {"id": playback_id, "target_uri": "channel:c1"}})
    assert await play is False
    assert not channel.hung_up
    assert await channel.next_digit(0.1) == "2"


async def test_a_prompt_cut_as_it_ends_leaves_the_call_up() -> None:
    """The operator answers during the queue announcement: the announcement is cancelled and
    stopped in the background while the caller is bridged."""
    client = _gone_playbacks()
    channel = AriChannel(client, channel_json())
    play = asyncio.create_task(channel.play(["sound:queue_enter"], interruptible=True))
    await asyncio.sleep(0.01)
    playback_id = client.calls[-1][1].rsplit("/", 1)[1]
    play.cancel()
    await asyncio.sleep(0.01)
    assert ("DELETE", f"playbacks/{playback_id}", {}) in client.calls
    client.dispatch({"type": "PlaybackFinished", "playback": {"id": playback_id, "target_uri": "channel:c1"}})
    await asyncio.sleep(0.01)
    assert not channel.hung_up
    assert "channel:c1" in client.routed()  # still hears its events


async def test_a_prompt_whose_end_event_is_lost_ends_when_asterisk_no_longer_has_it() -> None:
    """A caller must not wait in silence for an event that will never come."""
    client = _gone_playbacks()
    client.answers[("GET", "playbacks")] = NotFound("GET", "playbacks/x", 404, "Playback not found")
    channel = AriChannel(client, channel_json())
    channel.playback_probe_s = 0.05
    assert await asyncio.wait_for(channel.play(["sound:survey_intro"]), 1.0) is True
    assert not channel.hung_up
    assert [c[0] for c in client.calls] == ["POST", "GET"]


async def test_a_prompt_still_playing_is_waited_for() -> None:
    client = _gone_playbacks()
    client.answers[("GET", "playbacks")] = {"id": "x", "state": "playing"}
    channel = AriChannel(client, channel_json())
    channel.playback_probe_s = 0.02
    play = asyncio.create_task(channel.play(["sound:welcome"], interruptible=True))
    await asyncio.sleep(0.15)
    assert not play.done()  # asked about a few times, still playing: still waited for
    playback_id = client.calls[0][1].rsplit("/", 1)[1]
    assert sum(c[0] == "GET" for c in client.calls) >= 2
    client.dispatch({"type": "PlaybackFinished", "playback": {"id": playback_id, "target_uri": "channel:c1"}})
    assert await play is True


async def test_a_prompt_that_never_starts_is_started_once_more_then_given_up() -> None:
    """A prompt queued on a channel as it leaves a bridge can stay queued for ever."""
    client = _gone_playbacks()
    client.answers[("GET", "playbacks")] = {"id": "x", "state": "queued"}
    channel = AriChannel(client, channel_json())
    channel.playback_probe_s = channel.stop_wait_s = 0.02
    assert await asyncio.wait_for(channel.play(["sound:survey_intro"]), 1.0) is False
    posts = [path for method, path, _ in client.calls if method == "POST"]
    deletes = [path for method, path, _ in client.calls if method == "DELETE"]
    assert len(posts) == 2 and posts[0] != posts[1]  # the second start in the next slot
    assert deletes == [f"playbacks/{p.rsplit('/', 1)[1]}" for p in posts]
    assert not channel.hung_up
