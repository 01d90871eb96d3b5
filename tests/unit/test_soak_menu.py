"""Check 28: the menu routes by the caller's key, and a caller who presses nothing is put
through after the first repeat (ivr.lab.soak.checks_menu)."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import update

from ivr.lab.soak.checker import run_checks
from ivr.lab.soak.journal import KeyPress
from ivr.lab.soak.verdict import CheckResult
from ivr.schema.tickets import Ticket, TicketEvent
from tests.unit.soak_world import DAY2, SoakWorld, build_world

FIRST, SILENT = "+393330000001", "+393330000006"  # as tests/unit/soak_world.py builds them


@pytest.fixture
def world(db_url: str, tmp_path: Path) -> SoakWorld:
    return build_world(db_url, tmp_path)


def menu_check(world: SoakWorld) -> CheckResult:
    return next(r for r in run_checks(world.evidence) if r.name == "menu")


def _events(world: SoakWorld, caller: str, *kinds: str) -> None:
    with world.session() as s, s.begin():
        for n, kind in enumerate(kinds):
            at = DAY2 + timedelta(hours=1, seconds=5 + 8 * n)
            s.add(TicketEvent(ticket_id=world.ids[caller], at=at, kind=kind, detail=None))


def test_a_silent_caller_put_through_after_the_first_repeat_passes(world: SoakWorld) -> None:
    _events(world, SILENT, "menu_timeout", "menu_timeout", "menu_default")
    result = menu_check(world)
    assert result.passed, result.violations


def test_a_silent_caller_held_in_the_menu_is_a_violation(world: SoakWorld) -> None:
    _events(world, SILENT, "menu_timeout", "menu_timeout", "menu_timeout", "menu_default")
    result = menu_check(world)
    assert [v.callers for v in result.violations] == [(SILENT,)]
    assert "only after 3 rounds" in result.violations[0].detail


def test_a_silent_caller_never_put_through_is_a_violation(world: SoakWorld) -> None:
    _events(world, SILENT, "menu_timeout", "menu_timeout")
    result = menu_check(world)
    assert "never put through" in result.violations[0].detail


def test_a_caller_routed_to_another_topic_than_their_key_is_a_violation(world: SoakWorld) -> None:
    _events(world, FIRST, "menu_choice")
    world.replace_call(FIRST, topic="citizens")
    assert menu_check(world).passed
    with world.session() as s, s.begin():
        s.execute(update(Ticket).where(Ticket.id == world.ids[FIRST]).values(topic="employers"))
    result = menu_check(world)
    assert [v.callers for v in result.violations] == [(FIRST,)]
    assert "chose citizens, the ticket says employers" in result.violations[0].detail


def test_calls_through_a_fault_are_noted_not_judged(world: SoakWorld) -> None:
    _events(world, SILENT, "menu_timeout", "menu_timeout", "menu_timeout")
    world.replace_call(SILENT, faults=["engine_kill"])
    result = menu_check(world)
    assert result.passed
    assert any("during a fault" in n for n in result.notes)


def test_a_call_taken_over_by_another_engine_is_noted_not_judged(world: SoakWorld) -> None:
    """Full run 8 (tickets 6226, 6228, 6312): lost leases with no fault injected; the engine that
    took over met the calls again at the menu's start, their keys pressed meanwhile lost."""
    _events(world, SILENT, "menu_timeout", "call_resumed", "menu_timeout", "menu_timeout")
    result = menu_check(world)
    assert result.passed, result.violations
    assert any("or a takeover" in n for n in result.notes)


def test_a_call_transferred_by_its_operator_is_judged_on_the_menus_route(world: SoakWorld) -> None:
    """Full run 8's ticket 5983: chosen citizens, transferred by the operator to employers; the
    ticket's topic is the transfer's, the menu routed it right."""
    _events(world, FIRST, "menu_choice")
    world.replace_call(FIRST, topic="citizens")
    with world.session() as s, s.begin():
        s.execute(update(Ticket).where(Ticket.id == world.ids[FIRST]).values(topic="employers"))
        detail = {"operator": "op1", "from_topic": "citizens", "to_topic": "employers"}
        at = DAY2 + timedelta(hours=1, minutes=2)
        s.add(TicketEvent(ticket_id=world.ids[FIRST], at=at, kind="transferred", detail=detail))
    assert menu_check(world).passed
    with world.session() as s, s.begin():
        transfer = s.query(TicketEvent).filter_by(ticket_id=world.ids[FIRST], kind="transferred").one()
        transfer.detail = {**detail, "from_topic": "agencies"}
    assert "chose citizens, the ticket says agencies" in menu_check(world).violations[0].detail


def test_a_consent_key_pressed_at_the_end_of_its_window_that_chose_at_the_menu_is_excused(world: SoakWorld) -> None:
    """Full run 13's ticket 285: the caller's 1 for consent came 7.7-18.6 s into the notice's
    13.0 s window and reached the menu, routing the call to citizens before the 3 for agencies.
    A consent key taken in time is no excuse: the menu's own key decides."""
    with world.session() as s, s.begin():
        at = DAY2 + timedelta(hours=1, seconds=5)
        s.add(TicketEvent(ticket_id=world.ids[FIRST], at=at, kind="menu_choice", detail={"key": "1"}))
        s.execute(update(Ticket).where(Ticket.id == world.ids[FIRST]).values(topic="citizens"))
    late = KeyPress(key="1", prompt="consent_notice", at_least_s=7.7, at_most_s=18.6, window_s=13.0)
    world.replace_call(FIRST, topic="agencies", consent_asked=True, consent_key="1", consent_press=late)
    result = menu_check(world)
    assert result.passed and any("chose at the menu" in n for n in result.notes)
    in_time = KeyPress(key="1", prompt="consent_notice", at_least_s=3.0, at_most_s=4.0, window_s=13.0)
    world.replace_call(FIRST, consent_press=in_time)
    assert "chose agencies, the ticket says citizens" in menu_check(world).violations[0].detail
