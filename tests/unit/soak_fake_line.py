"""A scripted line for the soak callers' unit tests: a fake carrier whose calls write what the
caller hears into a growing WAV (as the lab carrier's MixMonitor does) and whose scripts read the
keys the caller presses. Every prompt is a distinct burst of noise, so the caller's ear tells
them apart exactly as it tells the real prompts apart: by their openings, nothing else."""

from __future__ import annotations

import asyncio
import contextlib
import zlib
from collections.abc import Awaitable, Callable
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np

from ivr.lab.soak.callers import LinePrompts
from ivr.lab.soak.citizen import national
from ivr.lab.soak.ear import RATE
from ivr.lab.soak.kit import write_pcm16

LANGS = ("", "en")  # "" the service language (prompts_dir), "en" its subfolder


def sound(name: str) -> np.ndarray:
    rng = np.random.default_rng(zlib.crc32(name.encode()))
    return rng.normal(0, 3000, int(1.3 * RATE))


def write_wav(path: Path, samples: np.ndarray) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    return write_pcm16(path, samples)


def spoken(name: str) -> np.ndarray:
    """A prompt as the line plays it: its sound, then a little room noise (the prompt's file)."""
    quiet = np.random.default_rng(len(name)).normal(0, 30, int(0.4 * RATE))
    return np.concatenate([sound(name), quiet])


def build_prompts(root: Path) -> Path:
    """Every prompt the callers know, in both languages, as `spoken(<code>:<name>)`."""
    line = LinePrompts()
    names = [*line.names(), *line.dialogue(), line.welcome, line.language_offer, line.callback_notice]
    names += [f"digit_{d}" for d in range(10)]
    for code in LANGS:
        for name in names:
            write_wav(root / code / f"{name}.wav", spoken(f"{code}:{name}" if code else name))
    return root


class Growing:
    """What a phone hears, appended as the line plays it."""

    def __init__(self, path: Path) -> None:
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        write_wav(path, np.zeros(0))  # the 44-byte header first

    def play(self, name: str) -> None:
        with self.path.open("ab") as f:
            f.write(np.clip(spoken(name), -32768, 32767).astype("<i2").tobytes())


class FakeChannel:
    def __init__(self, ident: str, recordings: Path | None = None) -> None:
        self.id = ident
        self.hung_up = False
        self.gone = asyncio.Event()
        self.keys: asyncio.Queue[str] = asyncio.Queue()
        self.recordings = recordings
        self.recording: Growing | None = None
        self.recording_started = asyncio.Event()
        self.answered = asyncio.Event()

    async def send_dtmf(self, digits: str, **_: Any) -> None:
        for d in digits:
            self.keys.put_nowait(d)

    async def wait_gone(self) -> None:
        await self.gone.wait()

    async def hangup(self) -> None:
        self.hung_up = True
        self.gone.set()

    async def answer(self) -> None:
        self.answered.set()

    async def record(self, name: str, **_: Any) -> None:
        assert self.recordings is not None
        self.recordings.mkdir(parents=True, exist_ok=True)
        self.recording = Growing(self.recordings / f"{name}.wav")
        self.recording_started.set()
        await self.gone.wait()

    async def play(self, media: list[str]) -> None:
        await self.gone.wait()


class FakeCall:
    """What `SoakCaller` uses of a `LabCall`."""

    def __init__(self, ident: str, heard: Path) -> None:
        self.channel = FakeChannel(ident)
        self.heard_path = heard
        self.ear = Growing(heard)
        self.pressed: list[str] = []

    @property
    def ended(self) -> bool:
        return self.channel.hung_up

    async def press(self, digits: str) -> None:
        if self.ended:
            return
        self.pressed.append(digits)
        await self.channel.send_dtmf(digits)

    async def say(self, media: Any) -> None:
        await self.channel.gone.wait()

    async def hangup(self) -> None:
        await self.channel.hangup()

    async def wait_ended(self, timeout: float = 30.0) -> None:
        await asyncio.wait_for(self.channel.gone.wait(), timeout)

    async def heard(self, timeout: float = 15.0) -> Path:
        return self.heard_path

    # --- the line's side ---------------------------------------------------------------------

    def play(self, *names: str) -> None:
        for name in names:
            self.ear.play(name)

    def read_back(self, number: str, p: str = "") -> None:
        """ "The number is", its digits as the line says them (national), "confirm with 1"."""
        digits = [f"{p}digit_{d}" for d in national(number) if d.isdigit()]
        self.play(f"{p}vm_callback_is", *digits, f"{p}vm_callback_confirm")

    async def key(self, timeout: float = 5.0) -> str | None:
        try:
            return await asyncio.wait_for(self.channel.keys.get(), timeout)
        except TimeoutError:
            return None

    async def typed(self) -> str:
        out = ""
        while (k := await self.key()) not in (None, "#"):
            out += k or ""
        return out


