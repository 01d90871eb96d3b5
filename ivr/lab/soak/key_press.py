"""How late a soak caller's key came after the prompt it answered, as far as the caller can know.

The line takes a key only so long after its prompt began (`ivr.lab.soak.key_windows`), and a
caller whose ear fell behind the recording presses after that (full run 6: up to 15 s after the
consent notice began, 18 s after the survey began). The carrier's recording leaves the line's
silences out, so a prompt's place in it is not when it was played: the press is written with
bounds (`ivr.lab.soak.journal.KeyPress`) and the checker holds the line to what they allow.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass

from ivr.lab.soak.ear import RATE, Ear, Heard
from ivr.lab.soak.journal import KeyPress

Press = Callable[[str], Awaitable[None]]  # sends a key on the caller's channel


@dataclass(frozen=True)
class KeyClock:
    """What bounds a press: the ear following the recording, the loop time `origin` no later than
    the recording's first sample (a prompt at sample s began no sooner than origin + s / RATE),
    and the line's windows by prompt reference name."""

    ear: Ear
    origin: float
    windows: Mapping[str, float]

    async def press(self, send: Press, key: str, heard: Heard, next_prompt: str | None = None) -> KeyPress:
        """Send `key` in answer to `heard` and say how late it came. `next_prompt`: what the line
        asks once the window has passed with no key, which a later key answers instead."""
        loop = asyncio.get_running_loop()
        began = loop.time()
        await send(key)
        pressed = loop.time()
        played = self.ear.played_by(heard.at_sample)
        at_most = pressed - self.origin - heard.at_sample / RATE  # the prompt came no sooner
        at_least = began - played if played is not None else 0.0
        return KeyPress(
            key=key,
            prompt=heard.name,
            at_least_s=round(at_least, 2),
            at_most_s=round(max(at_most, at_least), 2),
            window_s=self.windows.get(heard.name),
            next_prompt=next_prompt,
        )
