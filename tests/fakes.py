"""Fakes behind the telephony ports, for fast unit tests of call logic (no Asterisk)."""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from ivr.prompts.library import PromptCatalog, PromptLibrary
from ivr.telephony.errors import CallerHungUp
from ivr.telephony.ports import CallerInfo, RecordingResult


@dataclass
class Script:
    """What the fake caller does: keys to press after N media plays, when to hang up."""

    keys_after_play: dict[int, str] = field(default_factory=dict)  # play index -> keys pressed during it
    hangup_on_play: int | None = None  # hang up while this play index is running
    hangup_after_s: float | None = None
    # play index -> keys pressed while the event link is down: never seen, and the channel counts
    # the outage (what an ARI socket cut does to a key pressed during it)
    keys_lost_on_play: dict[int, str] = field(default_factory=dict)


class FakeChannel:
    """A CallChannel whose caller follows a Script; plays take no time."""

    def __init__(
        self,
        channel_id: str = "fake-1",
        *,
        number: str | None = "3331234567",
        name: str | None = None,
        dialed: str = "800000039",
        script: Script | None = None,
    ) -> None:
        self._id = channel_id
        self._caller = CallerInfo(number, name, dialed)
        self.script = script or Script()
        self.played: list[list[str]] = []
        self.answered = False
        self.hangups: list[str] = []
        self._gone = asyncio.Event()
        self._digits: deque[str] = deque()
        self._digit_added = asyncio.Event()
        self.hung_up_by_caller = False
        self.moh = False
        self.recorded: list[str] = []
        self.left_recording: str | None = None  # named on the channel by an engine before this one
        self.never_started: set[str] = set()  # named by an engine before, but the PBX never began it
        self.media_left_stopped = 0  # times a takeover stopped what a dead engine left playing
        self.keys_unseen = 0
        self._lost = False

    @property
    def id(self) -> str:
        return self._id

    @property
    def caller(self) -> CallerInfo:
        return self._caller

    @property
    def hung_up(self) -> bool:
        return self._gone.is_set()

    @property
    def lost(self) -> bool:
        return self._lost

    def line_drops(self) -> None:
        """The PBX went away under the call: gone, and nobody was seen to hang up."""
        self._lost = True
        self._gone.set()
        self._digit_added.set()

    def caller_hangs_up(self) -> None:
        self.hung_up_by_caller = True
        self._gone.set()
        self._digit_added.set()

    def press(self, keys: str) -> None:
        self._digits.extend(keys)
        self._digit_added.set()

    def _check(self) -> None:
        if self._gone.is_set():
            raise CallerHungUp(self._id)

    async def answer(self) -> None:
        self._check()
        self.answered = True
        if self.script.hangup_after_s is not None:
            asyncio.get_running_loop().call_later(self.script.hangup_after_s, self.caller_hangs_up)

    async def play(self, media: Sequence[str], *, interruptible: bool = False) -> bool:
        self._check()
        if interruptible and self._digits:
            return False
        index = len(self.played)
        self.played.append(list(media))
        await asyncio.sleep(0)
        if self.script.hangup_on_play == index:
            self.caller_hangs_up()
            raise CallerHungUp(self._id)
        if index in self.script.keys_lost_on_play:
            self.keys_unseen += 1
        keys = self.script.keys_after_play.get(index)
        if keys:
            self.press(keys)
            if interruptible:
                return False
        return True

    async def next_digit(self, timeout: float) -> str | None:
        self._check()
        if not self._digits:
            self._digit_added.clear()
            try:
                await asyncio.wait_for(self._digit_added.wait(), timeout)
            except TimeoutError:
                return None
            self._check()
        return self._digits.popleft() if self._digits else None

    def clear_digits(self) -> None:
        self._digits.clear()

    async def sleep(self, seconds: float) -> None:
        self._check()
        try:
            await asyncio.wait_for(self._gone.wait(), seconds)
        except TimeoutError:
            return
        self._check()

    async def hangup(self, reason: str = "normal") -> None:
        if not self._gone.is_set():
            self.hangups.append(reason)
        self._gone.set()

    async def wait_gone(self) -> None:
        await self._gone.wait()

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
        self._check()
        self.recorded.append(name)
        return RecordingResult(name, 3.0, 2.0, "key")

    async def recording_left(self) -> str | None:
        return self.recorded[-1] if self.recorded else self.left_recording

    async def recording_known(self, name: str) -> bool:
        return name not in self.never_started

    async def stop_recording(self, name: str) -> RecordingResult:
        self.recorded.append(name)
        return RecordingResult(name, 0.0, None, "interrupted")

    async def start_moh(self, moh_class: str = "default") -> None:
        self._check()
        self.moh = True

    async def stop_moh(self) -> None:
        self._check()
        self.moh = False

    async def stop_media_left(self) -> int:
        self._check()
        self.media_left_stopped += 1
        self.moh = False
        return 0


def named_prompts(*names: str) -> PromptLibrary:
    """A prompt library whose prompts (and digits, `digit_<n>`) play as their own names under /p:
    what a fake channel records is what the caller heard, by name."""
    return PromptLibrary(
        PromptCatalog.model_validate(
            {"version": "1", "prompts": {n: n for n in names}, "counted": {"digit": {"max": 9, "texts": {"n": "{n}"}}}}
        ),
        build_dir=Path("/nonexistent"),
        custom_dir=Path("/nonexistent"),
        asterisk_dir="/p",
    )
