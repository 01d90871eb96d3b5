"""A lab carrier: a second Asterisk that places real SIP calls to the engine, as a telecom would.

Used by the tests, the benchmarks and `ivr lab call`. Each call records what the caller heard
(MixMonitor, received direction only), can speak a WAV, press RFC 4733 keys and hang up, and
reports when the engine starts and stops talking (TALK_DETECT), so scripts can follow the
prompts instead of guessing their timing.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import shutil
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ivr.asterisk.instance import AsteriskInstance, Ports
from ivr.asterisk.root import AsteriskRoot
from ivr.telephony.ari import AriClient, Event
from ivr.telephony.ari_channel import AriChannel
from ivr.telephony.ari_resources import AriBridges
from ivr.telephony.errors import AriError, AriUnavailable, CallerHungUp

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class CarrierLayout:
    name: str
    host: str  # the carrier's own address (the engine identifies the trunk by it)
    sip_port: int
    ari_port: int
    rtp: tuple[int, int]
    engine_host: str
    engine_sip_port: int
    password: str
    codecs: tuple[str, ...] = ("alaw", "ulaw")
    app: str = "lab"


class LabCarrier:
    def __init__(self, root: AsteriskRoot, templates: list[Path], layout: CarrierLayout) -> None:
        self.layout = layout
        self.instance = AsteriskInstance(root, layout.name, templates)
        self.client = AriClient(
            f"http://{layout.host}:{layout.ari_port}",
            layout.app,
            "lab",
            layout.password,
            heartbeat_s=5,
            request_timeout_s=10,
        )
        self.client.on_start.subscribe(self._on_start)
        self._pending: dict[str, asyncio.Future[AriChannel]] = {}
        self.phones: asyncio.Queue[LabPhoneCall] = asyncio.Queue()
        self._phone_rules: dict[str, dict[str, Any]] = {}

    # --- process ------------------------------------------------------------------------------

    def start(self, *, daemon: bool = False) -> None:
        lay = self.layout
        self.instance.render(
            {
                "host": lay.host,
                "language": "it",
                "max_calls": 0,
                "ari": {"port": lay.ari_port, "username": "lab", "password": lay.password, "app": lay.app},
                "ami": {"port": 0, "username": "lab", "password": lay.password},
                "ami_permit": "127.0.0.1/255.255.255.255",
                "sip": {"bind": lay.host, "port": lay.sip_port, "rtp_start": lay.rtp[0], "rtp_end": lay.rtp[1]},
                "engine_sip": {"host": lay.engine_host, "port": lay.engine_sip_port},
                "codecs": list(lay.codecs),
                "talk_silence_ms": 1000,  # pauses between sentences are not the end of a prompt
                "talk_threshold": 256,
                "extra_modules": ["app_senddtmf.so"],
            }
        )
        for sub in ("heard", "voices"):
            (self.instance.host("spool") / sub).mkdir(parents=True, exist_ok=True)
        ports = Ports(sip=(lay.host, lay.sip_port), http=(lay.host, lay.ari_port), ami=(lay.host, 0), rtp=lay.rtp)
        self.instance.start(ports, daemon=daemon)

    def stop(self) -> None:
        self.instance.stop()

    async def connect(self, timeout: float = 10.0) -> None:
        await self.client.start()
        await self.client.wait_connected(timeout)

    async def close(self) -> None:
        await self.client.close()

    # --- voices -------------------------------------------------------------------------------

    def add_voice(self, name: str, wav: Path) -> str:
        """Make a WAV (8 kHz mono 16-bit) playable by callers; returns its media URI."""
        target = self.instance.host("spool") / "voices" / f"{name}.wav"
        shutil.copyfile(wav, target)
        return f"sound:{self.instance.inner('spool')}/voices/{name}"

    # --- calls --------------------------------------------------------------------------------

    async def call(
        self,
        did: str,
        *,
        caller_number: str | None = "3331234567",
        caller_name: str | None = None,
        answer_timeout: float = 15.0,
        withheld: bool = False,
    ) -> LabCall:
        """Dial the engine; returns once the engine has answered (the call is in progress)."""
        tag = uuid.uuid4().hex[:12]
        heard = f"{self.instance.inner('spool')}/heard/{tag}.wav"
        mix = f"{self.instance.inner('spool')}/heard/{tag}-mix.wav"
        fut: asyncio.Future[AriChannel] = asyncio.get_running_loop().create_future()
        self._pending[tag] = fut
        caller_id = _caller_id(caller_number, caller_name)
        variables: dict[str, str] = {"HEARD": heard, "HEARD_MIX": mix, "LAB_TAG": tag}
        if withheld:
            variables["CALLERID(pres)"] = "prohib"
        try:
            await self.client.post(
                "channels",
                body={"variables": variables},
                endpoint=f"PJSIP/{did}@engine",
                context="caller",
                extension="call",
                priority=1,
                callerId=caller_id,
                timeout=int(answer_timeout),
            )
            channel = await asyncio.wait_for(fut, answer_timeout + 2)
        except TimeoutError:
            raise CallNotAnswered(f"the engine did not answer {did} within {answer_timeout:.0f} s") from None
        finally:
            self._pending.pop(tag, None)
        return LabCall(self, channel, tag, self.instance.host("spool") / "heard" / f"{tag}.wav")

    def forget_rings(self) -> int:
        """Drop every outside-number ring nobody took (hung up when an event loop runs here): a
        ring a test left behind would be the next test's first ring, a channel long gone by the
        time it is answered. Callable from synchronous code (a test's setup)."""
        try:
            loop: asyncio.AbstractEventLoop | None = asyncio.get_running_loop()
        except RuntimeError:
            loop = None
        forgotten = 0
        while not self.phones.empty():
            ring = self.phones.get_nowait()
            if loop is not None:
                self.client.tasks.spawn(ring.hangup())
            forgotten += 1
        return forgotten

    def _on_start(self, event: Event) -> None:
        args = [str(a) for a in event.get("args") or []]
        data = event.get("channel") or {}
        if len(args) >= 2 and args[0] == "caller":
            fut = self._pending.get(args[1])
            if fut is not None and not fut.done():
                fut.set_result(AriChannel(self.client, data, language="it"))
                return
        if len(args) >= 2 and args[0] == "phone":
            self.phones.put_nowait(LabPhoneCall(self, AriChannel(self.client, data), args[1]))
            return
        log.warning("lab: unexpected channel %s with args %s; hanging up", data.get("id"), args)
        self.client.tasks.spawn(self.client.delete(f"channels/{data.get('id')}"))


class CallNotAnswered(Exception):
    pass


class _Talking:
    """Tracks when the far end (the engine) is sending speech, from TALK_DETECT events."""

    def __init__(self, channel: AriChannel) -> None:
        self.talking = False
        self.changed = asyncio.Event()
        channel.listeners.append(self._on_event)

    def _on_event(self, event: Event) -> None:
        kind = event.get("type")
        if kind == "ChannelTalkingStarted":
            self.talking = True
        elif kind == "ChannelTalkingFinished":
            self.talking = False
        else:
            return
        self.changed.set()

    async def wait_for(self, talking: bool, timeout: float) -> None:
        async def until() -> None:
            while self.talking != talking:
                self.changed.clear()
                await self.changed.wait()

        await asyncio.wait_for(until(), timeout)


class LabCall:
    """A call from the lab carrier to the engine, as the caller experiences it."""

    def __init__(self, carrier: LabCarrier, channel: AriChannel, tag: str, heard: Path) -> None:
        self.carrier = carrier
        self.channel = channel
        self.tag = tag
        self.heard_path = heard
        self._talk = _Talking(channel)

    @property
    def ended(self) -> bool:
        return self.channel.hung_up

    async def wait_prompt(self, timeout: float = 15.0, *, quiet_s: float = 0.8) -> None:
        """Wait until the engine starts speaking, then until it stops (one prompt heard).

        Talk detection sees the end of speech only in silent audio, and between prompts (the
        wait for a key) the engine's Asterisk sends no audio at all: `ivr lab call --digits 1`
        waited out its whole time limit for a prompt end that never came. So audio that stops
        coming for `quiet_s` ends the prompt too (the channel's RTP receive count stands still)."""
        await self._talk.wait_for(True, timeout)
        ended = asyncio.ensure_future(self._talk.wait_for(False, timeout))
        stopped = asyncio.ensure_future(self._audio_stops(quiet_s))
        try:
            done, _ = await asyncio.wait((ended, stopped), timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in (ended, stopped):
                task.cancel()
        if not done:
            raise TimeoutError(f"the engine was still talking after {timeout:.0f} s")
        for task in done:
            if not task.cancelled() and task.exception() is not None and not isinstance(task.exception(), TimeoutError):
                raise task.exception()  # type: ignore[misc]

    async def _audio_stops(self, quiet_s: float, poll_s: float = 0.2) -> None:
        last, still = -1, 0.0
        while still < quiet_s:
            stats = await self.carrier.client.get(f"channels/{self.channel.id}/rtp_statistics")
            count = int(stats.get("rxcount", 0)) if isinstance(stats, dict) else 0
            still = still + poll_s if count == last else 0.0
            last = count
            await asyncio.sleep(poll_s)

    async def press(self, digits: str, *, between_ms: int = 150, duration_ms: int = 120) -> None:
        await self.channel.send_dtmf(digits, between_ms=between_ms, duration_ms=duration_ms)

    async def say(self, media: Sequence[str] | str) -> None:
        await self.channel.play([media] if isinstance(media, str) else list(media))

    async def hangup(self) -> None:
        await self.channel.hangup()

    async def open_line(self) -> None:
        """Send silence until the next `say`, as a real phone sends audio all the time: the lab's
        caller otherwise sends nothing between its phrases, and a two-party bridge then writes
        nothing to the operator (measured: a supervisor's whisper to the operator, which rides on
        what is written to them, never reached them). A `say` stops it; ask again after."""
        await self.carrier.client.post(f"channels/{self.channel.id}/silence")

    async def wait_ended(self, timeout: float = 30.0) -> None:
        """Wait for the engine to end the call."""
        await asyncio.wait_for(self.channel.wait_gone(), timeout)

    async def heard(self, timeout: float = 15.0) -> Path:
        """The recording of what the caller heard, once MixMonitor has finished writing it (it
        marks the end with a `.done` file). A file that merely stopped growing is not enough: on
        a busy machine MixMonitor can pause for longer than a poll and a partial file was taken.

        Polls a fixed number of times rather than against the wall clock: a busy event loop (a
        test analysing audio) must not turn a slow poll into a missing recording."""
        if not self.ended:
            raise RuntimeError("the call is still up; hang up or wait_ended() first")
        interval = 0.2
        done = self.heard_path.with_name(self.heard_path.name + ".done")
        for _ in range(max(2, int(timeout / interval))):
            if done.exists() and self.heard_path.exists():
                return self.heard_path
            await asyncio.sleep(interval)
        raise FileNotFoundError(f"no complete recording of what the caller heard at {self.heard_path}")


class LabPhoneCall:
    """A call the engine placed to an outside number that the lab answers (a home phone)."""

    def __init__(self, carrier: LabCarrier, channel: AriChannel, number: str) -> None:
        self.carrier = carrier
        self.channel = channel
        self.number = number
        self._confirming: asyncio.Future[None] | None = None
        self._bridge: str | None = None

    async def answer(self) -> None:
        await self.channel.answer()

    async def answer_recorded(self, name: str) -> Path:
        """Pick up with everything heard recorded from the first word; returns the recording's path.

        The line begins a callback's notice the moment the phone is answered: a recording started
        after the answer missed its opening, and on a loaded machine (a CI run) the whole notice.
        So the phone goes into a bridge that is already recording before it is picked up. A bridge,
        not the channel: a channel's recording holds the channel's other commands (keys sent during
        it would go out only after it). `stop_recording` (or `hangup`) ends it."""
        bridges = AriBridges(self.carrier.client)
        self._bridge = await bridges.create(f"lab-{name}")
        await bridges.record(self._bridge, name, fmt="wav")
        await bridges.add_channels(self._bridge, [self.channel.id])
        await self.answer()
        return self.carrier.instance.host("spool") / "recording" / f"{name}.wav"

    async def speak(self, media: str, seconds: float) -> None:
        """Say `media` down the line for `seconds`. Picked up with `answer_recorded`, it is played
        into the recording bridge: a playback on the channel itself took it out of the bridge's
        recording (measured: the recording ended where the phone began to speak)."""
        if self._bridge is None:
            await self.channel.play([media])
            return
        await self.carrier.client.post(f"bridges/{self._bridge}/play", media=media)
        await asyncio.sleep(seconds)

    async def stop_recording(self) -> None:
        """End the recording `answer_recorded` began (destroying its bridge closes the file)."""
        bridge, self._bridge = self._bridge, None
        if bridge is not None:
            await AriBridges(self.carrier.client).destroy(bridge)

    async def take_offer(self, after_s: float = 1.0, key: str = "1") -> None:
        """Answer as an operator at home does: pick up, hear the topic begin, press 1 (the
        engine connects an outside number only after the key). Returns once picked up; the key
        follows in the background."""
        await self.answer()
        self._confirming = asyncio.ensure_future(self._press_later(key, after_s))

    async def _press_later(self, key: str, after_s: float) -> None:
        with contextlib.suppress(CallerHungUp):
            await self.channel.sleep(after_s)
            await self.channel.send_dtmf(key)

    async def hangup(self) -> None:
        with contextlib.suppress(CallerHungUp):
            await self.channel.hangup()
        with contextlib.suppress(AriError, AriUnavailable):
            await self.stop_recording()


def _caller_id(number: str | None, name: str | None) -> str:
    if number is None:
        return '"Anonymous" <anonymous>'  # what carriers deliver for a withheld number
    return f'"{name}" <{number}>' if name else number
