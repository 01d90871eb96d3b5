"""CallChannel on ARI: one object per channel in the Stasis app.

Every wait goes through a future owned by this object; when the channel leaves Stasis (hangup,
ChannelDestroyed, or a resync that finds it gone) all of them fail with CallerHungUp at once,
so a hangup is seen at whatever await the call happens to be in.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
from collections.abc import Sequence
from typing import Any

from ivr.telephony.ari import AriClient, Event
from ivr.telephony.errors import AriError, CallerHungUp, CallLost, NotFound
from ivr.telephony.ports import CallerInfo, RecordingResult
from ivr.text import clean

log = logging.getLogger(__name__)

# A hangup request comes before the PlaybackFinished it causes: seeing it first makes a hangup
# during the last prompt a hangup, not a prompt that finished.
_GONE_EVENTS = frozenset({"ChannelHangupRequest", "StasisEnd", "ChannelDestroyed"})
# The event that ends a wait, and where its object's key is: playbacks by id, recordings by name.
_END_EVENTS = {
    "PlaybackFinished": ("playback", "id"),
    "RecordingFinished": ("recording", "name"),
    "RecordingFailed": ("recording", "name"),
}
# A channel's playbacks are named after it, in a few slots taken in turn (not at random): an
# engine that takes a call over from one that died can name, and stop, whatever the dead one
# left playing (Asterisk lists no playbacks, and a prompt left running holds every later
# command on the channel, bridging included, until it ends). A slot comes round again only
# after PLAYBACK_SLOTS - 1 later prompts, each waited for or stopped, so it is free by then.
PLAYBACK_SLOTS = 8


class AriChannel:
    playback_probe_s = 8.0  # a prompt without news this long is asked about (see play)
    stop_wait_s = 2.0  # how long a stopped prompt's end is waited for

    def __init__(self, client: AriClient, data: dict[str, Any], *, language: str = "it") -> None:
        self._client = client
        self._id: str = data["id"]
        caller: dict[str, Any] = data["caller"] if isinstance(data.get("caller"), dict) else {}
        dialplan: dict[str, Any] = data["dialplan"] if isinstance(data.get("dialplan"), dict) else {}
        self._caller = CallerInfo(
            number=clean(caller.get("number"), 64),
            name=clean(caller.get("name"), 128),
            dialed=clean(dialplan.get("exten"), 32),
        )
        self.name: str = data.get("name", "")
        self.language = language
        self._gone = asyncio.Event()
        self.gone_cause: int | None = None
        self._resyncs = 0  # event-link outages this call lived through (keys may have been lost)
        self.lost = False  # gone unseen: found missing by a resync, not hung up before our eyes
        self._hanging_up = False  # we asked for the hangup ourselves
        self._waiters: dict[str, asyncio.Future[Event]] = {}
        self._digits: deque[str] = deque()
        self._digit_waiter: asyncio.Future[None] | None = None
        self._plays = 0  # prompts started on this channel by this engine (picks the next slot)
        self.listeners: list[Any] = []  # extra event callbacks (bridging, recording watchers)
        client.route(f"channel:{self._id}", self._on_event)

    # --- properties ---------------------------------------------------------------------------

    @property
    def id(self) -> str:
        return self._id

    @property
    def caller(self) -> CallerInfo:
        return self._caller

    @property
    def keys_unseen(self) -> int:
        return self._resyncs + (0 if self._client.connected.is_set() else 1)

    @property
    def hung_up(self) -> bool:
        return self._gone.is_set()

    # --- events -------------------------------------------------------------------------------

    def _on_event(self, event: Event) -> None:
        kind = event.get("type")
        if kind == "ChannelDtmfReceived":
            digit = event.get("digit")
            if isinstance(digit, str) and len(digit) == 1:
                self._digits.append(digit)
                self._wake_digit()
        elif kind in _END_EVENTS:
            holder, ident = _END_EVENTS[kind]
            obj = event.get(holder) or {}
            fut = self._waiters.pop(f"{holder}:{obj.get(ident)}", None)
            if fut is not None and not fut.done():
                fut.set_result(event)
        elif kind in _GONE_EVENTS and _about(event, self._id):
            # A soft hangup we did not ask for comes from Asterisk itself (shutting down, an
            # administrator): the call is lost, the caller did not leave. A resync that finds
            # the channel missing says the same.
            soft = kind == "ChannelHangupRequest" and event.get("soft") is True and not self._hanging_up
            lost = event.get("synthetic") is True or soft
            self._mark_gone(event.get("cause"), lost=lost)
        elif kind == "Resynced":
            self._resyncs += 1
            self._client.tasks.spawn(self._after_resync())
        for listener in list(self.listeners):
            listener(event)

    def _mark_gone(self, cause: Any = None, *, lost: bool = False) -> None:
        if self._gone.is_set():
            return
        if isinstance(cause, int):
            self.gone_cause = cause
        self.lost = lost
        self._gone.set()
        self._client.unroute(f"channel:{self._id}")
        for fut in self._waiters.values():
            if not fut.done():
                fut.set_exception(self._gone_error())
                fut.exception()  # nobody may be waiting any more (a stopped prompt): not an error
        self._waiters.clear()
        self._wake_digit()

    def _wake_digit(self) -> None:
        if self._digit_waiter is not None and not self._digit_waiter.done():
            self._digit_waiter.set_result(None)

    async def _after_resync(self) -> None:
        """Finish waits whose end event may have been lost while the event socket was down."""
        for key in list(self._waiters):
            kind, _, ident = key.partition(":")
            path = f"playbacks/{ident}" if kind == "playback" else f"recordings/live/{ident}"
            try:
                await self._client.get(path)
            except NotFound:
                fut = self._waiters.pop(key, None)
                if fut is not None and not fut.done():
                    fut.set_result({"type": "Resynced", "synthetic": True})
            except AriError:
                continue

    # --- guarded helpers ----------------------------------------------------------------------

    def _expect(self, key: str) -> asyncio.Future[Event]:
        fut: asyncio.Future[Event] = asyncio.get_running_loop().create_future()
        if self._gone.is_set():
            fut.set_exception(self._gone_error())
            fut.exception()
        else:
            self._waiters[key] = fut
        return fut

    def _gone_error(self) -> CallerHungUp:
        return CallLost(self._id) if self.lost else CallerHungUp(self._id)

    def _check(self) -> None:
        if self._gone.is_set():
            raise self._gone_error()

    async def _rest(self, method: str, path: str, body: Any = None, **params: Any) -> Any:
        self._check()
        try:
            return await self._client.request(method, path, params, body)
        except NotFound:
            # The channel vanished between our check and Asterisk handling the request.
            self._mark_gone()
            raise CallerHungUp(self._id) from None
        except AriError as exc:
            if exc.status == 409 and "not in Stasis" in exc.message:
                self._mark_gone()
                raise CallerHungUp(self._id) from None
            raise

    # --- CallChannel --------------------------------------------------------------------------

    async def answer(self) -> None:
        await self._rest("POST", f"channels/{self._id}/answer")

    async def send_dtmf(self, digits: str, *, between_ms: int = 150, duration_ms: int = 120) -> None:
        """Send keys to the far end (RFC 4733 on PJSIP); returns once Asterisk has sent them."""
        await self._rest("POST", f"channels/{self._id}/dtmf", dtmf=digits, between=between_ms, duration=duration_ms)

    async def start_moh(self, moh_class: str = "default") -> None:
        await self._rest("POST", f"channels/{self._id}/moh", mohClass=moh_class)

    async def stop_moh(self) -> None:
        await self._rest("DELETE", f"channels/{self._id}/moh")

    async def ring(self) -> None:
        await self._rest("POST", f"channels/{self._id}/ring")

    async def play(self, media: Sequence[str], *, interruptible: bool = False) -> bool:
        """Cancelling the awaiting task stops the audio too (an operator answered mid-prompt).
        A prompt that brings no news for `playback_probe_s` is asked about: one Asterisk no
        longer has ended with its event lost; one still queued (never started) is started
        again once. Either way the caller is not left in silence waiting for an event."""
        self._check()
        if interruptible and self._digits:
            return False  # the caller already pressed a key: do not make them listen again
        playback_id, finished = await self._start_playback(media)
        restarted = False
        try:
            while True:
                waits: list[asyncio.Future[Any]] = [finished]
                if interruptible:
                    waits.append(self._digit_future())
                done, _ = await asyncio.wait(waits, timeout=self.playback_probe_s, return_when=asyncio.FIRST_COMPLETED)
                if finished in done:
                    finished.result()  # raises CallerHungUp if that is why it ended
                    return True
                if done:
                    self._check()
                    if self._digits:
                        await self._stop_playback(playback_id, finished)
                        return False
                    continue
                state = await self._playback_state(playback_id)
                if state is None:
                    log.warning("call %s: prompt %s ended without its end event", self._id, playback_id)
                    self._waiters.pop(f"playback:{playback_id}", None)
                    self._check()
                    return True
                if state == "queued":
                    await self._stop_playback(playback_id, finished)
                    log.warning("call %s: prompt %s never started (restarted: %s)", self._id, playback_id, restarted)
                    if restarted:
                        return False
                    restarted = True
                    playback_id, finished = await self._start_playback(media)
        except asyncio.CancelledError:
            if not self._gone.is_set():
                stopping = self._stop_playback(playback_id, finished, check=False)
                self._client.tasks.spawn(stopping, name=f"stop-{playback_id}")
            raise

    async def _start_playback(self, media: Sequence[str]) -> tuple[str, asyncio.Future[Event]]:
        playback_id = self._playback_id(self._plays % PLAYBACK_SLOTS)
        self._plays += 1
        finished = self._expect(f"playback:{playback_id}")
        await self._rest("POST", f"channels/{self._id}/play/{playback_id}", media=list(media), lang=self.language)
        return playback_id, finished

    async def _playback_state(self, playback_id: str) -> str | None:
        """ "queued", "playing"...; None when Asterisk has no such playback (it has ended)."""
        try:
            found = await self._client.get(f"playbacks/{playback_id}")
        except NotFound:
            return None
        except AriError:
            return "unknown"  # Asterisk busy or restarting: ask again at the next probe
        return str(found.get("state")) if isinstance(found, dict) else "unknown"

    async def _stop_playback(self, playback_id: str, finished: asyncio.Future[Event], *, check: bool = True) -> None:
        """`check`: raise if the caller is gone by then (not for a stop left running in the
        background, where nobody is there to hear it)."""
        if not self._gone.is_set():
            # Not through _rest: a playback not found has just ended by itself, the caller is
            # still there (taken for a hangup, it ended calls at a prompt's last moment).
            with contextlib.suppress(NotFound):
                await self._client.delete(f"playbacks/{playback_id}")
        # Wait for Asterisk to confirm, so the next prompt does not overlap this one.
        with contextlib.suppress(TimeoutError, CallerHungUp):
            await asyncio.wait_for(asyncio.shield(finished), self.stop_wait_s)
        self._waiters.pop(f"playback:{playback_id}", None)
        if check:
            self._check()

    def _playback_id(self, slot: int) -> str:
        return playback_id(self._id, slot)

    async def stop_media_left(self) -> int:
        """Stop what an engine that died left on this channel: its prompts (every slot; one
        still playing ends at once, one queued behind it is cancelled) and its music on hold.
        Waits up to `stop_wait_s` for the stopped prompts to end, so that the prompts this engine
        plays next, in the same slots, are not taken for them. Returns how many were stopped."""
        self._check()
        stopping: list[asyncio.Future[Event]] = []
        for slot in range(PLAYBACK_SLOTS):
            playback_id = self._playback_id(slot)
            key = f"playback:{playback_id}"
            finished = self._expect(key)
            try:
                await self._client.delete(f"playbacks/{playback_id}")
            except NotFound:  # the slot is empty (its prompt ended): the usual case
                self._waiters.pop(key, None)
                continue
            stopping.append(finished)
        if stopping:
            log.info("channel %s: %d prompt(s) left by the previous engine stopped", self._id, len(stopping))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(asyncio.gather(*stopping, return_exceptions=True), self.stop_wait_s)
            for slot in range(PLAYBACK_SLOTS):
                self._waiters.pop(f"playback:{self._playback_id(slot)}", None)
        await self.stop_moh()  # queued after the stopped prompts; harmless when none plays
        return len(stopping)

    def _digit_future(self) -> asyncio.Future[None]:
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        if self._digits or self._gone.is_set():
            fut.set_result(None)
        self._digit_waiter = fut
        return fut

    async def next_digit(self, timeout: float) -> str | None:
        self._check()
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while not self._digits:
            remaining = deadline - loop.time()
            if remaining <= 0:
                return None
            fut = self._digit_future()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(fut, remaining)
            self._check()
        return self._digits.popleft()

    def clear_digits(self) -> None:
        self._digits.clear()

    async def sleep(self, seconds: float) -> None:
        self._check()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._gone.wait(), seconds)
        self._check()

    async def wait_gone(self) -> None:
        await self._gone.wait()

    async def hangup(self, reason: str = "normal") -> None:
        if self._gone.is_set():
            return
        self._hanging_up = True
        with contextlib.suppress(NotFound):
            await self._client.delete(f"channels/{self._id}", reason=reason)
        self._mark_gone()

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
        """Record the caller into Asterisk's stored recordings under `name`.

        A hangup does not lose the message: Asterisk keeps what was recorded and the result says
        `ended_by="hangup"` instead of raising."""
        key = f"recording:{name}"
        finished = self._expect(key)
        self.clear_digits()
        await self._rest("POST", f"channels/{self._id}/variable", variable=RECORDING_VAR, value=name)
        await self._rest(
            "POST",
            f"channels/{self._id}/record",
            name=name,
            format=fmt,
            maxDurationSeconds=max_s,
            maxSilenceSeconds=max_silence_s,
            ifExists="overwrite",
            beep=beep,
            terminateOn=terminate_on or "none",
        )
        try:
            event = await finished
        except CallerHungUp:
            return await self._recording_after_hangup(name)
        rec = event.get("recording") or {}
        ended_by = "key" if terminate_on and any(d in terminate_on for d in self._digits) else None
        self.clear_digits()
        duration = float(rec.get("duration") or 0)
        if ended_by is None:
            ended_by = "max_duration" if duration >= max_s - 1 else "silence"
        if event.get("type") == "RecordingFailed":
            ended_by = "failed"
        talking = rec.get("talking_duration")
        return RecordingResult(name, duration, float(talking) if talking is not None else None, ended_by)

    async def recording_left(self) -> str | None:
        self._check()
        try:
            found = await self._client.get(f"channels/{self._id}/variable", variable=RECORDING_VAR)
        except NotFound:  # never set (or the channel is gone: the next command says so)
            return None
        value = found.get("value") if isinstance(found, dict) else None
        return str(value) if value else None

    async def recording_known(self, name: str) -> bool:
        for where in ("live", "stored"):
            with contextlib.suppress(NotFound):
                await self._client.get(f"recordings/{where}/{name}")
                return True
        return False

    async def stop_recording(self, name: str) -> RecordingResult:
        with contextlib.suppress(NotFound):
            await self._client.post(f"recordings/live/{name}/stop")
        await self._recording_after_hangup(name)
        return RecordingResult(name, 0.0, None, "interrupted")

    async def _recording_after_hangup(self, name: str) -> RecordingResult:
        """The caller hung up while recording: Asterisk finishes the file by itself; wait until the
        recording is no longer live, so what is fetched next is complete."""
        for _ in range(50):
            try:
                await self._client.get(f"recordings/live/{name}")
            except NotFound:
                break
            except AriError:
                break
            await asyncio.sleep(0.1)
        return RecordingResult(name, 0.0, None, "hangup")

    def __repr__(self) -> str:
        return f"<AriChannel {self._id} {self.name}>"


# The channel variable naming the recording last started on a channel (see recording_left).
RECORDING_VAR = "NUL_RECORDING"


def playback_id(channel_id: str, slot: int) -> str:
    """The id of the engine's prompt in `slot` on a channel (any engine's: they name them alike)."""
    return f"{channel_id}.play{slot}"


def _about(event: Event, channel_id: str) -> bool:
    """A hangup is this channel's only if the event's own channel is this one (events also reach
    a channel as the `peer` of another, or through a playback's or recording's target)."""
    channel = event.get("channel")
    return isinstance(channel, dict) and channel.get("id") == channel_id
