"""Telephony port on ARI: turns StasisStart into CallChannel objects for the engine."""

from __future__ import annotations

import logging

from ivr.subscribers import Subscribers
from ivr.telephony.ari import AriClient, Event
from ivr.telephony.ari_channel import AriChannel
from ivr.telephony.ari_resources import AriChannels
from ivr.telephony.ports import CallChannel

log = logging.getLogger(__name__)


class AriTelephony:
    def __init__(self, client: AriClient, *, language: str = "it") -> None:
        self.client = client
        self.language = language
        self.on_call: Subscribers[[CallChannel, list[str]]] = Subscribers()
        # Channels found already in the app when the event socket (re)connects: calls that
        # outlived a previous run of the engine, or arrived while the socket was down.
        self.on_adopt: Subscribers[[CallChannel, list[str]]] = Subscribers()
        client.on_start.subscribe(self._on_start)

    async def start(self) -> None:
        await self.client.start()

    async def stop(self) -> None:
        await self.client.close()

    async def live_channel_ids(self) -> set[str]:
        return await AriChannels(self.client).live_ids()

    def _on_start(self, event: Event) -> None:
        data = event.get("channel")
        if not isinstance(data, dict) or not isinstance(data.get("id"), str):
            log.warning("StasisStart without a channel; ignored")
            return
        raw = event.get("args")
        args = [str(a) for a in raw] if isinstance(raw, list) else []
        channel = AriChannel(self.client, data, language=self.language)
        if event.get("synthetic") is True and self.on_adopt:
            self.on_adopt(channel, args)
            return
        if not self.on_call:
            log.warning("call %s arrived before the engine was ready; hanging up", channel.id)
            self.client.tasks.spawn(channel.hangup("congestion"))
            return
        self.on_call(channel, args)
