"""The caller's phone as witness that the line answers: a call left ringing is a violation even
when its ticket rightly says "not answered" (full run 6: 34 callers rang 15 s behind the outbox's
replay after database outages, and no check saw them), save while no engine could answer."""

from __future__ import annotations

from pathlib import Path

import pytest

from ivr.lab.soak.checker import run_checks
from ivr.lab.soak.checks_calls import ANSWER_S
from ivr.lab.soak.journal import HungUpBy
from ivr.lab.soak.verdict import CheckResult
from tests.unit.soak_world import SoakWorld, build_world

FIRST, SECOND = "+393330000001", "+393330000002"  # as tests/unit/test_soak_checker.py names them


@pytest.fixture
def world(db_url: str, tmp_path: Path) -> SoakWorld:
    return build_world(db_url, tmp_path)


def answered_check(world: SoakWorld) -> CheckResult:
    return next(r for r in run_checks(world.evidence) if r.name == "answered")


def test_calls_answered_at_once_pass(world: SoakWorld) -> None:
    for c in world.evidence.journal:
        world.replace_call(c.caller, answered_after_s=0.4)
    result = answered_check(world)
    assert result.passed, result.violations


def test_a_call_that_rang_out_during_a_database_outage_is_a_violation(world: SoakWorld) -> None:
    world.replace_call(FIRST, answered=False, answered_after_s=None, hung_up_by=HungUpBy.NETWORK,
                       faults=["postgres_stop"])  # fmt: skip
    result = answered_check(world)
    assert [v.callers for v in result.violations] == [(FIRST,)]
    assert "never answered" in result.violations[0].detail


def test_a_call_answered_late_is_a_violation_unless_the_ari_socket_was_cut(world: SoakWorld) -> None:
    world.replace_call(FIRST, answered_after_s=ANSWER_S + 3.0, faults=["postgres_link_cut"])
    world.replace_call(SECOND, answered_after_s=ANSWER_S + 3.0, faults=["ari_socket_cut"])
    result = answered_check(world)
    assert [v.callers for v in result.violations] == [(FIRST,)]
    assert any("ARI socket" in n for n in result.notes)


@pytest.mark.parametrize("fault", ["engine_freeze", "engine_kill", "asterisk_restart"])
def test_calls_while_no_engine_could_answer_are_noted_not_judged(world: SoakWorld, fault: str) -> None:
    world.replace_call(FIRST, answered=False, answered_after_s=None, hung_up_by=HungUpBy.NETWORK, faults=[fault])
    result = answered_check(world)
    assert result.passed
    assert any("no engine could answer" in n for n in result.notes)
