"""The checker's callback and language invariants (checks 13-18): each broken on purpose in the
world of tests/unit/soak_world.py, which keeps every promise, and seen to fail there."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from ivr.lab.soak.checker import run_checks
from ivr.lab.soak.journal import CallbackLeg, HungUpBy
from ivr.lab.soak.verdict import CheckResult
from ivr.schema.callbacks import QueuedCallback
from ivr.schema.tickets import Ticket, TicketEvent
from ivr.tickets.periods import local_keys
from tests.unit.soak_world import DAY2, SoakWorld, build_world

CALLBACK, SILENT = "+393330000005", "+393330000006"
NEW = (
    "callback_dialled",
    "callback_one_leg",
    "callback_number",
    "callback_order",
    "callback_heard_operator",
    "language",
)


@pytest.fixture
def world(db_url: str, tmp_path: Path) -> SoakWorld:
    return build_world(db_url, tmp_path)


def judged(world: SoakWorld) -> dict[str, CheckResult]:
    return {r.name: r for r in run_checks(world.evidence) if r.name in NEW}


def details(result: CheckResult) -> list[str]:
    return [v.detail for v in result.violations]


def leg(minutes: float, until: float | None, **kw: object) -> CallbackLeg:
    fields: dict[str, object] = {"number": "3331234567", "rang_at": DAY2 + timedelta(minutes=minutes), **kw}
    if until is not None:
        fields["ended_at"] = DAY2 + timedelta(minutes=until)
    return CallbackLeg.model_validate(fields)


def test_the_world_keeps_the_new_promises(world: SoakWorld) -> None:
    results = judged(world)
    assert sorted(results) == sorted(NEW)
    assert [name for name, r in results.items() if not r.passed] == []


def test_a_callback_dialled_by_the_store_that_never_rang_the_citizen(world: SoakWorld) -> None:
    world.replace_call(CALLBACK, callback_legs=[])
    result = judged(world)["callback_dialled"]
    assert details(result) == ["queued callback 1 is completed, but the citizen's phone never rang"]
    assert result.violations[0].tickets == (world.ids[CALLBACK],)
    # Dialled only after the citizen stopped waiting: nothing witnessed it either way (a note).
    world.replace_call(CALLBACK, callback_waited_s=0.0)
    result = judged(world)["callback_dialled"]
    assert result.passed and "after the citizen stopped waiting" in result.notes[0]


def test_a_booked_callback_left_waiting(world: SoakWorld) -> None:
    with world.session() as s, s.begin():
        s.scalars(select(QueuedCallback)).one().state = "waiting"
    assert details(judged(world)["callback_dialled"]) == ["the citizen heard callback 1 booked; it was left waiting"]


def test_two_legs_at_once(world: SoakWorld) -> None:
    first = leg(4.8, 8.0, answered=True, heard_notice=True, heard_operator=True, operator="anna")
    world.replace_call(CALLBACK, callback_legs=[first, leg(9.0, 9.5, answered=True)])
    assert judged(world)["callback_one_leg"].passed  # one after the other
    world.replace_call(CALLBACK, callback_legs=[first, leg(6.0, 6.0, busy=True)])
    result = judged(world)["callback_one_leg"]
    assert details(result) == [
        f"3331234567 rang at {DAY2 + timedelta(minutes=6):%H:%M:%S} while another leg to it was up"
    ]
    assert result.violations[0].tickets == (world.ids[CALLBACK],)


def test_a_number_the_citizen_never_confirmed_or_the_line_refused(world: SoakWorld) -> None:
    world.replace_call(CALLBACK, callback_number="3339999999", refused_numbers=["3331234567"])
    assert details(judged(world)["callback_number"]) == [
        "the citizen confirmed 3339999999, the store keeps 3331234567",
        "the store keeps 3331234567, a number the line refused to the caller",
        "the line dialled 3331234567, which it had refused to the caller",
    ]
    world.replace_call(CALLBACK, callback_number="3331234567", refused_numbers=[])
    with world.session() as s, s.begin():
        s.scalars(select(QueuedCallback)).one().number = "899123456"
    world.replace_call(CALLBACK, callback_number="899123456")
    assert details(judged(world)["callback_number"]) == [
        "queued callback 1 keeps a refused number (premium or shared-cost number)",
        "the line dialled 3331234567; the citizen confirmed 899123456",
    ]


def _second_callback(world: SoakWorld, arrived_s: float, picked_s: float) -> int:
    """Another caller's callback of the same topic, placed `arrived_s` after the first one's call
    and picked `picked_s` after it."""
    at = DAY2 + timedelta(seconds=arrived_s)
    with world.session() as s, s.begin():
        t = Ticket(
            channel="phone",
            caller_number="+393330000099",
            started_at=at,
            open=False,
            topic="citizens",
            queue_result="callback",
            queued_at=at,
            **local_keys(at),
        )
        s.add(t)
        s.flush()
        s.add(
            QueuedCallback(
                ticket_id=t.id,
                number="3337777777",
                source="confirmed",
                topic="citizens",
                arrived_at=at,
                accepted_at=at + timedelta(seconds=20),
                local_day=DAY2.date(),
                state="completed",
                attempts=1,
                connected_at=DAY2 + timedelta(seconds=picked_s + 30),
                ended_at=DAY2 + timedelta(seconds=picked_s + 60),
            )
        )
        s.add(
            TicketEvent(ticket_id=t.id, at=DAY2 + timedelta(seconds=picked_s), kind="offer", detail={"callback": True})
        )
        return t.id


def test_a_callback_dialled_before_one_with_an_earlier_place(world: SoakWorld) -> None:
    second = _second_callback(world, arrived_s=60, picked_s=300)  # after the first (picked at 4 min): in order
    assert judged(world)["callback_order"].passed
    later = _second_callback(world, arrived_s=120, picked_s=180)  # picked at 3 min: before both
    result = judged(world)["callback_order"]
    assert [v.tickets for v in result.violations] == [(later, world.ids[CALLBACK], second)]
    assert "before 2 callbacks with earlier places" in details(result)[0]


def test_a_callback_that_lost_its_place(world: SoakWorld) -> None:
    with world.session() as s, s.begin():
        row = s.scalars(select(QueuedCallback)).one()
        row.arrived_at = row.accepted_at  # re-queued at the time of the request: sent to the back
    (detail,) = details(judged(world)["callback_order"])
    assert detail.startswith("queued callback 1 took the place of")


def test_a_citizen_who_heard_no_operator_on_a_connected_callback_and_the_reverse(world: SoakWorld) -> None:
    world.replace_call(CALLBACK, callback_legs=[leg(4.8, 8.0, answered=True, heard_notice=True)])
    assert details(judged(world)["callback_heard_operator"]) == [
        "callback 1 connected an operator; the citizen never heard one"
    ]
    with world.session() as s, s.begin():
        s.scalars(select(QueuedCallback)).one().ended_at = DAY2 + timedelta(minutes=5, seconds=2)
    result = judged(world)["callback_heard_operator"]
    assert result.passed and "too soon to judge" in result.notes[0]  # connected for 2 s only

    world.replace_call(CALLBACK, callback_legs=[leg(4.8, 8.0, answered=True, heard_operator=True, operator="bea")])
    with world.session() as s, s.begin():
        row = s.scalars(select(QueuedCallback)).one()
        row.ended_at = DAY2 + timedelta(minutes=8)
    assert details(judged(world)["callback_heard_operator"]) == ["the citizen heard bea; callback 1 was made by anna"]
    with world.session() as s, s.begin():
        s.scalars(select(QueuedCallback)).one().connected_at = None
        for e in s.scalars(select(TicketEvent).where(TicketEvent.kind == "callback_connected")):
            s.delete(e)
    assert details(judged(world)["callback_heard_operator"]) == ["the citizen heard bea; callback 1 never connected"]


def test_a_conversation_the_line_cut_off_is_neither_heard_nor_unheard(world: SoakWorld) -> None:
    """Full soak run 12, callback 7: connected a second before Asterisk restarted. The line now
    says so (a try `cut_off`, the callback dialled again): whatever the citizen heard of that
    conversation, it is judged by the attempts after it, not by the one the line lost."""

    def mark(result: str, connected: bool) -> None:
        with world.session() as s, s.begin():
            row = s.scalars(select(QueuedCallback)).one()
            row.connected_at, row.state = (row.connected_at if connected else None), "unreachable"
            tried = s.scalars(select(TicketEvent).where(TicketEvent.kind == "callback_try")).one()
            tried.detail = {**(tried.detail or {}), "result": result}

    world.replace_call(CALLBACK, callback_legs=[leg(4.8, 8.0, answered=True, heard_notice=True)])
    mark("cut_off", connected=False)
    result = judged(world)["callback_heard_operator"]
    assert result.passed and any("cut off" in n for n in result.notes)
    world.replace_call(CALLBACK, callback_legs=[leg(4.8, 8.0, answered=True, heard_operator=True, operator="anna")])
    assert judged(world)["callback_heard_operator"].passed
    mark("answered", connected=False)  # the same conversation the line did not say it lost
    world.replace_call(CALLBACK, callback_legs=[leg(4.8, 8.0, answered=True, heard_notice=True)])
    assert details(judged(world)["callback_heard_operator"]) == [
        "callback 1 connected an operator; the citizen never heard one"
    ]


def test_a_citizen_who_heard_the_operator_of_a_cut_conversation_heard_a_right_one(world: SoakWorld) -> None:
    """Full run 13, callback 7: 81 s with soak08, the line cut, the attempts after it made by
    soak05 found the citizen no longer answering: soak08 was a right operator to hear."""
    world.replace_call(CALLBACK, callback_legs=[leg(4.8, 8.0, answered=True, heard_operator=True, operator="bea")])
    assert details(judged(world)["callback_heard_operator"]) == ["the citizen heard bea; callback 1 was made by anna"]
    with world.session() as s, s.begin():
        ticket = world.ids[CALLBACK]
        at = DAY2 + timedelta(minutes=4, seconds=50)
        s.add(TicketEvent(ticket_id=ticket, at=at, kind="callback_connected", detail={"operator": "bea"}))
        s.add(TicketEvent(ticket_id=ticket, at=at + timedelta(seconds=81), kind="callback_try",
                          detail={"attempt": 0, "operator": "bea", "result": "cut_off"}))  # fmt: skip
    assert judged(world)["callback_heard_operator"].passed


def test_a_callback_talk_is_judged_until_the_questionnaire_not_until_the_attempt_ends(world: SoakWorld) -> None:
    """The attempt's end (`ended_at`) comes after the questionnaire the citizen is asked once the
    operator hung up: a 2-second conversation then a long questionnaire is too short for the ear
    (a soak operator's talk is mostly over by the time the two notices are done, so a callback's
    conversation is often seconds long); a longer conversation with no operator heard stays a
    violation."""
    world.replace_call(CALLBACK, callback_legs=[leg(4.8, 8.0, answered=True, heard_notice=True)])
    with world.session() as s, s.begin():
        ticket = s.get(Ticket, world.ids[CALLBACK])
        assert ticket is not None
        questions = {"questions": ["satisfaction"]}
        s.add(TicketEvent(ticket_id=ticket.id, at=DAY2 + timedelta(minutes=5, seconds=2), kind="survey_offered",
                          detail=questions))  # fmt: skip
    result = judged(world)["callback_heard_operator"]
    assert result.passed and "too soon to judge" in result.notes[0]

    with world.session() as s, s.begin():
        offered = s.scalars(select(TicketEvent).where(TicketEvent.kind == "survey_offered")).one()
        offered.at = DAY2 + timedelta(minutes=5, seconds=20)
    assert details(judged(world)["callback_heard_operator"]) == [
        "callback 1 connected an operator; the citizen never heard one"
    ]


def test_a_caller_who_chose_english_and_heard_italian_or_a_ticket_in_the_wrong_language(world: SoakWorld) -> None:
    world.replace_call(SILENT, language="en", language_key="9", language_heard="it")
    assert details(judged(world)["language"]) == ["pressed 9 for en, heard it"]
    world.replace_call(SILENT, language_heard="en")
    assert details(judged(world)["language"]) == ["the caller heard en, the ticket says it"]
    with world.session() as s, s.begin():
        s.get_one(Ticket, world.ids[SILENT]).language = "en"
    assert judged(world)["language"].passed
    world.replace_call(SILENT, language_heard="it", faults=["engine_kill"])  # the key lost in a fault
    assert details(judged(world)["language"]) == ["the caller heard it, the ticket says en"]


def test_a_leg_record_reads_back(tmp_path: Path) -> None:
    one = leg(1, 2, answered=True, survey_keys=["3"], hung_up_by=HungUpBy.ENGINE)
    assert CallbackLeg.model_validate_json(one.model_dump_json()) == one
