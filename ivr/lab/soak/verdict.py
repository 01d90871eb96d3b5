"""The checker's verdict: one result per invariant, each violation naming the tickets and callers
involved so a finding can be followed into the store and the journal."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Violation:
    detail: str
    tickets: tuple[int, ...] = ()
    callers: tuple[str, ...] = ()

    def as_dict(self) -> dict[str, Any]:
        return {"detail": self.detail, "tickets": list(self.tickets), "callers": list(self.callers)}


@dataclass
class CheckResult:
    name: str
    title: str
    violations: list[Violation] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # what was not judged, and why

    @property
    def passed(self) -> bool:
        return not self.violations

    def fail(self, detail: str, tickets: tuple[int, ...] | list[int] = (), callers: tuple[str, ...] = ()) -> None:
        self.violations.append(Violation(detail, tuple(tickets), tuple(callers)))

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "title": self.title,
            "passed": self.passed,
            "violations": [v.as_dict() for v in self.violations],
            "notes": list(self.notes),
        }
