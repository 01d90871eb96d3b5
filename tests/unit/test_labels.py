"""Every code the console shows has its Italian words: a timeline entry without a label showed the
raw code (32 of 67 event kinds did)."""

from __future__ import annotations

from ivr.console.labels import LABELS, label
from ivr.tickets.events import EventKind


def test_every_event_kind_has_its_italian_label() -> None:
    missing = [kind.value for kind in EventKind if f"ev_{kind.value}" not in LABELS]
    assert missing == []
    assert label(EventKind.LANGUAGE, "ev") == "Lingua scelta"


def test_a_code_without_a_label_shows_itself_and_nothing_shows_a_dash() -> None:
    assert label("no_such_code") == "no_such_code"
    assert label(None) == "—"