class FakeAri:
    """The carrier's ARI as the citizen's phone uses it: a bridge of one channel, recorded."""

    def __init__(self, channel: FakeChannel) -> None:
        self.channel = channel
        self.bridges: set[str] = set()

    async def post(self, path: str, body: Any = None, **params: Any) -> Any:
        if path == "bridges":
            self.bridges.add("b1")
            return {"id": "b1"}
        if path.endswith("/record"):
            assert self.channel.recordings is not None
            self.channel.recordings.mkdir(parents=True, exist_ok=True)
            self.channel.recording = Growing(self.channel.recordings / f"{params['name']}.wav")
            self.channel.recording_started.set()
        return None

    async def delete(self, path: str, **params: Any) -> Any:
        self.bridges.discard(path.rsplit("/", 1)[-1])


class FakeRing:
    """What `answer_leg` uses of a `LabPhoneCall`: the line dialling the citizen back."""

    def __init__(self, number: str, recordings: Path) -> None:
        self.number = number
        self.channel = FakeChannel(f"ring-{number}", recordings)
        self.carrier = SimpleNamespace(client=FakeAri(self.channel))

    async def answer(self) -> None:
        await self.channel.answer()

    async def answer_recorded(self, name: str) -> Path:
        """As the lab's phone does: a recording bridge set up before the pick-up."""
        bridge = (await self.carrier.client.post("bridges"))["id"]
        await self.carrier.client.post(f"bridges/{bridge}/record", name=name)
        await self.answer()
        assert self.channel.recordings is not None
        return self.channel.recordings / f"{name}.wav"

    async def stop_recording(self) -> None:
        await self.carrier.client.delete("bridges/b1")

    async def hangup(self) -> None:
        await self.channel.hangup()

    # --- the line's side ---------------------------------------------------------------------

    async def heard_by_citizen(self, *names: str) -> None:
        await asyncio.wait_for(self.channel.recording_started.wait(), 10)
        assert self.channel.recording is not None
        for name in names:
            self.channel.recording.play(name)

    async def key(self, timeout: float = 5.0) -> str | None:
        try:
            return await asyncio.wait_for(self.channel.keys.get(), timeout)
        except TimeoutError:
            return None


Script = Callable[[FakeCall, str | None], Awaitable[None]]


class FakeInstance:
    def __init__(self, root: Path) -> None:
        self.root = root

    def host(self, kind: str) -> Path:
        path = self.root / kind
        path.mkdir(parents=True, exist_ok=True)
        return path


class FakeCarrier:
    def __init__(self, root: Path, script: Script) -> None:
        self.instance = FakeInstance(root / "spool")
        self.phones: asyncio.Queue[Any] = asyncio.Queue()
        self.script = script
        self.calls: list[FakeCall] = []
        self._tasks: list[asyncio.Task[None]] = []

    def add_voice(self, name: str, wav: Path) -> str:
        return f"sound:{name}"

    async def call(self, did: str, *, caller_number: str | None = None, answer_timeout: float = 15) -> FakeCall:
        n = len(self.calls)
        call = FakeCall(f"call-{n}", self.instance.host("spool") / "heard" / f"call-{n}.wav")
        self.calls.append(call)

        async def run() -> None:
            try:
                await self.script(call, caller_number)
            finally:
                await call.hangup()

        self._tasks.append(asyncio.ensure_future(run()))
        return call

    def ring(self, number: str) -> FakeRing:
        """The line dials `number` through the carrier."""
        ring = FakeRing(number, self.instance.host("spool") / "recording")
        self.phones.put_nowait(ring)
        return ring

    async def close(self) -> None:
        for task in self._tasks:
            if not task.done():
                task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
