"""The language offer after the welcome: a key pressed a moment too late, at the next question,
still chooses the language (full run 3: a caller pressed 9 for English as the consent notice
began; it was taken as a wrong consent key and the call went on in Italian)."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

from ivr.callflows.language import Language, PlayStep
from ivr.callflows.menu import menu_step
from ivr.callflows.model import Flow
from ivr.callflows.nodes import BASIC_HANDLERS, route_stub
from ivr.callflows.session import CallSession
from ivr.clock import ShiftedClock
from ivr.prompts.library import PromptCatalog, PromptLibrary
from ivr.recordings.consent import ConsentStep
from ivr.tickets.store import SqlTicketStore, TicketView
from tests.fakes import FakeChannel, Script
from tests.unit.test_menu_consent import CAMPAIGN, NAMES, PROMPTS, ROME

NAMES_EN = [*NAMES, "language_offer"]
ENGLISH = PromptLibrary(
    PromptCatalog(version="v7", prompts={n: n for n in NAMES_EN}),
    build_dir=Path("/nonexistent"),
    custom_dir=Path("/nonexistent"),
    asterisk_dir="/en",
)
FLOW = Flow.model_validate(
    {
        "name": "t",
        "start": "welcome",
        "nodes": {
            "welcome": {"type": "play", "prompt": "welcome", "next": "consent", "languages": True},
            "consent": {"type": "consent", "next": "menu", "timeout_s": 0.05},
            "menu": {
                "type": "menu",
                "prompt": "menu_main",
                "options": {"1": {"next": "queue", "topic": "citizens"}},
                "default": {"next": "queue", "topic": "citizens"},
                "first_digit_timeout_s": 0.05,
                "inter_digit_timeout_s": 0.05,
                "total_timeout_s": 0.3,
            },
            "queue": {"type": "queue", "fallback": "vm"},
            "vm": {"type": "voicemail", "reason": "busy"},
        },
    }
)


async def _call(store: SqlTicketStore, script: Script, late_s: float) -> tuple[TicketView, FakeChannel]:
    channel = FakeChannel(script=script)
    offer = PlayStep({"en": Language("en", "9", ENGLISH)}, grace_s=0.01, late_s=late_s)
    handlers = {
        **BASIC_HANDLERS,
        "play": offer,
        "menu": menu_step,
        "consent": ConsentStep([CAMPAIGN], ROME, PROMPTS),
        "queue": route_stub("queue"),
        "voicemail": route_stub("voicemail"),
    }
    clock = ShiftedClock(datetime(2026, 3, 10, 10, tzinfo=ROME))
    await CallSession(channel, FLOW, handlers, store=store, clock=clock, prompts=PROMPTS).run()
    ticket = await store.by_call_uid(channel.id)
    assert ticket is not None
    return ticket, channel


def _detail(ticket: TicketView, kind: str) -> dict[str, object]:
    event = next(e for e in ticket.events if e.kind == kind)
    assert event.detail is not None
    return dict(event.detail)


async def test_a_language_key_pressed_at_the_next_question_still_chooses_the_language(
    sqlite_store: SqlTicketStore,
) -> None:
    # plays: 0 welcome, 1 the offer, 2 the consent notice (9 pressed, late), 3 the notice again
    ticket, channel = await _call(sqlite_store, Script(keys_after_play={2: "9", 3: "1", 5: "1"}), late_s=10.0)
    assert channel.played[2] == ["sound:/p/consent_notice"]
    assert channel.played[3] == ["sound:/en/consent_notice"]  # the same question, in English
    assert _detail(ticket, "language") == {"language": "en"}
    assert (_detail(ticket, "consent")["choice"], ticket.language) == ("accepted", "en")
    assert "consent_invalid" not in [e.kind for e in ticket.events]  # not the caller's mistake


async def test_too_late_a_language_key_is_a_wrong_key(sqlite_store: SqlTicketStore) -> None:
    ticket, _ = await _call(sqlite_store, Script(keys_after_play={2: "9", 4: "1", 6: "1"}), late_s=0.0)
    assert "language" not in [e.kind for e in ticket.events] and ticket.language is None
    assert _detail(ticket, "consent_invalid")["entered"] == "9"
    assert _detail(ticket, "consent")["choice"] == "accepted"
