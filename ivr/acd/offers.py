"""What ringing an operator can end in, shared by the queue and the dial-out guard.

Kept apart from the distributor so the dial-out rules (imported by the settings) do not depend on
the queue.
"""

from __future__ import annotations


class OfferFailed(Exception):
    """Nobody answered the leg (no answer, busy, refused, cancelled...): `cause` says which."""

    def __init__(self, cause: str) -> None:
        super().__init__(cause)
        self.cause = cause
