"""How a supervisor is on a conversation, as snoop directions on one of its two channels.

A snoop hears its channel `spy` ("in": what the channel says, "out": what it hears) and speaks
into it `whisper` ("out": only that channel's phone hears it; "both": its voice also goes where
the channel's own voice goes). So listening hears the caller both ways (the caller and what the
caller hears: the operator); coaching hears the operator both ways and whispers to their phone
alone; joining speaks into the caller's channel both ways, so the caller hears the supervisor
and the conversation's bridge carries the supervisor to the operator like the caller's voice.
None of them changes the conversation's bridge, its members or its recording's consent, but
for the time the caller holds (HELD_LISTEN).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Literal


class Mode(StrEnum):
    LISTEN = "listen"
    COACH = "coach"
    BARGE = "barge"


@dataclass(frozen=True)
class Tap:
    on: Literal["caller", "operator"]
    spy: str
    whisper: str


TAPS = {
    Mode.LISTEN: Tap("caller", "both", "none"),
    Mode.COACH: Tap("operator", "both", "out"),
    Mode.BARGE: Tap("caller", "both", "both"),
}

# While the caller holds (music, out of the conversation's bridge) the operator is alone there,
# or with a colleague consulted, and nothing is written to them for a whisper to ride on: the
# supervisor listens to the operator's side then, and coaching or joining puts the supervisor's
# phone into the conversation's bridge itself (the caller, on music, hears none of it).
HELD_LISTEN = Tap("operator", "both", "none")

LABELS = {
    Mode.LISTEN: "in ascolto",
    Mode.COACH: "ti sta suggerendo (il chiamante non lo sente)",
    Mode.BARGE: "è entrato in conversazione (il chiamante lo sente)",
}

NAMES = {Mode.LISTEN: "Ascolta", Mode.COACH: "Suggerisci", Mode.BARGE: "Intervieni"}


def mode_of(value: str | None) -> Mode | None:
    try:
        return Mode(value or "")
    except ValueError:
        return None
