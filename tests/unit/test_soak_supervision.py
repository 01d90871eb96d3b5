"""The soak's team leader on a live call (the driver's `supervise`), and check 34 broken on
purpose: a session the console started but the audit lacks, one that never ends, ends twice,
lists other modes than were asked, outlives its call, puts the supervisor's phone on the ticket,
or was never asked for; a fault on during a session leaves it unjudged."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from ivr.lab.soak.action_journal import ActionRecord, ActionResult
from ivr.lab.soak.actions import ActionKind as K
from ivr.lab.soak.actions import ActionModel, plan_actions
from ivr.lab.soak.checks_supervision import check_supervision
from ivr.lab.soak.days import service_days
from ivr.lab.soak.driver_http import Answer
from ivr.lab.soak.evidence import Fault, SoakEvidence
from ivr.lab.soak.journal import CallRecord
from ivr.lab.soak.store_view import StoreView
from ivr.schema.console import AuditEntry
from ivr.schema.tickets import Ticket, TicketEvent
from tests.unit.test_soak_driver import FakeConsole, act, make

AT = datetime(2027, 3, 1, 9, 0, tzinfo=UTC)
OFFSET_S = 3600.0  # the engines' clock runs an hour ahead of the soak's


async def test_the_leader_listens_to_the_longest_call_coaches_then_leaves(tmp_path: Path) -> None:
    console = FakeConsole(
        operators=[
            {"login": "soak01", "state": "busy", "since_s": 40.0, "ticket": 11},
            {"login": "soak02", "state": "paused"},  # the leader (the cast's conference role), free
        ]
    )
    for command in ("start", "mode", "end"):
        console.on("POST", f"/console/supervision/soak01/{command}", Answer(200, json={"session": None}))
    driver = make(tmp_path, console)
    await driver.carry_out(act(K.SUPERVISE, mode_s=0.01))
    assert [(p, d) for _, user, p, d in console.sent if p.startswith("/console/supervision")] == [
        ("/console/supervision/soak01/start", {"mode": "listen"}),
        ("/console/supervision/soak01/mode", {"mode": "coach"}),
        ("/console/supervision/soak01/end", {}),
    ]
    record = driver.records[-1]
    assert (record.result, record.user, record.operator, record.ticket) == (ActionResult.DONE, "soak02", "soak01", 11)
    assert record.params == {"mode_s": 0.01, "coach": 200, "end": 200}  # the plan's, and what the line said

    console.operators[1]["state"] = "busy"  # the leader on a call of their own: their phone is not free
    await driver.carry_out(act(K.SUPERVISE, mode_s=0.01))
    assert driver.records[-1].result is ActionResult.SKIPPED and "not free" in driver.records[-1].answer


def test_one_session_a_day_drawn_apart_from_the_rest_of_the_plan() -> None:
    days = service_days(2, 1800.0)
    plain = plan_actions(ActionModel(supervisions_per_day=0), 1, 1700.0, days, ["soak01"], ["citizens"])
    with_it = plan_actions(ActionModel(), 1, 1700.0, days, ["soak01"], ["citizens"])
    assert [a for a in with_it if a.kind is not K.SUPERVISE] == plain  # the rest of the plan unchanged
    assert len([a for a in with_it if a.kind is K.SUPERVISE]) == 2


def asked(result: ActionResult = ActionResult.DONE, **params: Any) -> ActionRecord:
    return ActionRecord(kind="supervise", sent_at=AT, done_at=AT + timedelta(seconds=9), offset_s=OFFSET_S,
                        result=result, status=200, user="soak05", operator="soak01", ticket=11,
                        params=params or {"coach": 200, "end": 200})  # fmt: skip


def entry(n: int, action: str, after_s: float, login: str = "soak05", **detail: Any) -> AuditEntry:
    return AuditEntry(id=n, at=AT + timedelta(seconds=OFFSET_S + after_s), login=login, action=action,
                      object_kind="operator", object_id="soak01",
                      detail={"ticket": 11, "session": 1, **detail})  # fmt: skip


def session(end_s: float = 8.5, modes: list[str] | None = None) -> list[AuditEntry]:
    return [
        entry(1, "supervision_started", 0.2, mode="listen", phone="soak05"),
        entry(2, "supervision_mode", 4.3, mode="coach", before="listen"),
        entry(
            3, "supervision_ended", end_s, reason="ended_by_supervisor", seconds=8.3, modes=modes or ["listen", "coach"]
        ),
    ]


def world(
    entries: list[AuditEntry],
    *records: ActionRecord,
    call_end_s: float = 30.0,
    events: list[TicketEvent] | None = None,
    faults: list[Fault] | None = None,
) -> tuple[SoakEvidence, StoreView]:
    view = StoreView()
    view.supervision = entries
    end = TicketEvent(ticket_id=11, kind="operator_call_ended", at=AT + timedelta(seconds=OFFSET_S + call_end_s))
    view.events[11] = [*(events or []), end]
    ev = SoakEvidence(journal=[], db_url="", voicemail_dir=Path("."), recordings_dir=Path("."), daily_cap=400,
                      ended_at=AT, actions=list(records) or [asked()], faults=faults or [])  # fmt: skip
    return ev, view


def details(ev: SoakEvidence, view: StoreView) -> list[str]:
    return [v.detail for v in check_supervision(ev, view).violations]


def test_a_session_kept_as_asked_passes_and_each_break_is_named() -> None:
    assert details(*world(session())) == []
    assert details(*world([])) == ["soak05 started following soak01 (the console said so): 0 in the audit log"]
    assert details(*world(session()[:2])) == ["soak05 on soak01's call: 0 ends in the audit log"]
    twice = [*session(), entry(4, "supervision_ended", 9.0, reason="ended_by_supervisor", modes=["listen", "coach"])]
    assert details(*world(twice)) == ["soak05 on soak01's call: 2 ends in the audit log"]
    assert details(*world(session(modes=["listen"]))) == [
        "soak05 on soak01's call: ended with modes ['listen'], the log asked for ['listen', 'coach']"
    ]
    assert details(*world(session(), call_end_s=2.0)) == [
        "soak05 on soak01's call: still on 6 s after the call's operator_call_ended"
    ]
    confirmed = TicketEvent(ticket_id=11, kind="offer_confirmed", at=AT + timedelta(seconds=OFFSET_S + 1),
                            detail={"operator": "soak05", "key": "1"})  # fmt: skip
    assert details(*world(session(), events=[confirmed])) == [
        "soak05 on soak01's call: the supervisor's phone is on the ticket as offer_confirmed at 10:00:01"
    ]
    stray = [*session(), entry(5, "supervision_started", 600.0, login="soak07", mode="listen")]
    assert details(*world(stray)) == ["soak07 followed soak01 at 10:10:00: a session nobody asked for"]


def test_a_fault_during_a_session_leaves_it_unjudged() -> None:
    killed = [Fault(name="engine_kill", at=AT + timedelta(seconds=5), detail="")]
    ev, view = world(session()[:2], faults=killed)
    result = check_supervision(ev, view)
    assert result.violations == [] and "1 sessions with a fault on: not judged" in result.notes


def test_a_caller_who_heard_the_supervisor_while_listened_to_is_a_violation() -> None:
    heard = CallRecord(caller="3330000011", carrier_channel="ch-1", journey="operator/citizens/it", placed_at=AT,
                       ended_at=AT + timedelta(seconds=40), answered=True,
                       operators_heard=["soak01", "soak05"])  # fmt: skip
    ev, view = world(session())
    view.tickets[11] = Ticket(id=11, channel="phone", caller_number="3330000011")
    ev.journal[:] = [heard]
    assert details(ev, view) == ["soak05 on soak01's call: the caller heard the supervisor's voice (listen, coach)"]
    joined = {"operator": "soak01", "joined": "soak05"}
    conferenced = TicketEvent(ticket_id=11, kind="conference_joined", at=AT, detail=joined)
    view.events[11].insert(0, conferenced)  # the leader was on this call as a colleague: heard rightly
    assert details(ev, view) == []


async def test_the_leader_waits_for_a_free_moment_then_follows(tmp_path: Path) -> None:
    console = FakeConsole(
        operators=[
            {"login": "soak01", "state": "busy", "since_s": 40.0, "ticket": 11},
            {"login": "soak02", "state": "wrap_up"},  # the leader, finishing a call of their own
        ]
    )
    for command in ("start", "mode", "end"):
        console.on("POST", f"/console/supervision/soak01/{command}", Answer(200, json={"session": None}))
    driver = make(tmp_path, console)

    async def free_soon() -> None:
        await asyncio.sleep(0.2)
        console.operators[1].update(state="paused", reason="Supervisione")  # the call over, set aside

    console.on("POST", "/console/desk/presence", Answer(200, json={"state": "paused"}), Answer(200, json={}))
    freeing = asyncio.ensure_future(free_soon())
    await driver.carry_out(act(K.SUPERVISE, mode_s=0.01, wait_s=5.0))
    await freeing
    assert driver.records[-1].result is ActionResult.DONE and driver.records[-1].operator == "soak01"
    # The leader's phone also takes queue calls: set aside (paused) before, back to available after.
    steps = [
        (path.rsplit("/", 1)[-1], data.get("presence")) for method, _, path, data in console.sent if method == "POST"
    ]
    assert steps == [("presence", "paused"), ("start", None), ("mode", None), ("end", None), ("presence", "available")]


async def test_a_leader_already_paused_stays_paused(tmp_path: Path) -> None:
    console = FakeConsole(
        operators=[
            {"login": "soak01", "state": "busy", "since_s": 40.0, "ticket": 11},
            {"login": "soak02", "state": "paused"},
        ]
    )
    for command in ("start", "mode", "end"):
        console.on("POST", f"/console/supervision/soak01/{command}", Answer(200, json={"session": None}))
    driver = make(tmp_path, console)
    await driver.carry_out(act(K.SUPERVISE, mode_s=0.01, wait_s=5.0))
    assert driver.records[-1].result is ActionResult.DONE
    assert not [path for _, _, path, _ in console.sent if path.endswith("/presence")]


async def test_a_pause_of_the_plan_during_the_session_is_left_as_it_is(tmp_path: Path) -> None:
    leader = {"login": "soak02", "state": "available"}
    console = FakeConsole(operators=[{"login": "soak01", "state": "busy", "since_s": 40.0, "ticket": 11}, leader])
    for command in ("start", "mode", "end"):
        console.on("POST", f"/console/supervision/soak01/{command}", Answer(200, json={"session": None}))
    console.on("POST", "/console/desk/presence", Answer(200, json={"state": "paused"}))
    driver = make(tmp_path, console)

    async def plans_pause() -> None:
        await asyncio.sleep(0.1)
        leader.update(state="paused", reason="Pranzo")  # the plan's own pause, during the session

    pausing = asyncio.ensure_future(plans_pause())
    await driver.carry_out(act(K.SUPERVISE, mode_s=0.2, wait_s=5.0))
    await pausing
    assert driver.records[-1].result is ActionResult.DONE
    presence = [data["presence"] for _, _, path, data in console.sent if path.endswith("/presence")]
    assert presence == ["paused"]
