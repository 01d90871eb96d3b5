"""This engine's part in the line as the health API reports it: active or standby, and the lease."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ivr.ha.lease import Holder


@dataclass
class LineRole:
    """Kept up to date by ivr.ha.runner; an engine started without a lease (tests, tools) is
    active with no lease to show."""

    role: str = "active"  # active | standby | fenced
    lease: str = "none"  # none | file lock | lease row
    token: int | None = None
    holder: Holder | None = None  # the active engine: this one, or the one a standby waits for
    fenced: str | None = None  # why this engine stopped driving calls

    def report(self) -> dict[str, Any]:
        return {
            "role": self.role,
            "lease": {
                "kind": self.lease,
                "token": self.token,
                "holder": self.holder.as_dict() if self.holder else None,
                "fenced": self.fenced,
            },
        }
