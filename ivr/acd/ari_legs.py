"""Operator legs and bridges on ARI: ringing an operator, connecting them to the caller,
recording the conversation when the caller agreed to it."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from dataclasses import dataclass
from typing import Any

from ivr.acd.distributor import OfferFailed
from ivr.telephony.ari import AriClient, Event
from ivr.telephony.ari_channel import AriChannel
from ivr.telephony.errors import AriError, CallerHungUp, NotFound
from ivr.telephony.ports import CallChannel

log = logging.getLogger(__name__)

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


class AriOfferer:
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
                    OfferFailed(CAUSES.get(cause, f"cause_{cause}") if isinstance(cause, int) else "hangup")
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
                raise OfferFailed("unreachable") from None
            except AriError as exc:
                if answered.done():
                    return await answered
                raise OfferFailed(f"refused:{exc.status}") from None
            stop = asyncio.ensure_future(cancelled.wait())
            either: list[asyncio.Future[Any]] = [answered, stop]
            done, _ = await asyncio.wait(either, timeout=timeout + 3, return_when=asyncio.FIRST_COMPLETED)
            stop.cancel()
            if answered in done:
                leg = answered.result()
                if cancelled.is_set():
                    await leg.hangup()
                    raise OfferFailed("cancelled")
                return leg
            with contextlib.suppress(AriError):
                await self.client.delete(f"channels/{channel_id}")
            raise OfferFailed("cancelled" if cancelled.is_set() else "no_answer")
        finally:
            if not answered.done():
                answered.cancel()
            if answered.cancelled() or answered.exception() is not None:
                # No leg was made; once one is, it routes its own events under this key.
                self.client.unroute(f"channel:{channel_id}")


@dataclass(frozen=True)
class Conversation:
    ended_by: str  # "caller" or "operator"
    recording: str | None  # stored recording name in Asterisk, if one was made


class AriBridging:
    def __init__(self, client: AriClient, *, record_format: str = "wav") -> None:
        self.client = client
        self.record_format = record_format

    async def _gone_leg(self, caller: CallChannel, operator: CallChannel) -> str | None:
        """Which leg no longer exists ("caller" first), asking Asterisk; None if both do."""
        for who, leg in (("caller", caller), ("operator", operator)):
            if leg.hung_up:
                return who
            try:
                await self.client.get(f"channels/{leg.id}")
            except NotFound:
                return who
        return None

    async def converse(
        self, caller: CallChannel, operator: CallChannel, *, record_as: str | None, bridge_id: str | None = None
    ) -> Conversation:
        """Connect the two legs until one hangs up; record when asked to. With `bridge_id`, the
        two are already talking in that bridge (a conversation picked up after a restart)."""
        rejoined = bridge_id is not None
        if bridge_id is None:
            bridge = await self.client.post("bridges", type="mixing", name=f"call-{caller.id}"[:60])
            bridge_id = bridge["id"]
        recorded = asyncio.get_running_loop().create_future()
        caller_left: asyncio.Future[None] = asyncio.get_running_loop().create_future()

        def on_bridge(event: Event) -> None:
            kind = event.get("type")
            if kind in ("RecordingFinished", "RecordingFailed"):
                _settle(recorded, event)
            elif kind == "ChannelLeftBridge" and (event.get("channel") or {}).get("id") == caller.id:
                _settle(caller_left)

        self.client.route(f"bridge:{bridge_id}", on_bridge)
        recording: str | None = None
        try:
            if not rejoined:
                try:
                    await self.client.post(f"bridges/{bridge_id}/addChannel", channel=[caller.id, operator.id])
                except AriError:
                    gone = await self._gone_leg(caller, operator)
                    if gone is None:
                        raise
                    return Conversation(gone, None)  # one of them hung up as they were being joined
            if record_as is not None and rejoined:
                recording = record_as  # started before the restart; still running on the bridge
            elif record_as is not None:
                try:
                    await self.client.post(
                        f"bridges/{bridge_id}/record",
                        name=record_as,
                        format=self.record_format,
                        ifExists="overwrite",
                        beep=False,
                        terminateOn="none",
                    )
                    recording = record_as
                except AriError as exc:
                    log.error("call %s: recording could not start: %s", caller.id, exc)
            caller_gone = asyncio.ensure_future(caller.wait_gone())
            operator_gone = asyncio.ensure_future(operator.wait_gone())
            legs: list[asyncio.Future[None]] = [caller_gone, operator_gone]
            done, _ = await asyncio.wait(legs, return_when=asyncio.FIRST_COMPLETED)
            ended_by = "caller" if caller_gone in done else "operator"
            for task in (caller_gone, operator_gone):
                task.cancel()
            if recording is not None:
                with contextlib.suppress(AriError):
                    await self.client.post(f"recordings/live/{recording}/stop")
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(recorded, 5)
            return Conversation(ended_by, recording)
        finally:
            try:
                with contextlib.suppress(AriError):
                    await self.client.delete(f"bridges/{bridge_id}")
                # The DELETE is often answered before the caller's ChannelLeftBridge (3 of 5 in the
                # survey test); a prompt started while the caller is still leaving can be lost,
                # never finishing: the survey waits for the caller to be out first.
                if not caller.hung_up:
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(asyncio.shield(caller_left), 2.0)
            finally:
                self.client.unroute(f"bridge:{bridge_id}")
            with contextlib.suppress(CallerHungUp, AriError):
                await operator.hangup()


def _settle(fut: asyncio.Future[Any], value: Any = None) -> None:
    if not fut.done():
        fut.set_result(value)
