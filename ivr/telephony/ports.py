"""The ports the call logic talks to. Adapters: ARI (real Asterisk) and fakes (unit tests).

A call's logic never sees ARI JSON or HTTP: it sees a channel that can answer, play, collect
keys, record and hang up, and that raises CallerHungUp from any of those the moment the caller
is gone.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Protocol


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

    async def stop_recording(self, name: str) -> RecordingResult:
        """End a recording of this channel started earlier (by a previous run of the engine) and
        keep what it holds; a recording already finished is simply returned."""
        ...

    async def start_moh(self, moh_class: str = "default") -> None:
        """Music on hold until stop_moh() or the next prompt."""
        ...

    async def stop_moh(self) -> None: ...


CallHandler = Callable[[CallChannel, list[str]], Awaitable[None] | None]


class Telephony(Protocol):
    """The PBX as the engine uses it: inbound calls come in through `on_call`."""

    on_call: CallHandler | None

    async def start(self) -> None: ...

    async def stop(self) -> None: ...

    async def live_channel_ids(self) -> set[str]: ...


class PbxMonitor(Protocol):
    """The PBX's health and devices as seen over AMI."""

    async def start(self) -> None: ...

    async def stop(self) -> None: ...

    async def alive(self) -> bool: ...
