"""Where a call found alive after an engine restart goes on from, by its ticket (no Asterisk:
the decisions alone; tests/integration/test_faults.py runs them on real calls)."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from ivr.callflows.facts import CallFacts
from ivr.callflows.model import Flow, load_flow
from ivr.callflows.recovery import Recovery
from ivr.tickets.store import EventView, TicketView

REPO = Path(__file__).resolve().parents[2]
T0 = datetime(2026, 2, 10, 9, 0, tzinfo=UTC)


@pytest.fixture(scope="module")
def flow() -> Flow:
    return load_flow(REPO / "config" / "callflows" / "main.yaml")


def ticket(last_state: str, *events: tuple[str, dict[str, Any] | None], **columns: Any) -> TicketView:
    fields = {f.name: None for f in dataclasses.fields(TicketView)}
    fields.update(id=7, channel="phone", call_uid="c-7", started_at=T0, open=True, level=1, events=[])
    fields.update(last_state=last_state, **columns)
    fields["events"] = [EventView(T0, kind, detail) for kind, detail in events]
    return TicketView(**fields)


def recovery(flow: Flow) -> Recovery:
    return Recovery(None, None, None, flow, lambda _op, _t: None, None)  # type: ignore[arg-type]


def test_waiting_in_the_queue_keeps_its_admission(flow: Flow) -> None:
    resume = recovery(flow)._where(ticket("queue:queue", queue_result="waiting"), "queue", "queue")
    assert resume is not None and resume.node == "queue"
    assert resume.facts == CallFacts(resumed=True, admitted=True)


def test_told_the_cap_was_reached_goes_on_to_voicemail_with_that_reason(flow: Flow) -> None:
    resume = recovery(flow)._where(ticket("queue:queue", queue_result="cap"), "queue", "queue")
    assert resume is not None and resume.node == "voicemail_busy"
    assert resume.facts.voicemail_reason == "cap"


def test_operator_gone_during_the_outage_leads_to_the_survey(flow: Flow) -> None:
    resume = recovery(flow)._where(ticket("queue:queue", queue_result="answered", operator_id=3), "queue", "queue")
    assert resume is not None and resume.node == "survey" and resume.facts.operator_id == 3


def test_a_message_being_recorded_is_kept_and_one_saved_is_not_recorded_again(flow: Flow) -> None:
    rec = recovery(flow)
    speaking = ticket("voicemail:voicemail_busy", ("voicemail_recording", {"name": "vm-7-a"}))
    resume = rec._where(speaking, "voicemail", "voicemail_busy")
    assert resume is not None and resume.facts.resume_recording == "vm-7-a"
    saved = ticket(
        "voicemail:voicemail_busy",
        ("voicemail_recording", {"name": "vm-7-a"}),
        ("voicemail_left", {"message": 12}),
    )
    resume = rec._where(saved, "voicemail", "voicemail_busy")
    assert resume is not None and resume.facts.resume_message == 12 and resume.facts.resume_recording is None
    done = ticket(
        "voicemail:voicemail_busy",
        ("voicemail_recording", {"name": "vm-7-a"}),
        ("voicemail_left", {"message": 12}),
        ("callback_number", {"source": "caller_id"}),
    )
    resume = rec._where(done, "voicemail", "voicemail_busy")
    assert resume is not None and resume.facts.resume_message is None


def test_in_the_menu_the_menu_is_offered_again(flow: Flow) -> None:
    resume = recovery(flow)._where(ticket("menu:menu"), "menu", "menu")
    assert resume is not None and resume.node == "menu"


def test_a_state_the_flow_no_longer_has_is_not_resumed(flow: Flow) -> None:
    assert recovery(flow)._where(ticket("menu:old_menu"), "menu", "old_menu") is None
    assert recovery(flow)._where(ticket("started"), "started", "") is None


def test_in_the_voicemail_after_the_cap_the_reason_is_read_back_from_the_queue_result(flow: Flow) -> None:
    speaking = ticket("voicemail:voicemail_busy", ("voicemail_recording", {"name": "vm-7-a"}), queue_result="cap")
    resume = recovery(flow)._where(speaking, "voicemail", "voicemail_busy")
    assert resume is not None and resume.facts.voicemail_reason == "cap"
    closed = ticket("voicemail:voicemail_closed", line_state="outside_hours")
    resume = recovery(flow)._where(closed, "voicemail", "voicemail_closed")
    assert resume is not None and resume.facts.voicemail_reason is None  # the node's own reason
