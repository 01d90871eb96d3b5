"""Scripted callers that act on what the engine does (its live call notes), not on guessed timing."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from ivr.app import Engine
from ivr.callflows.bus import CallNote
from ivr.lab.carrier import LabCall, LabCarrier
from ivr.tickets.store import TicketView


class Watcher:
    """The engine's live notes about one call, so a caller can act when a prompt has played."""

    def __init__(self, queue: asyncio.Queue[CallNote], caller: str) -> None:
        self.queue = queue
        self.caller = caller
        self.seen: list[CallNote] = []

    async def _until(self, kind: str | tuple[str, ...], prompt: str | None, timeout: float) -> CallNote:
        kinds = (kind,) if isinstance(kind, str) else kind

        async def look() -> CallNote:
            while True:
                note = await self.queue.get()
                if note.caller != self.caller:
                    continue
                self.seen.append(note)
                if note.kind in kinds and (prompt is None or prompt in note.detail.get("prompts", [])):
                    return note

        try:
            return await asyncio.wait_for(look(), timeout)
        except TimeoutError:
            seen = [(n.kind, n.detail.get("prompts") or n.detail.get("node")) for n in self.seen]
            raise AssertionError(f"caller {self.caller}: no {kind} {prompt} within {timeout} s; saw {seen}") from None

    async def played(self, prompt: str, timeout: float = 40) -> CallNote:
        return await self._until("played", prompt, timeout)

    async def playing(self, prompt: str, timeout: float = 40) -> CallNote:
        return await self._until("playing", prompt, timeout)

    async def until_event(self, *kinds: str, timeout: float = 40) -> CallNote:
        """The first of these ticket events (or notes) for this call."""
        return await self._until(kinds, None, timeout)


Script = Callable[[LabCall, Watcher], Awaitable[None]]


def after(*steps: tuple[str, str | None], then: Script | None = None) -> Script:
    """For each (prompt, keys): once the engine has played that prompt, press keys (or not);
    then, if given, go on with another script."""

    async def script(call: LabCall, w: Watcher) -> None:
        for prompt, keys in steps:
            await w.played(prompt)
            if keys:
                await asyncio.sleep(0.3)  # a person reacts; the prompt has reached the caller's ear
                await call.press(keys)
        if then is not None:
            await then(call, w)

    return script


async def hang_up_at_beep(call: LabCall, w: Watcher) -> None:
    """Hears the voicemail greeting and instructions, then leaves without a word after the beep
    (the engine keeps an empty message with the caller id to call back)."""
    await w.played("vm_record_instructions", timeout=90)
    await asyncio.sleep(1.5)  # the beep, and a moment of the recording
    await call.hangup()


def hang_up_during(prompt: str, after_s: float = 1.0) -> Script:
    async def script(call: LabCall, w: Watcher) -> None:
        await w.playing(prompt)
        await asyncio.sleep(after_s)
        await call.hangup()

    return script


async def listen_only(call: LabCall, w: Watcher) -> None:
    await call.wait_ended(timeout=90)


async def place_call(engine: Engine, carrier: LabCarrier, number: str | None, script: Script) -> LabCall:
    """Call the engine, run the caller's script until the call has ended; the ticket is not read
    (the database may be away)."""
    with engine.bus.watch() as queue:
        call = await carrier.call(engine.settings.service.did, caller_number=number)
        await script(call, Watcher(queue, number or "anonymous"))
        if not call.ended:
            await call.wait_ended(timeout=90)
    return call


async def run_call(
    engine: Engine, carrier: LabCarrier, number: str | None, script: Script
) -> tuple[TicketView, LabCall]:
    """Call the engine from `number` (None: withheld), run the caller's script, and return the
    call's closed ticket (found by the caller number, which each call makes unique) and the call."""
    seen_as = number or "anonymous"
    call = await place_call(engine, carrier, number, script)
    for _ in range(200):
        tickets = await engine.store.by_caller(seen_as)
        if tickets and not tickets[0].open:
            assert len(tickets) == 1, f"{len(tickets)} tickets for caller {seen_as}"
            return tickets[0], call
        await asyncio.sleep(0.05)
    raise AssertionError(f"ticket of caller {seen_as} not closed")


choose_citizens = after(("menu_main", "1"))
citizen_to_voicemail = after(("menu_main", "1"), then=hang_up_at_beep)
"""Nobody is logged in: the citizen is told so, reaches voicemail and leaves at the beep."""
