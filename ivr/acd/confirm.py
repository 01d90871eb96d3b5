"""An operator reached on an outside number accepts the call with a key before meeting the caller.

A home or mobile number is answered by whoever picks up: an answering machine, voicemail, a
child. Only a person who hears the topic and presses 1 is an operator who answered; anything
else (no key in time, wrong keys, hanging up) is an offer not answered, so the distributor moves
on and counts the miss as for a phone that rang out. Softphones and the desk's browser phone are
answered by the operator in person and pass straight through.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Coroutine
from typing import Any, Protocol

from ivr.acd.offers import OFFERING, OfferFailed, Offering
from ivr.telephony.dialstring import parse_carrier_leg
from ivr.telephony.errors import AriError, AriUnavailable, CallerHungUp
from ivr.telephony.ports import CallChannel
from ivr.tickets import events

log = logging.getLogger(__name__)

ACCEPT_KEY = "1"
TRIES = 2  # a wrong key gets one more chance, as a finger can slip
EventSink = Callable[[int, str, dict[str, Any]], Coroutine[Any, Any, None]]


class Prompts(Protocol):
    def media(self, name: str) -> str: ...

    def names(self) -> set[str]: ...


class Offerer(Protocol):
    async def dial(
        self, endpoint: str, *, caller_id: str | None, timeout: float, cancelled: asyncio.Event
    ) -> CallChannel: ...


class ConfirmingOfferer:
    """Wraps the queue's offerer: a carrier leg answered for a queue offer must press 1."""

    def __init__(self, inner: Offerer, prompts: Prompts, timeout_s: float, ticket_event: EventSink | None) -> None:
        self.inner = inner
        self.prompts = prompts
        self.timeout_s = timeout_s
        self.ticket_event = ticket_event

    async def dial(
        self, endpoint: str, *, caller_id: str | None, timeout: float, cancelled: asyncio.Event
    ) -> CallChannel:
        leg = await self.inner.dial(endpoint, caller_id=caller_id, timeout=timeout, cancelled=cancelled)
        offering = OFFERING.get()
        if offering is None or parse_carrier_leg(endpoint) is None:
            return leg
        try:
            attempts = await self._confirm(leg, offering, cancelled)
        except BaseException:
            with contextlib.suppress(CallerHungUp, AriError, AriUnavailable):
                await leg.hangup()
            raise
        if self.ticket_event is not None and offering.on_ticket:
            event = events.offer_confirmed(offering.operator, ACCEPT_KEY, attempts)
            await self.ticket_event(offering.ticket_id, event.kind, event.detail or {})
        return leg

    def _topic_prompt(self, topic: str | None) -> str:
        specific = f"operator_offer_{topic}"
        return specific if topic is not None and specific in self.prompts.names() else "operator_offer"

    async def _confirm(self, leg: CallChannel, offering: Offering, cancelled: asyncio.Event) -> int:
        """The number of tries it took to press 1; OfferFailed when it was not pressed."""
        topic = self.prompts.media(self._topic_prompt(offering.topic))
        try:
            for attempt in range(1, TRIES + 1):
                media = [topic] if attempt == 1 else [self.prompts.media("operator_offer_invalid"), topic]
                key = await _unless(cancelled, self._ask(leg, media))
                if key is None:
                    raise OfferFailed("not_confirmed")  # nobody there, or a machine talking
                if key == ACCEPT_KEY:
                    return attempt
                log.info("offer to %s: key %r instead of %s", offering.operator, key, ACCEPT_KEY)
            raise OfferFailed("wrong_key")
        except CallerHungUp:
            raise OfferFailed("hung_up_before_confirming") from None
        except _Cancelled:
            raise OfferFailed("cancelled") from None

    async def _ask(self, leg: CallChannel, media: list[str]) -> str | None:
        leg.clear_digits()
        await leg.play(media, interruptible=True)
        return await leg.next_digit(self.timeout_s)


class _Cancelled(Exception):
    pass


async def _unless(cancelled: asyncio.Event, work: Coroutine[Any, Any, str | None]) -> str | None:
    """Run `work` unless the caller leaves the queue first (then _Cancelled)."""
    task = asyncio.ensure_future(work)
    stop = asyncio.ensure_future(cancelled.wait())
    both: list[asyncio.Future[Any]] = [task, stop]
    try:
        await asyncio.wait(both, return_when=asyncio.FIRST_COMPLETED)
    finally:
        stop.cancel()
        if not task.done():
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
    if task.cancelled():
        raise _Cancelled
    return task.result()
