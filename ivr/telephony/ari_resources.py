"""Channels, bridges, stored recordings and PBX housekeeping on ARI: the adapters of the
Channels, Bridges, StoredRecordings and PbxAdmin ports. The ARI paths and JSON stay in here."""

from __future__ import annotations

import builtins
import contextlib
import logging
from collections.abc import Callable, Sequence
from urllib.parse import quote

from ivr.telephony.ari import AriClient, Event
from ivr.telephony.errors import NotFound
from ivr.telephony.ports import BridgeEvent, BridgeInfo

log = logging.getLogger(__name__)

_BRIDGE_EVENTS = {
    "ChannelLeftBridge": "channel_left",
    "RecordingFinished": "recording_finished",
    "RecordingFailed": "recording_failed",
}


def _name(value: str) -> str:
    """A name as one path segment: a stray `/` or `?` in it cannot reach another resource."""
    return quote(value, safe="")


class AriChannels:
    def __init__(self, client: AriClient) -> None:
        self.client = client

    async def exists(self, channel_id: str) -> bool:
        try:
            await self.client.get(f"channels/{_name(channel_id)}")
        except NotFound:
            return False
        return True

    async def live_ids(self) -> set[str]:
        channels = await self.client.get("channels")
        return {c["id"] for c in channels or [] if isinstance(c, dict) and "id" in c}


class AriBridges:
    def __init__(self, client: AriClient) -> None:
        self.client = client

    async def create(self, name: str) -> str:
        """`proxy_media`: audio always goes through Asterisk's core, never forwarded packet to
        packet. A leg that sent keys before being bridged (the operator at home pressing 1) was
        heard by nobody once forwarded natively (measured: the caller received no audio at all),
        and a held, transferred or three-way call changes its members anyway."""
        bridge = await self.client.post("bridges", type="mixing,proxy_media", name=name)
        return str(bridge["id"])

    async def add_channels(self, bridge_id: str, channel_ids: Sequence[str]) -> None:
        await self.client.post(f"bridges/{_name(bridge_id)}/addChannel", channel=list(channel_ids))

    async def remove_channel(self, bridge_id: str, channel_id: str) -> None:
        await self.client.post(f"bridges/{_name(bridge_id)}/removeChannel", channel=channel_id)

    async def destroy(self, bridge_id: str) -> None:
        await self.client.delete(f"bridges/{_name(bridge_id)}")

    async def list(self) -> builtins.list[BridgeInfo]:
        found = await self.client.get("bridges")
        result: builtins.list[BridgeInfo] = []
        for item in found if isinstance(found, builtins.list) else []:
            if isinstance(item, dict) and isinstance(item.get("id"), str):
                channels = tuple(c for c in item.get("channels") or [] if isinstance(c, str))
                result.append(BridgeInfo(item["id"], str(item.get("name") or ""), channels))
        return result

    async def record(self, bridge_id: str, name: str, *, fmt: str) -> None:
        await self.client.post(
            f"bridges/{_name(bridge_id)}/record",
            name=name,
            format=fmt,
            ifExists="overwrite",
            beep=False,
            terminateOn="none",
        )

    async def stop_recording(self, name: str) -> None:
        await self.client.post(f"recordings/live/{_name(name)}/stop")

    def watch(self, bridge_id: str, handler: Callable[[BridgeEvent], None]) -> None:
        def on_event(event: Event) -> None:
            kind = _BRIDGE_EVENTS.get(str(event.get("type")))
            if kind is None:
                return
            channel = event.get("channel")
            channel_id = channel.get("id") if isinstance(channel, dict) else None
            handler(BridgeEvent(kind, channel_id if isinstance(channel_id, str) else None))

        self.client.route(f"bridge:{bridge_id}", on_event)

    def unwatch(self, bridge_id: str) -> None:
        self.client.unroute(f"bridge:{bridge_id}")


class AriStoredRecordings:
    def __init__(self, client: AriClient) -> None:
        self.client = client

    async def fetch(self, name: str) -> bytes:
        return await self.client.download(f"recordings/stored/{_name(name)}/file")

    async def delete(self, name: str) -> None:
        await self.client.delete(f"recordings/stored/{_name(name)}")

    async def list(self) -> builtins.list[str]:
        found = await self.client.get("recordings/stored")
        return [str(r["name"]) for r in found or [] if isinstance(r, dict) and "name" in r]


class AriPbxAdmin:
    def __init__(self, client: AriClient) -> None:
        self.client = client

    async def reload_module(self, module: str) -> None:
        await self.client.request("PUT", f"asterisk/modules/{_name(module)}")

    async def rotate_log(self, channel: str) -> None:
        await self.client.request("PUT", f"asterisk/logging/{_name(channel)}/rotate", {})

    async def remove_contact(self, contact_id: str) -> None:
        # ARI's dynamic configuration reaches the registrar's contacts (sorcery, astdb-backed),
        # which no reload touches; the engine's AMI account has no right to do this, by design.
        with contextlib.suppress(NotFound):
            await self.client.delete(f"asterisk/config/dynamic/res_pjsip/contact/{_name(contact_id)}")

    async def online_endpoints(self, tech: str) -> set[str]:
        endpoints = await self.client.get(f"endpoints/{_name(tech)}")
        return {
            str(e.get("resource"))
            for e in endpoints or []
            if isinstance(e, dict) and e.get("state") == "online" and e.get("resource") is not None
        }
