"""The live alerts' thresholds, one reading at a time: each alert amber at its first threshold,
red at its second, silent below; bad thresholds refused naming the field."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

import pytest
from pydantic import ValidationError

from ivr.alerts.config import AlertSettings
from ivr.alerts.rules import OperatorNow, Reading, Unheard, duration, evaluate

AT = datetime(2027, 3, 1, 9, 30, tzinfo=UTC)
CALM = Reading(at=AT, longest_wait_s=10, operators=[], admitted=100, cap=400, hour_admitted=30, hour_in_level=29)
SETTINGS = AlertSettings()


def levels(r: Reading, s: AlertSettings = SETTINGS) -> dict[str, str]:
    return {a.key: a.level for a in evaluate(r, s)}


def test_a_calm_line_raises_nothing() -> None:
    assert evaluate(CALM, SETTINGS) == []


@pytest.mark.parametrize(("wait", "level"), [(89.9, None), (90, "amber"), (179, "amber"), (180, "red")])
def test_the_longest_wait(wait: float, level: str | None) -> None:
    assert levels(replace(CALM, longest_wait_s=wait)).get("longest_wait") == level


def test_the_last_hours_service_level_is_judged_from_enough_calls() -> None:
    assert levels(replace(CALM, hour_admitted=10, hour_in_level=7)) == {"service_level": "amber"}
    assert levels(replace(CALM, hour_admitted=10, hour_in_level=5)) == {"service_level": "red"}
    assert levels(replace(CALM, hour_admitted=10, hour_in_level=8)) == {}  # 80 %: on target
    assert levels(replace(CALM, hour_admitted=9, hour_in_level=0)) == {}  # too few calls to say
    (alert,) = evaluate(replace(CALM, hour_admitted=20, hour_in_level=11), SETTINGS)
    assert "55%" in alert.text and "11 risposte in tempo su 20" in alert.text


def test_operators_paused_or_in_wrap_up_too_long_each_their_own_alert() -> None:
    ops = [
        OperatorNow("anna", "Anna Ferri", "paused", 1300, "lunch"),
        OperatorNow("bruno", "Bruno Galli", "paused", 2700, None),
        OperatorNow("carla", "Carla Conti", "wrap_up", 130),
        OperatorNow("dario", "", "wrap_up", 60),
        OperatorNow("elena", "Elena Greco", "busy", 5000),  # a long call is no alert
    ]
    found = evaluate(replace(CALM, operators=ops), SETTINGS, say={"lunch": "Pranzo"}.get)  # type: ignore[arg-type]
    assert {a.key: a.level for a in found} == {"paused:anna": "amber", "paused:bruno": "red", "wrap_up:carla": "amber"}
    anna = next(a for a in found if a.key == "paused:anna")
    assert anna.text == "Anna Ferri (anna) in pausa da 21 min 40 s, motivo: Pranzo"
    assert found[0].level == "red"  # red first


def test_a_pause_is_judged_by_its_reason() -> None:
    """A lunch is longer than a break; training and meetings are planned: no alert by default."""
    ops = [
        OperatorNow("anna", "Anna", "paused", 3000, "Pranzo"),
        OperatorNow("bruno", "Bruno", "paused", 3000, "Pausa"),
        OperatorNow("carla", "Carla", "paused", 9000, "Formazione"),
    ]
    assert levels(replace(CALM, operators=ops)) == {"paused:bruno": "red"}
    ops[0] = OperatorNow("anna", "Anna", "paused", 4000, "Pranzo")
    assert levels(replace(CALM, operators=ops)) == {"paused:anna": "amber", "paused:bruno": "red"}


def test_the_daily_cap_nearly_reached() -> None:
    assert levels(replace(CALM, admitted=359)) == {}
    assert levels(replace(CALM, admitted=360)) == {"cap": "amber"}
    assert levels(replace(CALM, admitted=392)) == {"cap": "red"}
    assert levels(replace(CALM, admitted=0, cap=0)) == {}  # no cap, no share


def test_commitments_near_are_amber_past_due_red_and_can_be_switched_off() -> None:
    r = replace(CALM, commitments={"phone_callback": (3, 0), "web_reply": (1, 2)})
    assert levels(r) == {"commitment:phone_callback": "amber", "commitment:web_reply": "red"}
    web = next(a for a in evaluate(r, SETTINGS) if a.key == "commitment:web_reply")
    assert web.text == "risposte alle richieste web (48 ore): 2 scadute, 1 in scadenza"
    assert levels(r, SETTINGS.model_copy(update={"commitments": False})) == {}


def test_the_oldest_unheard_message() -> None:
    assert levels(replace(CALM, unheard=Unheard(7, 59 * 60))) == {}
    assert levels(replace(CALM, unheard=Unheard(7, 60 * 60))) == {"voicemail": "amber"}
    (alert,) = evaluate(replace(CALM, unheard=Unheard(7, 5 * 3600)), SETTINGS)
    assert (alert.level, alert.link) == ("red", "/console/tickets/7") and "5 h 00 min" in alert.text


def test_a_threshold_left_out_is_not_raised() -> None:
    s = AlertSettings.model_validate({"longest_wait_s": {"red": 300}})
    assert levels(replace(CALM, longest_wait_s=200), s) == {}
    assert levels(replace(CALM, longest_wait_s=300), s) == {"longest_wait": "red"}


def test_bad_thresholds_are_refused_naming_the_field() -> None:
    with pytest.raises(ValidationError, match=r"longest_wait_s\n  Value error, red \(50\) must not be below amber"):
        AlertSettings.model_validate({"longest_wait_s": {"amber": 100, "red": 50}})
    with pytest.raises(ValidationError, match=r"service_level\n  Value error, red \(0.9\) must not be above amber"):
        AlertSettings.model_validate({"service_level": {"amber": 0.8, "red": 0.9}})
    with pytest.raises(ValidationError, match=r"check_every_s"):
        AlertSettings.model_validate({"check_every_s": 30})  # the wallboard must turn within 5 s
    with pytest.raises(ValidationError, match=r"mail_to\.0"):
        AlertSettings.model_validate({"mail_to": ["supervisori"]})


def test_durations_read_at_a_glance() -> None:
    assert [duration(s) for s in (45, 750, 3900)] == ["45 s", "12 min 30 s", "1 h 05 min"]
