"""Menu and consent logic on a fake channel (no Asterisk): keys, timeouts, repeats, evidence."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from ivr.callflows.menu import menu_step
from ivr.callflows.model import Flow
from ivr.callflows.nodes import BASIC_HANDLERS, route_stub
from ivr.callflows.session import CallSession
from ivr.clock import ShiftedClock
from ivr.hours.config import CampaignConfig
from ivr.prompts.library import PromptCatalog, PromptLibrary
from ivr.recordings.consent import ConsentStep
from ivr.tickets.store import SqlTicketStore, TicketView
from tests.fakes import FakeChannel, Script

ROME = ZoneInfo("Europe/Rome")
NAMES = [
    "welcome",
    "menu_main",
    "menu_invalid",
    "menu_timeout",
    "consent_notice",
    "consent_accepted",
    "consent_refused",
    "route_unavailable",
    "goodbye",
]
PROMPTS = PromptLibrary(
    PromptCatalog(version="v7", prompts={n: n for n in NAMES}),
    build_dir=Path("/nonexistent"),
    custom_dir=Path("/nonexistent"),
    asterisk_dir="/p",
)
FAST = {"first_digit_timeout_s": 0.05, "inter_digit_timeout_s": 0.05, "total_timeout_s": 0.3}
CAMPAIGN = CampaignConfig.model_validate({"id": "q1", "name": "Qualità", "from": "2026-03-01", "to": "2026-03-31"})


def flow(**menu_extra: Any) -> Flow:
    return Flow.model_validate(
        {
            "name": "t",
            "start": "consent",
            "nodes": {
                "consent": {"type": "consent", "next": "menu", "timeout_s": 0.05},
                "menu": {
                    "type": "menu",
                    "prompt": "menu_main",
                    "options": {
                        "1": {"next": "queue", "topic": "citizens"},
                        "2": {"next": "queue", "topic": "employers"},
                        "3": {"next": "queue", "topic": "agencies"},
                        "*9": {"next": "queue", "topic": "agencies"},
                    },
                    "default": {"next": "queue", "topic": "citizens"},
                    **FAST,
                    **menu_extra,
                },
                "queue": {"type": "queue", "fallback": "vm"},
                "vm": {"type": "voicemail", "reason": "busy"},
            },
        }
    )


@pytest.fixture
def store(sqlite_store: SqlTicketStore) -> SqlTicketStore:
    return sqlite_store


async def call(
    store: SqlTicketStore, script: Script, *, day: date = date(2026, 2, 10), keys: str = "", **menu_extra: Any
) -> tuple[TicketView, FakeChannel]:
    channel = FakeChannel(script=script)
    channel.press(keys)
    handlers = {
        **BASIC_HANDLERS,
        "menu": menu_step,
        "queue": route_stub("queue"),
        "voicemail": route_stub("voicemail"),
        "consent": ConsentStep([CAMPAIGN], ROME, PROMPTS),
    }
    clock = ShiftedClock(__import__("datetime").datetime(day.year, day.month, day.day, 10, tzinfo=ROME))
    await CallSession(channel, flow(**menu_extra), handlers, store=store, clock=clock, prompts=PROMPTS).run()
    ticket = await store.by_call_uid(channel.id)
    assert ticket is not None and not ticket.open
    return ticket, channel


def kinds(ticket: TicketView) -> list[str]:
    return [e.kind for e in ticket.events]


@pytest.mark.parametrize(("key", "topic"), [("1", "citizens"), ("2", "employers"), ("3", "agencies")])
async def test_each_branch_sets_the_topic(store: SqlTicketStore, key: str, topic: str) -> None:
    ticket, channel = await call(store, Script(keys_after_play={0: key}))
    assert ticket.topic == topic
    assert ticket.end_reason == "stub:queue"
    choice = next(e for e in ticket.events if e.kind == "menu_choice")
    assert choice.detail == {"key": key, "topic": topic, "next": "queue"}
    assert channel.played[0] == ["sound:/p/menu_main"]


async def test_two_key_option(store: SqlTicketStore) -> None:
    ticket, _ = await call(store, Script(keys_after_play={0: "*9"}))
    assert ticket.topic == "agencies"


async def test_invalid_then_valid(store: SqlTicketStore) -> None:
    ticket, channel = await call(store, Script(keys_after_play={0: "7", 2: "2"}))
    assert ticket.topic == "employers"
    assert channel.played[1] == ["sound:/p/menu_invalid"]  # heard whole, then the menu again
    assert channel.played[2] == ["sound:/p/menu_main"]
    assert kinds(ticket).count("menu_invalid") == 1


async def test_a_burst_of_wrong_keys_is_one_mistake(store: SqlTicketStore) -> None:
    """Keys pressed together with the wrong one, or during the error message, do not answer the
    menu that follows: the caller hears it again and chooses."""
    ticket, _ = await call(store, Script(keys_after_play={0: "7777777", 1: "99", 2: "2"}))
    assert kinds(ticket).count("menu_invalid") == 1
    assert ticket.topic == "employers"


async def test_timeouts_then_default_route(store: SqlTicketStore) -> None:
    ticket, channel = await call(store, Script())
    assert kinds(ticket).count("menu_timeout") == 3
    default = next(e for e in ticket.events if e.kind == "menu_default")
    assert default.detail == {"next": "queue", "topic": "citizens", "why": "menu_timeout"}
    assert channel.played[1] == ["sound:/p/menu_timeout", "sound:/p/menu_main"]
    assert len(channel.played) == 4  # 3 menu rounds, then the stub's message


async def test_zero_repeats_without_counting_as_an_error(store: SqlTicketStore) -> None:
    ticket, channel = await call(store, Script(keys_after_play={0: "0", 1: "0", 2: "3"}))
    assert ticket.topic == "agencies"
    assert kinds(ticket).count("menu_repeat") == 2
    assert "menu_invalid" not in kinds(ticket)
    assert channel.played[:3] == [["sound:/p/menu_main"]] * 3


async def test_keys_pressed_before_the_menu_are_dropped(store: SqlTicketStore) -> None:
    ticket, _ = await call(store, Script(keys_after_play={0: "2"}), keys="9")
    assert ticket.topic == "employers"
    assert "menu_invalid" not in kinds(ticket)


async def test_hangup_in_the_menu(store: SqlTicketStore) -> None:
    ticket, _ = await call(store, Script(hangup_on_play=1, keys_after_play={0: "8"}))
    assert ticket.outcome == "caller_hangup"
    assert ticket.last_state == "menu:menu"


# --- consent (campaign active in March 2026) ------------------------------------------------


@pytest.mark.parametrize(("key", "choice"), [("1", "accepted"), ("2", "refused"), ("", "no_answer")])
async def test_consent_choices_are_stored_as_evidence(store: SqlTicketStore, key: str, choice: str) -> None:
    keys = {0: key, 2: "1"} if key else {1: "1"}
    ticket, channel = await call(store, Script(keys_after_play=keys), day=date(2026, 3, 10))
    assert channel.played[0] == ["sound:/p/consent_notice"]
    raw = ticket.events[[e.kind for e in ticket.events].index("consent")].detail
    assert raw is not None and raw["choice"] == choice and raw["campaign"] == "q1"
    assert raw["notice"] == "consent_notice@v7#unbuilt"
    follow = {"accepted": "consent_accepted", "refused": "consent_refused", "no_answer": "consent_refused"}[choice]
    assert channel.played[1] == [f"sound:/p/{follow}"]


async def test_consent_invalid_key_is_reprompted(store: SqlTicketStore) -> None:
    ticket, channel = await call(store, Script(keys_after_play={0: "5", 2: "1", 4: "1"}), day=date(2026, 3, 10))
    consent = next(e for e in ticket.events if e.kind == "consent")
    assert consent.detail is not None and consent.detail["choice"] == "accepted"
    assert channel.played[1] == ["sound:/p/menu_invalid"]
    assert channel.played[2] == ["sound:/p/consent_notice"]


async def test_a_consent_key_lost_with_the_event_link_is_asked_for_again(store: SqlTicketStore) -> None:
    """Full run 3: three callers pressed 2 while the ARI socket was cut; the key never arrived and
    their refusal was stored as no answer. A silence the engine may not have heard is asked again."""
    script = Script(keys_lost_on_play={0: "2"}, keys_after_play={1: "2"})
    ticket, channel = await call(store, script, day=date(2026, 3, 10))
    assert channel.played[:2] == [["sound:/p/consent_notice"], ["sound:/p/consent_notice"]]
    consent = next(e for e in ticket.events if e.kind == "consent")
    assert consent.detail is not None and (consent.detail["choice"], consent.detail["key"]) == ("refused", "2")


async def test_a_real_silence_is_not_asked_for_again(store: SqlTicketStore) -> None:
    ticket, channel = await call(store, Script(keys_after_play={1: "1"}), day=date(2026, 3, 10))
    assert channel.played[1] == ["sound:/p/consent_refused"]
    consent = next(e for e in ticket.events if e.kind == "consent")
    assert consent.detail is not None and consent.detail["choice"] == "no_answer"


async def test_no_campaign_no_notice(store: SqlTicketStore) -> None:
    ticket, channel = await call(store, Script(keys_after_play={0: "1"}), day=date(2026, 4, 1))
    assert ["sound:/p/consent_notice"] not in channel.played
    assert "consent" not in kinds(ticket)


async def test_a_consent_given_before_a_takeover_is_not_asked_again(store: SqlTicketStore) -> None:
    """Full run 11, ticket 491: the caller pressed 1, the engine died before leaving the notice;
    the engine taking over asked again, the caller (who had answered) kept quiet, and the ticket
    ended "no answer" with the caller's yes overwritten. An answer on the ticket stands."""
    from datetime import datetime

    from ivr.callflows.facts import CallFacts
    from ivr.callflows.session import CallContext
    from ivr.tickets.status import Consent
    from ivr.tickets.store import NewCall

    channel = FakeChannel(script=Script())
    clock = ShiftedClock(datetime(2026, 3, 10, 10, tzinfo=ROME))
    ctx = CallContext(channel=channel, store=store, clock=clock, prompts=PROMPTS)
    ctx.ticket_id = await store.open_call(NewCall(channel.id, clock.now(), "3331234567", None, "800000039"))
    ctx.consent, ctx.facts = Consent.ACCEPTED, CallFacts(resumed=True)
    node = flow().nodes["consent"]
    assert await ConsentStep([CAMPAIGN], ROME, PROMPTS)(ctx, node) == "menu"  # type: ignore[arg-type]
    assert channel.played == [] and ctx.consent is Consent.ACCEPTED
    ticket = await store.get(ctx.ticket_id)
    assert ticket is not None and "consent" not in kinds(ticket)
