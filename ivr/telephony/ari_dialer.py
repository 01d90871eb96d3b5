"""Legs the engine places on ARI (an operator's phone, a citizen called back): the adapter of
the Dialer port. The leg is answered into the engine's Stasis app, then handed over as an
AriChannel; every way it fails is a DialFailed with a Q.850 cause in words."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from typing import Any

from ivr.telephony.ari import AriClient, Event
from ivr.telephony.ari_channel import AriChannel
from ivr.telephony.errors import AriError, DialFailed, NotFound
from ivr.telephony.ports import CallChannel

# Q.850 causes worth telling apart in the logs and on the ticket timeline.
CAUSES = {
    16: "normal",
    17: "busy",
    18: "no_response",
    19: "no_answer",
    21: "rejected",
    20: "unregistered",
    3: "no_route",
    1: "unallocated",
    34: "congestion",
    38: "network_down",
}


class AriDialer:
    def __init__(self, client: AriClient, *, language: str = "it") -> None:
        self.client = client
        self.language = language

    async def dial(
        self, endpoint: str, *, caller_id: str | None, timeout: float, cancelled: asyncio.Event
    ) -> CallChannel:
        channel_id = f"op-{uuid.uuid4().hex[:16]}"
        answered: asyncio.Future[AriChannel] = asyncio.get_running_loop().create_future()

        def on_event(event: Event) -> None:
            kind = event.get("type")
            if kind == "StasisStart" and not answered.done():
                answered.set_result(AriChannel(self.client, event["channel"], language=self.language))
            elif kind in ("ChannelDestroyed", "ChannelHangupRequest") and not answered.done():
                cause = event.get("cause")
                answered.set_exception(
                    DialFailed(CAUSES.get(cause, f"cause_{cause}") if isinstance(cause, int) else "hangup")
                )

        self.client.route(f"channel:{channel_id}", on_event)
        try:
            try:
                await self.client.post(
                    "channels",
                    endpoint=endpoint,
                    app=self.client.app,
                    appArgs="operator",
                    channelId=channel_id,
                    callerId=caller_id or "anonymous",
                    timeout=max(1, round(timeout)),
                )
                # Events before the answer (ringing, no answer, busy) only come to a subscriber.
                await self.client.post(
                    f"applications/{self.client.app}/subscription", eventSource=f"channel:{channel_id}"
                )
            except NotFound:
                if answered.done():
                    return await answered
                raise DialFailed("unreachable") from None
            except AriError as exc:
                if answered.done():
                    return await answered
                raise DialFailed(f"refused:{exc.status}") from None
            stop = asyncio.ensure_future(cancelled.wait())
            either: list[asyncio.Future[Any]] = [answered, stop]
            done, _ = await asyncio.wait(either, timeout=timeout + 3, return_when=asyncio.FIRST_COMPLETED)
            stop.cancel()
            if answered in done:
                leg = answered.result()
                if cancelled.is_set():
                    await leg.hangup()
                    raise DialFailed("cancelled")
                return leg
            with contextlib.suppress(AriError):
                await self.client.delete(f"channels/{channel_id}")
            raise DialFailed("cancelled" if cancelled.is_set() else "no_answer")
        finally:
            if not answered.done():
                answered.cancel()
            if answered.cancelled() or answered.exception() is not None:
                # No leg was made; once one is, it routes its own events under this key.
                self.client.unroute(f"channel:{channel_id}")
