"""Where a call found alive after an engine restart goes on from: the recovery planner's
decisions, case by case (no Asterisk; tests/integration/test_faults.py runs them on real calls)."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from ivr.callflows.facts import CallFacts
from ivr.callflows.model import Flow, load_flow
from ivr.callflows.recovery_plan import (
    LOST_ON_RESTART,
    Action,
    CallPlan,
    LostMessage,
    RejoinTarget,
    conversation_bridge,
    idle_bridges,
    lost_tickets,
    message_left_while_down,
    plan_call,
)
from ivr.callflows.session import Resume
from ivr.telephony.ports import BridgeInfo
from ivr.tickets.status import VoicemailReason
from ivr.tickets.store import EventView, TicketView

REPO = Path(__file__).resolve().parents[2]
T0 = datetime(2026, 2, 10, 9, 0, tzinfo=UTC)
CALLER = "c-7"


@pytest.fixture(scope="module")
def flow() -> Flow:
    return load_flow(REPO / "config" / "callflows" / "main.yaml")


def ticket(last_state: str, *events: tuple[str, dict[str, Any] | None], **columns: Any) -> TicketView:
    fields: dict[str, Any] = {f.name: None for f in dataclasses.fields(TicketView)}
    fields.update(id=7, channel="phone", call_uid=CALLER, started_at=T0, open=True, level=1)
    fields.update(last_state=last_state, **columns)
    fields["events"] = [EventView(T0, kind, detail) for kind, detail in events]
    return TicketView(**fields)


def bridge(*channels: str, name: str = f"call-{CALLER}") -> BridgeInfo:
    return BridgeInfo("b-1", name, channels)


def resumed(node: str, **facts: Any) -> tuple[str, CallFacts]:
    return node, CallFacts(resumed=True, **facts)


RECORDING = ("recording_started", {"name": "q-7"})
SPEAKING = ("voicemail_recording", {"name": "vm-7-a"})
SAVED = ("voicemail_left", {"message": 12})
NUMBER_GIVEN = ("callback_number", {"source": "caller_id"})

FROM_START = ("hours", CallFacts())  # heard nothing yet: served as if new, answered if need be

# (case, ticket, bridge the caller is in, operator legs found, expected action, expected
#  (node, facts) to resume at, bridge to leave first)
CASES: list[
    tuple[str, TicketView | None, BridgeInfo | None, set[str], Action, tuple[str, CallFacts] | None, str | None]
] = [
    ("no ticket: a new call", None, None, set(), Action.NEW_CALL, None, None),
    ("ticket closed: hang up", ticket("ended", open=False), None, set(), Action.HANG_UP, None, None),
    (
        "waiting in the queue keeps its admission",
        ticket("queue:queue", queue_result="waiting"),
        None,
        set(),
        Action.RESUME,
        resumed("queue", admitted=True),
        None,
    ),
    (
        "told the cap was reached goes on to voicemail with that reason",
        ticket("queue:queue", queue_result="cap"),
        None,
        set(),
        Action.RESUME,
        resumed("voicemail_busy", voicemail_reason="cap"),
        None,
    ),
    (
        "the operator left during the outage: the survey, with them",
        ticket("queue:queue", queue_result="answered", operator_id=3),
        None,
        set(),
        Action.RESUME,
        resumed("survey", operator_id=3),
        None,
    ),
    (
        "operator's leg gone, caller alone in the bridge: leaves it for the survey",
        ticket("queue:queue", queue_result="answered", operator_id=3),
        bridge(CALLER),
        set(),
        Action.RESUME,
        resumed("survey", operator_id=3),
        "b-1",
    ),
    (
        "in the menu: the menu again",
        ticket("menu:menu"),
        None,
        set(),
        Action.RESUME,
        resumed("menu"),
        None,
    ),
    ("a node the flow no longer has: lost", ticket("menu:old_menu"), None, set(), Action.CLOSE_LOST, None, None),
    ("never past the start: from the start", ticket("started"), None, set(), Action.RESUME, FROM_START, None),
    ("opened, no state yet: from the start", ticket(""), None, set(), Action.RESUME, FROM_START, None),
    ("hanging up already: lost", ticket("hangup:menu"), bridge(CALLER), set(), Action.CLOSE_LOST, None, "b-1"),
    (
        "a message being recorded is kept",
        ticket("voicemail:voicemail_busy", SPEAKING),
        None,
        set(),
        Action.RESUME,
        resumed("voicemail_busy", resume_recording="vm-7-a"),
        None,
    ),
    (
        "a message saved is not recorded again; only the number is asked",
        ticket("voicemail:voicemail_busy", SPEAKING, SAVED),
        None,
        set(),
        Action.RESUME,
        resumed("voicemail_busy", resume_message=12),
        None,
    ),
    (
        "a message saved with its number: the node starts afresh",
        ticket("voicemail:voicemail_busy", SPEAKING, SAVED, NUMBER_GIVEN),
        None,
        set(),
        Action.RESUME,
        resumed("voicemail_busy"),
        None,
    ),
    (
        "in the voicemail after the cap the reason is read back from the queue result",
        ticket("voicemail:voicemail_busy", SPEAKING, queue_result="cap"),
        None,
        set(),
        Action.RESUME,
        resumed("voicemail_busy", voicemail_reason="cap", resume_recording="vm-7-a"),
        None,
    ),
    (
        "the closed line's voicemail keeps the node's own reason",
        ticket("voicemail:voicemail_closed", line_state="outside_hours"),
        None,
        set(),
        Action.RESUME,
        resumed("voicemail_closed"),
        None,
    ),
    (
        "in the survey: with the operator who answered",
        ticket("survey:survey", operator_id=3),
        None,
        set(),
        Action.RESUME,
        resumed("survey", operator_id=3),
        None,
    ),
]


@pytest.mark.parametrize(
    ("ticket_", "bridge_", "legs", "action", "where", "leave"),
    [case[1:] for case in CASES],
    ids=[case[0] for case in CASES],
)
def test_what_happens_to_a_call_found_after_a_restart(
    flow: Flow,
    ticket_: TicketView | None,
    bridge_: BridgeInfo | None,
    legs: set[str],
    action: Action,
    where: tuple[str, CallFacts] | None,
    leave: str | None,
) -> None:
    plan = plan_call(flow, CALLER, ticket_, bridge_, legs)
    assert plan.action is action
    assert plan.leave_bridge == leave
    assert plan.rejoin is None
    if where is None:
        assert plan.resume is None
        assert plan.reason == (LOST_ON_RESTART if action is Action.CLOSE_LOST else None)
    else:
        assert plan.resume is not None and (plan.resume.node, plan.resume.facts) == where


def test_still_talking_goes_on_in_the_same_bridge_with_the_recording_it_was_making(flow: Flow) -> None:
    talking = ticket("queue:queue", RECORDING, queue_result="answered", operator_id=3)
    plan = plan_call(flow, CALLER, talking, bridge(CALLER, "op-1"), {"op-1", "op-2"})
    assert plan.action is Action.REJOIN
    assert plan.rejoin == RejoinTarget("b-1", ("op-1",), 3, "q-7")
    # if the operator cannot be taken back, the caller leaves the bridge for the survey
    assert plan.otherwise == CallPlan(
        Action.RESUME, resume=Resume(talking, "survey", CallFacts(resumed=True, operator_id=3)), leave_bridge="b-1"
    )
    kept = ticket("queue:queue", RECORDING, ("recording_kept", {"name": "q-7"}), queue_result="answered", operator_id=3)
    rejoin = plan_call(flow, CALLER, kept, bridge(CALLER, "op-1"), {"op-1"}).rejoin
    assert rejoin is not None and rejoin.recording is None


@pytest.mark.parametrize(
    ("case", "talking", "legs"),
    [
        ("no operator on the ticket", ticket("queue:queue", queue_result="answered"), {"op-1"}),
        ("not in the queue node", ticket("survey:survey", operator_id=3), {"op-1"}),
        ("the bridge holds no operator leg of ours", ticket("queue:queue", operator_id=3), set()),
    ],
)
def test_no_conversation_to_go_on_with(flow: Flow, case: str, talking: TicketView, legs: set[str]) -> None:
    assert plan_call(flow, CALLER, talking, bridge(CALLER, "op-1"), legs).action is not Action.REJOIN, case


def test_leftover_bridges_are_ours_with_fewer_than_two_channels_and_none_served_here() -> None:
    found = [
        BridgeInfo("b-empty", "call-a", ()),
        BridgeInfo("b-alone", "call-b", ("c-2",)),
        BridgeInfo("b-served", "call-c", ("c-3",)),
        BridgeInfo("b-talking", "call-d", ("c-4", "op-4")),
        BridgeInfo("b-other", "conference", ()),
    ]
    assert idle_bridges(found, {"c-3"}) == ["b-empty", "b-alone"]


def test_a_bridge_being_set_up_for_a_call_served_here_is_not_a_leftover() -> None:
    """Medium soak run 6: a caller resumed in the queue after a kill -9 was offered and answered
    within 90 ms; the recovery's sweep listed the new conversation's bridge before its channels
    were added and destroyed it, and the caller talked to nobody for 19 s."""
    found = [
        BridgeInfo("b-new", conversation_bridge("c-5"), ()),
        BridgeInfo("b-operator-first", conversation_bridge("c-6"), ("op-6",)),
        BridgeInfo("b-left", conversation_bridge("c-7"), ()),
    ]
    assert idle_bridges(found, {"c-5", "c-6"}) == ["b-left"]


def test_a_conversation_bridge_is_named_for_its_call_within_the_pbx_limit() -> None:
    assert conversation_bridge("c-1") == "call-c-1"
    assert len(conversation_bridge("x" * 100)) == 60


def test_open_tickets_of_calls_neither_alive_nor_served_are_lost() -> None:
    gone, alive, served = (
        ticket("menu:menu", call_uid="c-1"),
        ticket("menu:menu", call_uid="c-2"),
        ticket("menu:menu", call_uid="c-3"),
    )
    assert lost_tickets([gone, alive, served], live={"c-2"}, serving={"c-3"}) == [gone]


def test_a_message_recorded_while_no_engine_watched_is_the_callers(flow: Flow) -> None:
    """The soak killed the engine while callers spoke their messages; they finished and hung up
    before the standby took over, and their tickets were closed as lost with no message."""
    after_queue = ticket("voicemail:voicemail", SPEAKING, queue_result="max_wait", topic="citizens")
    assert message_left_while_down(flow, after_queue) == LostMessage("vm-7-a", "citizens", VoicemailReason.MAX_WAIT)
    saved = ticket("voicemail:voicemail", SPEAKING, SAVED, queue_result="max_wait")
    assert message_left_while_down(flow, saved) is None  # saved already: the step got that far
    assert message_left_while_down(flow, ticket("menu:menu")) is None
    closed = ticket("voicemail:voicemail_closed", SPEAKING)  # no queue: the node says why
    assert message_left_while_down(flow, closed) == LostMessage("vm-7-a", "general", VoicemailReason.CLOSED)
