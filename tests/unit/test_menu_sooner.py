"""The menu sooner and no caller stuck in it (issue 26, items 3 and 4): the language offer has no
wait of its own; a choice typed during the welcome is taken without the menu where the menu takes
type-ahead, and is no choice where it does not; a caller whose keys never arrive is put through
after the first repeat and told so; `0` reaches an operator; and a language key pressed between
the offer and the next question still switches the call."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

from ivr.callflows.language import Language, PlayStep
from ivr.callflows.menu import menu_step
from ivr.callflows.model import Flow
from ivr.callflows.nodes import BASIC_HANDLERS, route_stub
from ivr.callflows.session import CallSession
from ivr.clock import ShiftedClock
from ivr.prompts.library import PromptCatalog, PromptLibrary
from ivr.tickets.store import SqlTicketStore, TicketView
from tests.fakes import FakeChannel, Script
from tests.unit.test_menu_consent import FAST, NAMES, ROME


def _library(root: str) -> PromptLibrary:
    names = [*NAMES, "language_offer", "menu_put_through", "info"]
    return PromptLibrary(
        PromptCatalog(version="v7", prompts={n: n for n in names}),
        build_dir=Path("/nonexistent"),
        custom_dir=Path("/nonexistent"),
        asterisk_dir=root,
    )


ITALIAN, ENGLISH = _library("/p"), _library("/en")
MENU: dict[str, Any] = {
    "type": "menu",
    "prompt": "menu_main",
    "options": {"1": {"next": "queue", "topic": "citizens"}, "2": {"next": "queue", "topic": "employers"}},
    "repeat_key": "*",
    "operator_key": "0",
    "max_attempts": 3,
    "silent_attempts": 2,
    "default_prompt": "menu_put_through",
    "default": {"next": "queue", "topic": "citizens"},
    **FAST,
}


def _flow(*, info: bool = False, type_ahead: bool = False) -> Flow:
    nodes: dict[str, Any] = {
        "welcome": {"type": "play", "prompt": "welcome", "next": "info" if info else "menu", "languages": True},
        "menu": {**MENU, "type_ahead": type_ahead},
        "queue": {"type": "queue", "fallback": "vm"},
        "vm": {"type": "voicemail", "reason": "busy"},
    }
    if info:
        nodes["info"] = {"type": "play", "prompt": "info", "next": "menu"}
    return Flow.model_validate({"name": "t", "start": "welcome", "nodes": nodes})


async def _call(
    store: SqlTicketStore, script: Script, *, info: bool = False, type_ahead: bool = False
) -> tuple[TicketView, FakeChannel]:
    channel = FakeChannel(script=script)
    handlers = {
        **BASIC_HANDLERS,
        "play": PlayStep({"en": Language("en", "9", ENGLISH)}),  # the shipped offer: no wait
        "menu": menu_step,
        "queue": route_stub("queue"),
        "voicemail": route_stub("voicemail"),
    }
    clock = ShiftedClock(datetime(2026, 3, 10, 10, tzinfo=ROME))
    flow = _flow(info=info, type_ahead=type_ahead)
    await CallSession(channel, flow, handlers, store=store, clock=clock, prompts=ITALIAN).run()
    ticket = await store.by_call_uid(channel.id)
    assert ticket is not None
    return ticket, channel


def _kinds(ticket: TicketView) -> list[str]:
    return [e.kind for e in ticket.events]


def _routed(ticket: TicketView) -> dict[str, object]:
    event = next(e for e in ticket.events if e.kind in ("menu_choice", "menu_default"))
    return {"kind": event.kind, **dict(event.detail or {})}


async def test_with_type_ahead_a_choice_typed_during_the_welcome_skips_the_menu(sqlite_store: SqlTicketStore) -> None:
    # plays: 0 welcome (2 pressed: a caller who knows the line), 1 the offer
    ticket, channel = await _call(sqlite_store, Script(keys_after_play={0: "2"}), type_ahead=True)
    assert channel.played[:3] == [["sound:/p/welcome"], ["sound:/en/language_offer"], ["sound:/p/route_unavailable"]]
    assert (_routed(ticket)["kind"], _routed(ticket)["key"], ticket.topic) == ("menu_choice", "2", "employers")
    assert ticket.language is None


async def test_without_type_ahead_a_key_during_the_welcome_is_no_choice(sqlite_store: SqlTicketStore) -> None:
    ticket, channel = await _call(sqlite_store, Script(keys_after_play={0: "2", 2: "1"}))
    assert channel.played[2] == ["sound:/p/menu_main"]
    assert (_routed(ticket)["key"], ticket.topic) == ("1", "citizens")
    assert "menu_invalid" not in _kinds(ticket)


async def test_a_caller_whose_keys_never_arrive_is_put_through_after_the_first_repeat(
    sqlite_store: SqlTicketStore,
) -> None:
    ticket, channel = await _call(sqlite_store, Script())
    said = [m.rsplit("/", 1)[1] for media in channel.played for m in media]
    assert said[:6] == ["welcome", "language_offer", "menu_main", "menu_timeout", "menu_main", "menu_put_through"]
    assert _kinds(ticket).count("menu_timeout") == 2
    routed = _routed(ticket)
    assert (routed["kind"], routed["why"], ticket.topic) == ("menu_default", "menu_timeout", "citizens")


async def test_a_caller_with_keys_gets_every_attempt(sqlite_store: SqlTicketStore) -> None:
    # plays: 2 menu (7, wrong), 3 invalid, 4 menu (silence), 5 timeout + menu (1): one silence
    # after a wrong key is not yet the caller without keys
    ticket, _ = await _call(sqlite_store, Script(keys_after_play={2: "7", 5: "1"}))
    assert (_kinds(ticket).count("menu_invalid"), _kinds(ticket).count("menu_timeout")) == (1, 1)
    assert (_routed(ticket)["kind"], _routed(ticket)["key"]) == ("menu_choice", "1")


async def test_zero_reaches_an_operator(sqlite_store: SqlTicketStore) -> None:
    ticket, channel = await _call(sqlite_store, Script(keys_after_play={2: "0"}))
    routed = _routed(ticket)
    assert (routed["kind"], routed["key"], routed["next"], ticket.topic) == ("menu_choice", "0", "queue", "citizens")
    assert ["sound:/p/menu_put_through"] not in channel.played  # a choice, not a default


async def test_the_offer_has_no_wait_and_a_late_language_key_between_questions_still_counts(
    sqlite_store: SqlTicketStore,
) -> None:
    # plays: 0 welcome, 1 offer, 2 info (9 pressed as it ends: in the buffer when the menu starts)
    ticket, channel = await _call(sqlite_store, Script(keys_after_play={2: "9", 3: "1"}), info=True)
    assert channel.played[:3] == [["sound:/p/welcome"], ["sound:/en/language_offer"], ["sound:/p/info"]]
    assert channel.played[3] == ["sound:/en/menu_main"]  # the menu, in English from its first word
    assert ticket.language == "en"
    assert (_routed(ticket)["key"], ticket.topic) == ("1", "citizens")
    assert "menu_invalid" not in _kinds(ticket)


def _menu_alone(**changes: Any) -> dict[str, Any]:
    return {
        "name": "t",
        "start": "menu",
        "nodes": {
            "menu": {**MENU, **changes},
            "queue": {"type": "queue", "fallback": "vm"},
            "vm": {"type": "voicemail", "reason": "busy"},
        },
    }


def test_operator_and_repeat_keys_cannot_clash() -> None:
    import pytest
    from pydantic import ValidationError

    with pytest.raises(ValidationError, match="operator_key and repeat_key"):
        Flow.model_validate(_menu_alone(repeat_key="0"))
    with pytest.raises(ValidationError, match="operator_key '1' clashes"):
        Flow.model_validate(_menu_alone(operator_key="1"))
