"""The ports the call logic talks to. Adapters: ARI (real Asterisk) and fakes (unit tests).

A call's logic never sees ARI JSON or HTTP: it sees a channel that can answer, play, collect
keys, record and hang up, and that raises CallerHungUp from any of those the moment the caller
is gone.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from ivr.subscribers import Subscribers


@dataclass(frozen=True)
class CallerInfo:
    number: str | None
    name: str | None
    dialed: str | None


@dataclass(frozen=True)
class RecordingResult:
    name: str
    duration_s: float
    talking_s: float | None
    ended_by: str  # "key", "silence", "max_duration", "hangup"


class CallChannel(Protocol):
    @property
    def id(self) -> str: ...

    @property
    def caller(self) -> CallerInfo: ...

    @property
    def hung_up(self) -> bool: ...

    @property
    def lost(self) -> bool:
        """Gone without being seen to hang up (found missing after an outage)."""
        ...

    @property
    def keys_unseen(self) -> int:
        """How many times keys pressed on this call may have been lost (the event link was down,
        or is now): a question met by silence across a change is asked again."""
        ...

    async def answer(self) -> None: ...

    async def play(self, media: Sequence[str], *, interruptible: bool = False) -> bool:
        """Play media in order; with `interruptible`, a key stops it (the key stays buffered).
        Returns True when the whole media played, False when a key cut it short."""
        ...

    async def next_digit(self, timeout: float) -> str | None:
        """The next key from the buffer, waiting up to `timeout` s; None on timeout."""
        ...

    def clear_digits(self) -> None: ...

    async def sleep(self, seconds: float) -> None:
        """Wait, but leave at once (CallerHungUp) if the caller hangs up."""
        ...

    async def hangup(self, reason: str = "normal") -> None:
        """End the call from our side; never raises if it is already gone."""
        ...

    async def wait_gone(self) -> None: ...

    async def record(
        self,
        name: str,
        *,
        max_s: int,
        max_silence_s: int = 0,
        terminate_on: str = "#",
        beep: bool = True,
        fmt: str = "wav",
    ) -> RecordingResult:
        """Record the caller into the PBX's stored recordings; a hangup ends it, not an error."""
        ...

    async def recording_left(self) -> str | None:
        """The name of the last recording started on this channel by any engine, read from the
        channel itself: an engine killed right after starting a message may never have written
        its name to the store, and a recording still live holds every prompt played after it."""
        ...

    async def recording_known(self, name: str) -> bool:
        """Does the PBX hold a recording of that name, live or finished? An engine names a
        recording before it starts it, and one stopped between the two left a name only."""
        ...

    async def stop_recording(self, name: str) -> RecordingResult:
        """End a recording of this channel started earlier (by a previous run of the engine) and
        keep what it holds; a recording already finished is simply returned."""
        ...

    async def start_moh(self, moh_class: str = "default") -> None:
        """Music on hold until stop_moh() or the next prompt."""
        ...

    async def stop_moh(self) -> None: ...

    async def stop_media_left(self) -> int:
        """Stop the prompts and music an engine that died left on this channel (a call taken
        over); returns how many prompts were stopped."""
        ...


class Telephony(Protocol):
    """The PBX as the engine uses it: inbound calls come in through `on_call`; calls found
    already in the app when the event socket (re)connects (they outlived a previous run of the
    engine, or arrived while the socket was down) through `on_adopt`."""

    on_call: Subscribers[[CallChannel, list[str]]]
    on_adopt: Subscribers[[CallChannel, list[str]]]

    async def start(self) -> None: ...

    async def stop(self) -> None: ...

    async def live_channel_ids(self) -> set[str]: ...


class Channels(Protocol):
    """The PBX's channels as a whole, by id (a call's own channel is a CallChannel)."""

    async def exists(self, channel_id: str) -> bool: ...

    async def live_ids(self) -> set[str]: ...


PbxEvent = dict[str, Any]


class PbxMonitor(Protocol):
    """The PBX's health and devices as seen over AMI."""

    async def start(self) -> None: ...

    async def stop(self) -> None: ...

    async def alive(self) -> bool: ...

    def on_event(self, pattern: str, callback: Callable[[PbxEvent], None]) -> None:
        """Call `callback` with every event whose name matches `pattern` (device changes...)."""
        ...


class Dialer(Protocol):
    async def dial(
        self, endpoint: str, *, caller_id: str | None, timeout: float, cancelled: asyncio.Event
    ) -> CallChannel:
        """Place a leg to `endpoint` (a dial string of ivr.telephony.dialstring) and return it
        once answered; DialFailed names why it was not (busy, no answer, cancelled...)."""
        ...


@dataclass(frozen=True)
class BridgeInfo:
    id: str
    name: str
    channels: tuple[str, ...]


@dataclass(frozen=True)
class BridgeEvent:
    """Something that happened in a bridge: a channel left it, its recording finished..."""

    kind: str  # "channel_left", "recording_finished", "recording_failed"
    channel_id: str | None = None


class Bridges(Protocol):
    """Mixing bridges: two legs talking, and the recording of their conversation."""

    async def create(self, name: str) -> str:
        """A new mixing bridge; returns its id."""
        ...

    async def add_channels(self, bridge_id: str, channel_ids: Sequence[str]) -> None: ...

    async def remove_channel(self, bridge_id: str, channel_id: str) -> None: ...

    async def destroy(self, bridge_id: str) -> None:
        """The PBX does not destroy an empty bridge by itself: whoever made it does."""
        ...

    async def list(self) -> list[BridgeInfo]: ...

    async def record(self, bridge_id: str, name: str, *, fmt: str) -> None:
        """Record the bridge's mix into the PBX's stored recordings as `name` (overwriting)."""
        ...

    async def stop_recording(self, name: str) -> None: ...

    def watch(self, bridge_id: str, handler: Callable[[BridgeEvent], None]) -> None:
        """Send the bridge's events to `handler` until unwatch()."""
        ...

    def unwatch(self, bridge_id: str) -> None: ...


class StoredRecordings(Protocol):
    """Recordings the PBX keeps after they finished, until the engine fetched them."""

    async def fetch(self, name: str) -> bytes: ...

    async def delete(self, name: str) -> None: ...

    async def list(self) -> list[str]: ...


class PbxAdmin(Protocol):
    """Housekeeping on the PBX: reloading a module after its config changed, rotating a log,
    reading which endpoints are reachable."""

    async def reload_module(self, module: str) -> None: ...

    async def rotate_log(self, channel: str) -> None: ...

    async def online_endpoints(self, tech: str) -> set[str]:
        """Names of the `tech` endpoints that are online (a registered phone, a reachable trunk)."""
        ...

    async def remove_contact(self, contact_id: str) -> None:
        """Drop one registered PJSIP contact (`<aor>;@<hash>`) now. Taking an endpoint out of the
        config and reloading leaves its registration in place until it expires; this does not.
        A contact already gone is not an error."""
        ...


SNOOP_ARG = "snoop"  # the app argument a snoop channel enters with: never a call to serve


class Snoops(Protocol):
    """Channels that hear another channel and may speak into it (a supervisor on a live call)."""

    async def snoop(self, channel_id: str, *, spy: str, whisper: str) -> CallChannel:
        """A new channel hearing `channel_id` in the direction `spy` ("in": what it says, "out":
        what it hears, "both", "none") and whose own audio goes to it in the direction `whisper`
        ("out": only that channel hears it; "both": it also reaches whoever that channel talks
        to). Raises CallerHungUp when `channel_id` is gone."""
        ...
