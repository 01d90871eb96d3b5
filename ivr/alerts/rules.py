"""What is wrong now, from one reading of the line: pure, so every threshold is tested without a
line, and the watch (`ivr.alerts.watch`) only reads, compares and tells."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal

from ivr.alerts.config import Above, AlertSettings, Below

Level = Literal["amber", "red"]
KINDS = ("longest_wait", "service_level", "paused", "wrap_up", "cap", "commitment", "voicemail")
RANK: dict[str, int] = {"amber": 1, "red": 2}
COMMITMENTS = {
    "phone_callback": "richiamate di secondo livello (10 giorni)",
    "web_reply": "risposte alle richieste web (48 ore)",
    "web_second": "risposte e-mail di secondo livello (10 giorni)",
}


@dataclass(frozen=True)
class OperatorNow:
    login: str
    name: str
    state: str  # ivr.acd.agents.AgentState's value
    since_s: float
    reason: str | None = None  # a pause's reason


@dataclass(frozen=True)
class Unheard:
    """The oldest message in the voicemail boxes that nobody has listened to yet."""

    ticket_id: int
    age_s: float


@dataclass(frozen=True)
class Reading:
    at: datetime
    longest_wait_s: float  # callers on the line, not booked callbacks
    operators: list[OperatorNow]
    admitted: int  # today, against the daily cap
    cap: int
    hour_admitted: int  # admitted in the last hour whose wait is over
    hour_in_level: int  # of those, answered within the service level's seconds
    commitments: dict[str, tuple[int, int]] = field(default_factory=dict)  # kind -> (near, overdue), open ones
    unheard: Unheard | None = None
    store_stale: str | None = None  # why the store's figures are the last known, not current


@dataclass(frozen=True)
class Alert:
    key: str  # stable while the condition lasts: "paused:anna", "commitment:web_reply"
    kind: str  # longest_wait, service_level, paused, wrap_up, cap, commitment, voicemail
    level: Level
    text: str
    link: str | None = None  # a console page that shows it

    def as_dict(self) -> dict[str, str | None]:
        return {"key": self.key, "kind": self.kind, "level": self.level, "text": self.text, "link": self.link}


def above(value: float, limits: Above) -> Level | None:
    if limits.red is not None and value >= limits.red:
        return "red"
    if limits.amber is not None and value >= limits.amber:
        return "amber"
    return None


def below(value: float, limits: Below) -> Level | None:
    if limits.red is not None and value < limits.red:
        return "red"
    if limits.amber is not None and value < limits.amber:
        return "amber"
    return None


def duration(seconds: float) -> str:
    """ "1 h 05 min", "12 min 30 s", "45 s": read at a glance across the room."""
    s = int(seconds)
    if s >= 3600:
        return f"{s // 3600} h {s % 3600 // 60:02d} min"
    if s >= 60:
        return f"{s // 60} min {s % 60:02d} s"
    return f"{s} s"


def evaluate(r: Reading, c: AlertSettings, say: Callable[[str], str] = str) -> list[Alert]:
    """Every alert the reading raises, red first, then in the order a supervisor acts on them;
    `say` words a pause's reason code as the console does."""
    found: list[Alert] = []

    def add(level: Level | None, key: str, kind: str, text: str, link: str | None = None) -> None:
        if level is not None:
            found.append(Alert(key, kind, level, text, link))

    add(above(r.longest_wait_s, c.longest_wait_s), "longest_wait", "longest_wait",
        f"Un cittadino attende in coda da {duration(r.longest_wait_s)}", "/console/wallboard")  # fmt: skip
    if r.hour_admitted >= c.service_level_min_calls:
        share = r.hour_in_level / r.hour_admitted
        add(below(share, c.service_level), "service_level", "service_level",
            f"Livello di servizio dell'ultima ora al {share:.0%} ({r.hour_in_level} risposte in tempo su "
            f"{r.hour_admitted} chiamate ammesse)", "/console/stats")  # fmt: skip
    for op in r.operators:
        who = f"{op.name} ({op.login})" if op.name else op.login
        if op.state == "paused":
            why = f", motivo: {say(op.reason)}" if op.reason else ""
            limits = c.pause_reasons_s.get(op.reason or "", c.paused_s)
            add(above(op.since_s, limits), f"paused:{op.login}", "paused",
                f"{who} in pausa da {duration(op.since_s)}{why}", "/console/operators/time")  # fmt: skip
        elif op.state == "wrap_up":
            add(above(op.since_s, c.wrap_up_s), f"wrap_up:{op.login}", "wrap_up",
                f"{who} chiude la pratica da {duration(op.since_s)}", "/console/operators/time")  # fmt: skip
    if r.cap > 0:
        add(above(r.admitted / r.cap, c.cap_share), "cap", "cap",
            f"Ammesse oggi {r.admitted} chiamate su {r.cap} del limite giornaliero", "/console/wallboard")  # fmt: skip
    if c.commitments:
        for kind, (near, overdue) in sorted(r.commitments.items()):
            what = COMMITMENTS.get(kind, kind)
            if overdue:
                add("red", f"commitment:{kind}", "commitment", f"{what}: {overdue} scadute, {near} in scadenza",
                    "/console/tickets?sla=overdue")  # fmt: skip
            elif near:
                add("amber", f"commitment:{kind}", "commitment", f"{what}: {near} in scadenza",
                    "/console/tickets?sla=near")  # fmt: skip
    if r.unheard is not None:
        add(above(r.unheard.age_s / 60, c.voicemail_unheard_min), "voicemail", "voicemail",
            f"Un messaggio in segreteria attende l'ascolto da {duration(r.unheard.age_s)} "
            f"(pratica #{r.unheard.ticket_id})", f"/console/tickets/{r.unheard.ticket_id}")  # fmt: skip
    return sorted(found, key=lambda a: -RANK[a.level])
