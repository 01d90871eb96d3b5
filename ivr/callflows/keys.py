"""Collecting keys from a caller: first-key, inter-digit and total timeouts, `#` to finish."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterable

from ivr.telephony.ports import CallChannel


async def collect(
    channel: CallChannel,
    *,
    max_len: int,
    first_timeout: float,
    inter_timeout: float,
    total_timeout: float,
    complete: Callable[[str], bool] = lambda _entry: False,
    terminator: str = "#",
    monotonic: Callable[[], float],
) -> str | None:
    """Keys typed so far when the entry is complete, `#` is pressed, `max_len` keys arrived or a
    timeout ran out; None when nothing at all was typed before the first-key timeout."""
    started = monotonic()
    first = await channel.next_digit(min(first_timeout, total_timeout))
    if first is None:
        return None
    if first == terminator:
        return ""
    entry = first
    while len(entry) < max_len and not complete(entry):
        remaining = total_timeout - (monotonic() - started)
        if remaining <= 0:
            break
        key = await channel.next_digit(min(inter_timeout, remaining))
        if key is None or key == terminator:
            break
        entry += key
    return entry


async def one_key(channel: CallChannel, timeout: float, monotonic: Callable[[], float]) -> str | None:
    """A single key (a yes/no, a score): None when nothing comes within `timeout`."""
    return await collect(
        channel, max_len=1, first_timeout=timeout, inter_timeout=1, total_timeout=timeout, monotonic=monotonic
    )


async def answer(
    channel: CallChannel, ask: Callable[[], Awaitable[object]], timeout: float, monotonic: Callable[[], float]
) -> str | None:
    """A single key after `ask` (a notice, a question). A silence while the event link was down
    may be a key pressed and never seen (the soak's ARI cut stored three refusals as no answer):
    the question is asked once more before the silence counts."""
    for _ in range(2):
        unseen = channel.keys_unseen
        await ask()
        key = await one_key(channel, timeout, monotonic)
        if key is not None or channel.keys_unseen == unseen:
            return key
    return None


def is_complete_choice(options: Iterable[str]) -> Callable[[str], bool]:
    """An entry is complete as soon as no longer option starts with it (single-key menus answer
    at the first key; '1' waits for '12' only if an option '12' exists)."""
    keys = list(options)

    def complete(entry: str) -> bool:
        return not any(k != entry and k.startswith(entry) for k in keys)

    return complete


async def settle(channel: CallChannel, *, quiet_s: float = 1.0, limit_s: float = 6.0) -> int:
    """Drop keys until the line has been quiet for `quiet_s` (for at most `limit_s` in all);
    returns how many were dropped. After a wrong key, the rest of a burst (a flood, a key held
    down, a caller hammering the keypad) must not answer the re-prompt as well."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + limit_s
    dropped = 0
    channel.clear_digits()
    while (left := deadline - loop.time()) > 0:
        if await channel.next_digit(min(quiet_s, left)) is None:
            break
        dropped += 1
        channel.clear_digits()
    return dropped
