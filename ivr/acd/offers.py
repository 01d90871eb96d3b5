"""What ringing an operator can end in, shared by the queue and the dial-out guard.

Kept apart from the distributor so the dial-out rules (imported by the settings) do not depend on
the queue.
"""

from __future__ import annotations

from contextvars import ContextVar
from dataclasses import dataclass


class OfferFailed(Exception):
    """Nobody answered the leg (no answer, busy, refused, cancelled...): `cause` says which."""

    def __init__(self, cause: str) -> None:
        super().__init__(cause)
        self.cause = cause


@dataclass(frozen=True)
class Offering:
    """The queue call an offer is for, as the leg being placed sees it (see OFFERING)."""

    ticket_id: int
    topic: str | None
    operator: str
    # A supervisor rung to follow the call confirms like a colleague, but their key is not a
    # step of the call: the session is in the audit log (ivr.supervision), not on the ticket.
    on_ticket: bool = True


# Set by the distributor inside each offer's own task, so the wrappers of the offerer (the
# outside-number confirmation) know the call's topic and ticket without every dialer in between
# (the dial-out guard, the callbacks' dialer) growing parameters. Unset: not a queue offer (a
# citizen called back), so nothing is asked of whoever answers.
OFFERING: ContextVar[Offering | None] = ContextVar("offering", default=None)
