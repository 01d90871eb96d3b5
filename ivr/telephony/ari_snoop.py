"""Snoop channels on ARI: the adapter of the Snoops port.

A snoop channel enters the engine's Stasis app like a call; it is routed under its own id before
it is asked for, so its StasisStart reaches this adapter and never the call dispatcher (which
would take it for a caller). One left behind by an engine that died carries the app argument
`snoop`, and the dispatcher and the recovery hang up whatever carries an argument they do not
serve.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid

from ivr.telephony.ari import AriClient, Event
from ivr.telephony.ari_channel import AriChannel
from ivr.telephony.errors import AriError, CallerHungUp, NotFound
from ivr.telephony.ports import SNOOP_ARG, CallChannel

DIRECTIONS = frozenset({"none", "in", "out", "both"})
START_TIMEOUT_S = 5.0


class AriSnoops:
    def __init__(self, client: AriClient, *, language: str = "it") -> None:
        self.client = client
        self.language = language

    async def snoop(self, channel_id: str, *, spy: str, whisper: str) -> CallChannel:
        if spy not in DIRECTIONS or whisper not in DIRECTIONS:
            raise ValueError(f"snoop directions: spy={spy!r} whisper={whisper!r}")
        snoop_id = f"snoop-{uuid.uuid4().hex[:16]}"
        started: asyncio.Future[AriChannel] = asyncio.get_running_loop().create_future()

        def on_event(event: Event) -> None:
            kind = event.get("type")
            if kind == "StasisStart" and not started.done():
                started.set_result(AriChannel(self.client, event["channel"], language=self.language))
            elif kind in ("ChannelDestroyed", "StasisEnd") and not started.done():
                started.set_exception(CallerHungUp(snoop_id))

        self.client.route(f"channel:{snoop_id}", on_event)
        try:
            try:
                await self.client.post(
                    f"channels/{channel_id}/snoop",
                    spy=spy,
                    whisper=whisper,
                    app=self.client.app,
                    appArgs=SNOOP_ARG,
                    snoopId=snoop_id,
                )
            except NotFound:
                raise CallerHungUp(channel_id) from None
            try:
                return await asyncio.wait_for(asyncio.shield(started), START_TIMEOUT_S)
            except TimeoutError:
                with contextlib.suppress(AriError):
                    await self.client.delete(f"channels/{snoop_id}")
                raise AriError("POST", f"channels/{channel_id}/snoop", 504, "never entered the app") from None
        finally:
            if not started.done():
                started.cancel()
            if started.cancelled() or started.exception() is not None:
                # No snoop was made; once one is, it routes its own events under this key.
                self.client.unroute(f"channel:{snoop_id}")
