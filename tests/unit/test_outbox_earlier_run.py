"""An engine's outbox replayed on its next run, after another engine served its calls, and a write
the database will not take: the soak's full run 8 (finding 68), where an engine fenced while it
served calls on its outbox replayed, on its next turn, a second message for a ticket the other
engine had given one; the replay failed on it every two seconds for the rest of the run while
every new call's ticket waited behind it (146 calls, 281 messages never reached the store)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from ivr.acd.cap import add_admission
from ivr.api.deps import Health
from ivr.schema.tickets import DailyAdmissions, SurveyAnswer, Ticket, TicketEvent, Voicemail
from ivr.tickets.commands import Command
from ivr.tickets.db import make_engine, upgrade
from ivr.tickets.outbox import Outbox
from ivr.tickets.store import CallClosing, NewCall, SqlTicketStore

T0 = datetime(2027, 3, 12, 15, 44, tzinfo=UTC)
DAY = T0.date()


def _open(uid: str, at: datetime) -> Command:
    args = {"call_uid": uid, "did": "800000039", "caller_number": "3331234567", "caller_name": None}
    return Command("ticket.open", {**args, "started_at": at, "timezone": "Europe/Rome"})


def _message(ticket_id: int, name: str, seconds: float, at: datetime) -> Command:
    return Command(
        "voicemail.new_message",
        {
            "ticket_id": ticket_id,
            "box": "employers",
            "reason": "max_wait",
            "asterisk_name": name,
            "recording_id": None,
            "duration_s": seconds,
            "speech_s": seconds,
            "empty": seconds == 0,
            "ended_by": "hangup",
            "at": at,
        },
    )


def _close(ticket_id: int, outcome: str, reason: str, state: str, at: datetime) -> Command:
    args: dict[str, Any] = {"ticket_id": ticket_id, "ended_at": at, "outcome": outcome}
    return Command("ticket.close", {**args, "end_reason": reason, "last_state": state})


def _scalar(db: Engine, query: Any) -> Any:
    with Session(db) as session:
        return session.scalar(query)


@pytest.fixture
def db(db_url: str) -> Iterator[Engine]:
    engine = make_engine(db_url)
    upgrade(engine)
    yield engine
    engine.dispose()


async def _replayed(store: SqlTicketStore, timeout: float = 20.0) -> None:
    await store.start()
    for _ in range(int(timeout / 0.1)):
        if not store.degraded:
            return
        await asyncio.sleep(0.1)
    raise AssertionError("the outbox was never replayed: the engine stayed on it")


async def test_an_earlier_runs_outbox_is_replayed_around_what_another_engine_did_since(
    db: Engine, tmp_path: Path
) -> None:
    path = tmp_path / "outbox.db"
    live = SqlTicketStore(db)  # the ticket store as both engines reach it while the database is up
    ticket_x = await live.open_call(NewCall("call-x", T0, "3331234567", None, "800000039"))
    await live.stop()

    # The earlier run, riding a database outage on its outbox until it was fenced: call X went to
    # voicemail and left 12 s; call Y began and ended in the outage; call Z began in it.
    outbox = Outbox(path)
    outbox.append("t1", Command("ticket.update", {"ticket_id": ticket_x, "columns": {"consent": "yes", "topic": "x"}}))
    outbox.append("t1", Command("cap.add", {"day": DAY, "ticket_id": ticket_x, "at": T0 + timedelta(seconds=20)}))
    outbox.append("t1", _message(ticket_x, "vm-x-1", 12.0, T0 + timedelta(seconds=90)))
    outbox.append("t1", _close(ticket_x, "voicemail", "voicemail:max_wait", "voicemail:vm", T0 + timedelta(seconds=95)))
    y = outbox.append("t2", _open("call-y", T0 + timedelta(seconds=30)))
    outbox.append("t2", Command("cap.add", {"day": DAY, "ticket_id": -y, "at": T0 + timedelta(seconds=40)}))
    outbox.append("t2", _message(-y, "vm-y-1", 8.0, T0 + timedelta(seconds=60)))
    outbox.append("t2", _close(-y, "voicemail", "voicemail:max_wait", "voicemail:vm", T0 + timedelta(seconds=70)))
    z = outbox.append("t3", _open("call-z", T0 + timedelta(seconds=80)))
    answer = {"operator_id": None, "question": "q1", "answer": 5, "at": T0 + timedelta(seconds=85)}
    outbox.append("t3", Command("survey.answer", {"ticket_id": -z, **answer}))
    outbox.append("t3", Command("ticket.event", {"ticket_id": -z, "kind": "menu_choice", "at": T0, "detail": None}))
    outbox.close()

    # The engine that took over: it found X in the voicemail with its recording on the channel
    # (cut short: 0 s), admitted X in the queue before that, and gave call Z a ticket of its own.
    other = SqlTicketStore(db)
    with Session(db) as session, session.begin():
        add_admission(session, day=DAY, ticket_id=ticket_x, at=T0 + timedelta(seconds=20))
    await other.execute("voicemail.new_message", **_message(ticket_x, "vm-x-1", 0.0, T0 + timedelta(seconds=99)).args)
    closing = CallClosing(T0 + timedelta(seconds=100), "lost", "lost_in_voicemail", "voicemail:vm")
    await other.close_call(ticket_x, closing)
    taken = await other.open_call(NewCall("call-z", T0 + timedelta(seconds=81), "3331234567", None, "800000039"))
    await other.execute("survey.answer", ticket_id=taken, **{**answer, "answer": 4})
    await other.stop()

    # The fenced engine's next run finds its outbox and replays it, not stuck on any of it.
    again = SqlTicketStore(db, outbox=Outbox(path))
    assert again.degraded
    await _replayed(again)
    assert again.writer.outbox is not None
    assert (again.writer.outbox.count(), again.writer.outbox.rejected_count()) == (0, 0)

    # X: the message the other engine kept stays the one message; its close stands, the consent
    # it never knew is added; admitted once, by whichever engine.
    assert _scalar(db, select(func.count()).select_from(Voicemail).where(Voicemail.ticket_id == ticket_x)) == 1
    with Session(db) as session:
        x = session.get(Ticket, ticket_x)
        assert x is not None
        assert (x.open, x.outcome, x.end_reason, x.consent, x.topic) == (False, "lost", "lost_in_voicemail", "yes", "x")
        y_ticket = session.scalar(select(Ticket).where(Ticket.call_uid == "call-y"))
        assert y_ticket is not None and (y_ticket.open, y_ticket.outcome) == (False, "voicemail")
        assert session.scalar(select(Voicemail.duration_s).where(Voicemail.ticket_id == y_ticket.id)) == 8.0
        # Z: one ticket, the other engine's, with the earlier run's event and its first answer.
        assert session.scalar(select(func.count()).select_from(Ticket).where(Ticket.call_uid == "call-z")) == 1
        kinds = session.scalars(select(TicketEvent.kind).where(TicketEvent.ticket_id == taken)).all()
        assert "menu_choice" in kinds
        answers = session.scalars(select(SurveyAnswer.answer).where(SurveyAnswer.ticket_id == taken)).all()
        assert answers == [4]
        # The cap: X once and Y once.
        assert session.scalar(select(DailyAdmissions.admitted).where(DailyAdmissions.day == DAY)) == 2
    await again.stop()


async def test_a_write_the_database_will_not_take_is_set_aside_and_the_rest_goes_on(db: Engine, tmp_path: Path) -> None:
    path = tmp_path / "outbox.db"
    outbox = Outbox(path)
    a = outbox.append("t1", _open("call-a", T0))
    outbox.append("t1", Command("ticket.event", {"ticket_id": -a, "kind": "menu_choice", "at": T0, "detail": None}))
    bad = outbox.append("t1", _message(987654, "vm-nobody", 3.0, T0))  # a ticket that does not exist
    outbox.append("t1", Command("voicemail.set_callback", {"message_id": -bad, "number": "3331234567", "source": "x"}))
    outbox.append("t1", _close(-a, "caller_hangup", "caller_hangup_in_menu", "menu:menu", T0 + timedelta(seconds=9)))
    b = outbox.append("t2", _open("call-b", T0 + timedelta(seconds=5)))
    outbox.append("t2", _close(-b, "caller_hangup", "caller_hangup_in_menu", "menu:menu", T0 + timedelta(seconds=7)))
    outbox.close()

    store = SqlTicketStore(db, outbox=Outbox(path))
    await _replayed(store)
    assert store.writer.outbox is not None
    assert store.writer.outbox.count() == 0
    rejected = store.writer.outbox.rejected()
    assert [(p.command.name, p.row) for p, _, _ in rejected] == [
        ("voicemail.new_message", bad),
        ("voicemail.set_callback", bad + 1),
    ]
    assert rejected[0][1].startswith("IntegrityError: ") and "foreign key" in rejected[0][1].lower()
    assert "never replayed" in rejected[1][1]
    with Session(db) as session:
        calls = session.execute(select(Ticket.call_uid, Ticket.open).order_by(Ticket.call_uid)).all()
        assert [tuple(c) for c in calls] == [("call-a", False), ("call-b", False)]
        a_id = session.scalar(select(Ticket.id).where(Ticket.call_uid == "call-a"))
        kinds = session.scalars(select(TicketEvent.kind).where(TicketEvent.ticket_id == a_id)).all()
        assert sorted(kinds) == ["call_ended", "call_started", "menu_choice"]
        assert session.scalar(select(func.count()).select_from(Voicemail)) == 0
    await store.stop()


def test_a_write_set_aside_makes_the_engine_degraded_until_a_person_looks() -> None:
    def health(rejected: int) -> dict[str, Any]:
        return Health(
            ari_connected=lambda: True,
            ami_logged_in=lambda: True,
            calls_in_progress=lambda: 0,
            store_degraded=lambda: False,
            store_outages=lambda: 0,
            recordings={},
            role=lambda: {"role": "active"},
            outbox_rejected=lambda: rejected,
        ).report()

    assert health(0)["status"] == "ok"
    report = health(2)
    assert report["status"] == "degraded" and report["store"]["outbox_rejected"] == 2
