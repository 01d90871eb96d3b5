"""A persisting fault in the log: once when it starts, now and then while it lasts, once at its end."""

from __future__ import annotations

import logging

import pytest

from ivr.repeats import Repeats


def test_a_fault_polled_every_third_of_a_second_for_a_minute_is_four_lines(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
    repeats = Repeats(logging.getLogger("t"), "lease 'nul': the store does not answer", every_s=30.0)
    t = 100.0
    for _ in range(200):  # 66 s of polls every 0.33 s
        repeats.failing(t, "connection refused")
        t += 0.33
    repeats.ok(t)
    repeats.ok(t + 1)  # nothing more to say
    lines = [r.getMessage() for r in caplog.records]
    assert lines[0] == "lease 'nul': the store does not answer (connection refused)"
    assert lines[1].startswith("lease 'nul': the store does not answer for 30 s, 92 tries")
    assert lines[2].startswith("lease 'nul': the store does not answer for 60 s, 183 tries")
    assert lines[3] == "lease 'nul': the store does not answer: over after 66 s, 200 tries"
    assert len(lines) == 4
    repeats.failing(t + 5, "again")  # a new fault starts its own count
    assert caplog.records[-1].getMessage() == "lease 'nul': the store does not answer (again)" and repeats.count == 1
