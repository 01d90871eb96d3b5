"""The caller dialogues the flow's steps share: which number to call the citizen back on (the
caller id, confirmed by a key, or typed in), for voicemail, the queue's callback and any step
that needs one. (Yes/no answers to a question are `ivr.callflows.keys.answer`.)

Read back digit by digit in Italian ("tre, tre, tre..."), so a mistake is heard and corrected
before the call ends, not discovered by the operator ten days later. Only a number the engine
may dial out (`dialout:`) is accepted: a premium or foreign caller id is not offered back, and
a typed one is refused on the spot ("the number is not valid") and asked again, because the
caller is still on the line to give another one; an operator finding it ten days later cannot.
"""

from __future__ import annotations

import re
from typing import Protocol

from ivr.callflows.facts import CallbackNumber
from ivr.callflows.keys import collect, one_key, settle
from ivr.callflows.session import CallContext
from ivr.dialout.config import DialoutSettings
from ivr.dialout.guard import NumberRefused, check
from ivr.tickets import events

CONFIRMED, TYPED, CALLER_ID, NONE = "confirmed", "typed", "caller_id", "none"


class NumberRules(Protocol):
    """What the number dialogue needs of its settings (the voicemail's section carries them)."""

    @property
    def number_min_digits(self) -> int: ...
    @property
    def number_max_digits(self) -> int: ...
    @property
    def attempts(self) -> int: ...
    @property
    def key_timeout_s(self) -> float: ...


def usable(number: str | None, settings: NumberRules, dialout: DialoutSettings | None = None) -> str | None:
    """A number worth calling back: digits only (a leading + kept), a plausible length, and one
    the engine may dial out (`dialout.allowed_prefixes`)."""
    return None if refusal(number, settings, dialout) else (number or "").strip()


def refusal(number: str | None, settings: NumberRules, dialout: DialoutSettings | None = None) -> str | None:
    """Why the number cannot be a callback number, or None when it can."""
    if not number:
        return "empty"
    cleaned = number.strip()
    if not re.fullmatch(r"\+?[0-9]+", cleaned):
        return "not digits"
    digits = cleaned.lstrip("+")
    if not settings.number_min_digits <= len(digits) <= settings.number_max_digits:
        return "length"
    try:
        check(cleaned, dialout or DialoutSettings())
    except NumberRefused as exc:
        return exc.reason
    return None


async def ask_callback_number(
    ctx: CallContext, settings: NumberRules, dialout: DialoutSettings | None = None
) -> CallbackNumber:
    """Confirm the caller id, or have a number typed; a hangup keeps the caller id unconfirmed."""
    candidate = usable(ctx.channel.caller.number, settings, dialout)
    fallback = CallbackNumber(candidate, CALLER_ID if candidate else NONE)
    ctx.facts.callback = fallback
    for attempt in range(settings.attempts):
        if candidate is None:
            candidate = await _typed(ctx, settings, dialout)
            if candidate is None:
                continue
            source = TYPED
        else:
            source = CONFIRMED if attempt == 0 and fallback.source == CALLER_ID else TYPED
        choice = await _confirm(ctx, candidate, settings, dialout)
        if choice == "1":
            result = CallbackNumber(candidate, source)
            ctx.facts.callback = result
            return result
        if choice is None and source == CONFIRMED:
            return fallback  # no answer: keep the caller id, not confirmed
        candidate = None  # "2" or anything else: type another one
    return fallback


async def _typed(ctx: CallContext, settings: NumberRules, dialout: DialoutSettings | None) -> str | None:
    ctx.channel.clear_digits()
    await ctx.say("vm_callback_enter", interruptible=True)
    entry = await collect(
        ctx.channel,
        max_len=settings.number_max_digits + 1,
        first_timeout=settings.key_timeout_s * 2,
        inter_timeout=settings.key_timeout_s,
        total_timeout=settings.key_timeout_s * 6,
        monotonic=ctx.clock.monotonic,
    )
    typed = entry.replace("*", "") if entry else None
    why = refusal(typed, settings, dialout)
    if why is not None:
        await ctx.event(events.callback_number_invalid(entry, why))
        await ctx.say("vm_callback_invalid")
        await settle(ctx.channel)  # the rest of a burst of keys is not the next number typed
        return None
    return (typed or "").strip()


def spoken_number(number: str, dialout: DialoutSettings | None) -> str:
    """The number as the caller would write it down: national for the service's country. A
    caller id arrives as +39 3xx...; read digit by digit, "tre nove tre..." is a number no
    Italian citizen recognises as theirs (the soak's callers heard two digits too many)."""
    try:
        return check(number, dialout or DialoutSettings())
    except NumberRefused:
        return number


async def _confirm(ctx: CallContext, number: str, settings: NumberRules, dialout: DialoutSettings | None) -> str | None:
    ctx.channel.clear_digits()
    spoken = [ctx.prompts.counted("digit", int(d)) for d in spoken_number(number, dialout) if d.isdigit()]
    await ctx.say("vm_callback_is", *spoken, "vm_callback_confirm", interruptible=True)
    return await one_key(ctx.channel, settings.key_timeout_s, ctx.clock.monotonic)
