"""The soak's browser desk operator, its pure part: what a person at the desk does next after a
fault (takeover, session gone, phone unregistered, desk paused as closed), and how the plan's
desk step becomes a filing the desk allows."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from ivr.lab.soak.action_journal import OUTCOME, ActionResult
from ivr.lab.soak.actions import DeskStep
from ivr.lab.soak.desk_habits import Act, Filing, Look, desk_login, filing, filing_record, next_act
from ivr.webphone.desks import CLOSED_REASON

A, B = "http://127.0.0.1:8001", "http://127.0.0.1:8002"
WORKING = Look(here=A, ready=A, registered=True, state="available")


@pytest.mark.parametrize(
    ("look", "act"),
    [
        (WORKING, Act.NOTHING),
        (Look(here=None, ready=A), Act.GO),  # no desk open yet
        (Look(here=None, ready=None), Act.WAIT),  # a takeover under way: no console is ready
        (Look(here=A, ready=None), Act.NOTHING),  # an open desk stays open (and answers a ring) meanwhile
        (Look(here=A, ready=None, state="paused", reason=CLOSED_REASON), Act.AVAILABLE),
        (Look(here=A, ready=B, on_login=True), Act.GO),  # the standby took over: its console, not a login here
        (Look(here=A, ready=A, on_login=True, registered=False, unregistered_s=99), Act.LOGIN),
        (Look(here=A, ready=A, registered=False, unregistered_s=14.9, state="available"), Act.NOTHING),
        (Look(here=A, ready=A, registered=False, unregistered_s=15.0, state="available"), Act.RELOAD),
        (Look(here=A, ready=A, state="paused", reason=CLOSED_REASON), Act.AVAILABLE),
        (Look(here=A, ready=A, state="logged_out"), Act.NOTHING),  # the plan's logout (the soak's driver)
        (Look(here=A, ready=A, state="paused", reason="Pranzo"), Act.NOTHING),  # a pause somebody chose
        (Look(here=A, ready=A, state="wrap_up"), Act.NOTHING),
        # Reloading comes before making oneself available: a desk without a phone is not rung.
        (Look(here=A, ready=A, registered=False, unregistered_s=20, state="paused", reason=CLOSED_REASON), Act.RELOAD),
    ],
)
def test_what_the_person_does_next(look: Look, act: Act) -> None:
    assert next_act(look, patience_s=15.0) is act


def test_a_desk_starting_logged_out_makes_itself_available() -> None:
    assert next_act(Look(here=A, ready=A, state="logged_out"), patience_s=15.0, starting=True) is Act.AVAILABLE


@pytest.mark.parametrize(
    ("step", "articles", "expected"),
    [
        (DeskStep(talk_s=5, outcome="resolved", article=False), [7], Filing("resolved")),
        (DeskStep(talk_s=5, outcome="resolved", article=True), [7, 9], Filing("resolved", article=7)),
        (
            DeskStep(talk_s=5, outcome="resolved", article=True),
            [],
            Filing("resolved", note="article planned; the desk offered none for the topic"),
        ),
        (DeskStep(talk_s=5, outcome="escalated", article=False), [7], Filing("escalated")),
        (
            DeskStep(talk_s=5, outcome="escalated", article=True),
            [7],
            Filing("escalated", note="article planned; an escalation is filed without one"),
        ),
        (
            DeskStep(talk_s=5, outcome="referred", article=True),
            [7],
            Filing("resolved", note="referral planned; referrals are not made from the browser desk"),
        ),
        (None, [7], Filing("resolved", note="no desk step left in the plan")),
    ],
)
def test_the_plans_desk_step_as_the_desk_allows_it(
    step: DeskStep | None, articles: list[int], expected: Filing
) -> None:
    assert filing(step, articles) == expected


def test_the_desk_is_the_first_operator_once_the_other_phones_have_theirs() -> None:
    assert desk_login(["anna", "bruno", "carla", "dario", "elena"]) == "anna"
    assert desk_login(["anna", "bruno", "carla"]) == "anna"
    assert desk_login(["anna", "bruno"]) is None  # an outside number and a softphone come first
    assert desk_login([]) is None


def test_the_browser_desks_filing_is_journalled_as_the_drivers_are() -> None:
    at = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
    done = filing_record("soak01", 41, Filing("resolved", 7), at, at + timedelta(seconds=2), 3600.0)
    assert (done.kind, done.result, done.ticket, done.operator) == (OUTCOME, ActionResult.DONE, 41, "soak01")
    assert done.params == {"via": "browser desk", "outcome": "resolved", "article": 7, "reason": None}
    why = filing_record("soak01", 43, Filing("resolved", None, reason="naspi"), at, at, 0.0)
    assert why.params["reason"] == "naspi"  # chosen on the card: held against the ticket (check 30)
    assert done.line_time(done.sent_at) == at + timedelta(hours=1)
    lost = filing_record("soak01", 42, None, at, at, 0.0, "card not on the desk")
    assert (lost.result, lost.answer, lost.done) == (ActionResult.FAILED, "card not on the desk", False)
