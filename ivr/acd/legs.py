"""Operator legs and conversations: ringing an operator, connecting them to the caller in a
bridge, recording the conversation when the caller agreed to it. The PBX is reached through
the telephony ports (Dialer, Bridges, Channels), never directly."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass
from typing import Any

from ivr.acd.control import LiveCall
from ivr.acd.offers import OfferFailed
from ivr.callflows.recovery_plan import conversation_bridge
from ivr.telephony.errors import AriError, CallerHungUp, DialFailed
from ivr.telephony.ports import BridgeEvent, Bridges, CallChannel, Channels, Dialer

log = logging.getLogger(__name__)


class OperatorDialer:
    """The distributor's Offerer on a Dialer: a leg that is not answered is an OfferFailed."""

    def __init__(self, dialer: Dialer) -> None:
        self.dialer = dialer

    async def dial(
        self, endpoint: str, *, caller_id: str | None, timeout: float, cancelled: asyncio.Event
    ) -> CallChannel:
        try:
            return await self.dialer.dial(endpoint, caller_id=caller_id, timeout=timeout, cancelled=cancelled)
        except DialFailed as exc:
            raise OfferFailed(exc.cause) from None


@dataclass(frozen=True)
class Conversation:
    ended_by: str  # "caller" or "operator"
    recording: str | None  # stored recording name in the PBX, if one was made


class BridgedConversations:
    def __init__(self, bridges: Bridges, channels: Channels, *, record_format: str = "wav") -> None:
        self.bridges = bridges
        self.channels = channels
        self.record_format = record_format

    async def _gone_leg(self, caller: CallChannel, operator: CallChannel) -> str | None:
        """Which leg no longer exists ("caller" first), asking the PBX; None if both do."""
        for who, leg in (("caller", caller), ("operator", operator)):
            if leg.hung_up or not await self.channels.exists(leg.id):
                return who
        return None

    async def converse(
        self,
        caller: CallChannel,
        operator: CallChannel,
        *,
        record_as: str | None,
        bridge_id: str | None = None,
        live: LiveCall | None = None,
    ) -> Conversation:
        """Connect the two legs until one hangs up; record when asked to. With `bridge_id`, the
        two are already talking in that bridge (a conversation picked up after a restart). With
        `live`, the desk can hold, hand over or transfer the call (ivr.acd.control): it ends
        "transfer" when the caller goes back to a queue."""
        rejoined = bridge_id is not None
        if bridge_id is None:
            bridge_id = await self.bridges.create(conversation_bridge(caller.id))
        recorded = asyncio.get_running_loop().create_future()
        caller_left: asyncio.Future[None] = asyncio.get_running_loop().create_future()

        def on_bridge(event: BridgeEvent) -> None:
            if event.kind in ("recording_finished", "recording_failed"):
                _settle(recorded, event)
            elif event.kind == "channel_left" and event.channel_id == caller.id and not _held(live):
                _settle(caller_left)  # (leaving for music on hold is not leaving the conversation)

        self.bridges.watch(bridge_id, on_bridge)
        recording: str | None = None
        try:
            if not rejoined:
                try:
                    await self.bridges.add_channels(bridge_id, [caller.id, operator.id])
                except AriError:
                    gone = await self._gone_leg(caller, operator)
                    if gone is None:
                        raise
                    return Conversation(gone, None)  # one of them hung up as they were being joined
            if record_as is not None and rejoined:
                recording = record_as  # started before the restart; still running on the bridge
            elif record_as is not None:
                try:
                    await self.bridges.record(bridge_id, record_as, fmt=self.record_format)
                    recording = record_as
                except AriError as exc:
                    log.error("call %s: recording could not start: %s", caller.id, exc)
            if live is not None:
                live.bridge_id = bridge_id  # the desk's commands may act on it from now on
            ended_by = await _until_over(caller, operator, live)
            if recording is not None:
                with contextlib.suppress(AriError):
                    await self.bridges.stop_recording(recording)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(recorded, 5)
            return Conversation(ended_by, recording)
        finally:
            try:
                with contextlib.suppress(AriError):
                    await self.bridges.destroy(bridge_id)
                # The DELETE is often answered before the caller's ChannelLeftBridge (3 of 5 in the
                # survey test); a prompt started while the caller is still leaving can be lost,
                # never finishing: the survey waits for the caller to be out first.
                if not caller.hung_up and not _held(live):  # a held caller is out of it already
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(asyncio.shield(caller_left), 5.0)
            finally:
                self.bridges.unwatch(bridge_id)
            with contextlib.suppress(CallerHungUp, AriError):
                await (operator if live is None else live.operator).hangup()


async def _until_over(caller: CallChannel, operator: CallChannel, live: LiveCall | None) -> str:
    """Who ended the conversation: "caller", "operator" (the one talking with the caller at the
    end, after any handover), or "transfer"."""
    while True:
        current = operator if live is None else live.operator
        waits: list[asyncio.Future[Any]] = [
            asyncio.ensure_future(caller.wait_gone()),
            asyncio.ensure_future(current.wait_gone()),
        ]
        if live is not None:
            waits.append(asyncio.ensure_future(live.changed.wait()))
        done, _ = await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
        for task in waits:
            task.cancel()
        if waits[0] in done:
            return "caller"
        if live is not None:
            live.changed.clear()
            if live.transfer_to is not None:
                return "transfer"
            if live.operator is not current:
                continue  # handed over to the consulted colleague: follow the new leg
        if waits[1] in done:
            return "operator"


def _held(live: LiveCall | None) -> bool:
    return live is not None and live.held_since is not None


def _settle(fut: asyncio.Future[Any], value: Any = None) -> None:
    if not fut.done():
        fut.set_result(value)
