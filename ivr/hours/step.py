"""The `hours` node: open lines go on; closed ones say why and go to the closed route."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import datetime
from typing import Protocol

from ivr.callflows.model import HoursNode
from ivr.callflows.session import CallContext
from ivr.hours.calendar import Closure, LineCalendar, LineState
from ivr.tickets import events

log = logging.getLogger(__name__)


class ClosureSource(Protocol):
    async def active(self, now: datetime) -> Sequence[Closure]: ...


class HoursStep:
    def __init__(self, calendar: LineCalendar, closures: ClosureSource | None = None) -> None:
        self.calendar = calendar
        self.closures = closures

    async def __call__(self, ctx: CallContext, node: HoursNode) -> str:
        now = ctx.clock.now()
        extra = await self.closures.active(now) if self.closures is not None else ()
        status = self.calendar.status(now, extra, with_next=False)
        closure = status.closure
        await ctx.store.update(ctx.ticket_id, line_state=str(status.state), closure_id=closure.id if closure else None)
        await ctx.event(
            events.line_status(
                state=str(status.state),
                local_time=status.at.isoformat(timespec="seconds"),
                holiday=status.holiday,
                closure=closure.id if closure else None,
                reason=closure.reason if closure else None,
            )
        )
        if status.open:
            return node.open
        ctx.closed_reason = str(status.state)
        if status.state is LineState.CLOSURE and closure is not None:
            if closure.media:
                await ctx.play_media([closure.media], [closure.id])
            else:
                await ctx.say(closure.prompt or node.closure_prompt)
        elif status.state is LineState.HOLIDAY:
            await ctx.say(node.holiday_prompt)
        else:
            await ctx.say(node.outside_hours_prompt)
        return node.closed
