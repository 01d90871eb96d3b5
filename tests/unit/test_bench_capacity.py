"""The capacity benchmark's verdict: a ratio only when both journeys ran on script.

Since confirm-with-1 came in, no engine call reached an operator (SIPp's operators never pressed
the key) and the benchmark still printed "engine / baseline: 0.00" as if it had measured the
engine. A flow failing at its lowest level is a broken journey, not a capacity."""

from __future__ import annotations

from typing import Any

import pytest

from bench.capacity import summary


def step(flow: str, level: int, failed: int, *, on_script: int | None = None) -> dict[str, Any]:
    calls = level * 4
    tickets = {}
    if flow == "engine":
        ok = calls - failed if on_script is None else on_script
        tickets = {"on_script": ok, "off_script": 0, "offer_confirmed": ok, "outcomes": {"answered/caller": ok}}
    return {
        "flow": flow,
        "level": level,
        "calls": calls,
        "max_concurrent": level,
        "failed_calls": failed,
        "not_to_operator": failed,
        "flow_failed": failed,
        "tickets": tickets,
    }


def test_a_ratio_when_both_journeys_ran_on_script(capsys: pytest.CaptureFixture[str]) -> None:
    results = [step("baseline", 25, 0), step("engine", 25, 0), step("baseline", 50, 0), step("engine", 50, 3)]
    assert summary(results) == 0
    out = capsys.readouterr().out
    assert "engine: most concurrent calls with no failure: 25" in out
    assert "engine / baseline: 0.50" in out


def test_no_ratio_when_a_journey_fails_at_its_lowest_level(capsys: pytest.CaptureFixture[str]) -> None:
    results = [step("baseline", 100, 0), step("engine", 100, 400, on_script=0), step("baseline", 200, 0)]
    assert summary(results) == 2
    out = capsys.readouterr().out
    assert "engine / baseline" not in out
    assert "journey off script, no ratio reported: engine failed at its lowest level (100)" in out
    assert '"on_script": 0' in out
