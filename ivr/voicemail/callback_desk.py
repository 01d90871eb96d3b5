"""The second level's callbacks worked by people: assigned to an operator, each attempt's result,
closed without a callback. One path for the console and `ivr voicemail ...`: the same rules (the
repository's) and the same audit entry for each (the command line left none)."""

from __future__ import annotations

from datetime import datetime

from ivr.tickets.audit import Actor, AuditSink, record
from ivr.voicemail.messages import VoicemailMessages


class CallbackDesk:
    def __init__(self, messages: VoicemailMessages, audit: AuditSink) -> None:
        self.messages = messages
        self.audit = audit

    async def assign(self, ticket_id: int, operator: str, *, at: datetime, by: Actor) -> None:
        await self.messages.assign(ticket_id, operator, at, by=by.name)
        await record(self.audit, by, "callback_assign", at, "ticket", ticket_id, operator=operator)

    async def result(
        self, ticket_id: int, result: str, *, at: datetime, operator: str | None, note: str | None, by: Actor
    ) -> int:
        """One attempt (answered, no_answer); how many so far."""
        attempts = await self.messages.callback_result(ticket_id, result, at, operator, note)
        await record(self.audit, by, "callback_result", at, "ticket", ticket_id, result=result)
        return attempts

    async def close(self, ticket_id: int, *, at: datetime, note: str | None, by: Actor) -> None:
        await self.messages.close(ticket_id, at, note)
        await record(self.audit, by, "ticket_close", at, "ticket", ticket_id)
