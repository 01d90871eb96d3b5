"""Operator time: a scripted day of one operator's states, kept by the distributor as it moves
them and reported per local day to the second, on SQLite and on a real PostgreSQL."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy.orm import Session

from ivr.acd.config import QueueSettings
from ivr.acd.distributor import Distributor
from ivr.acd.operators import OperatorInfo
from ivr.commands.stats import cmd_operator_time
from ivr.schema.presence import OperatorStateChange
from ivr.schema.tickets import Ticket, TicketEvent
from ivr.stats.operator_time import operator_days, to_csv, to_table
from ivr.tickets.db import make_engine, upgrade
from ivr.tickets.store import SqlTicketStore

ROME = ZoneInfo("Europe/Rome")
DAY = date(2026, 3, 3)


def at(hms: str, day: date = DAY) -> datetime:
    return datetime.combine(day, datetime.strptime(hms, "%H:%M:%S").time(), ROME)


class StepClock:
    """The service's clock, moved by the script."""

    def __init__(self, start: datetime) -> None:
        self.moment = start

    def now(self) -> datetime:
        return self.moment.astimezone(UTC)

    def monotonic(self) -> float:
        return self.moment.timestamp()


class NoOffers:
    async def dial(self, *args: Any, **kw: Any) -> Any:
        raise AssertionError("no offer is made by the queue in this script")


def operator(login: str, presence: str, when: datetime) -> OperatorInfo:
    return OperatorInfo(1, login, login, True, None, (), presence, None, when)


async def test_a_scripted_day_is_reported_to_the_second(db_url: str) -> None:
    db = make_engine(db_url)
    upgrade(db)
    store = SqlTicketStore(db, tz=ROME)
    clock = StepClock(at("08:00:00"))

    def kept(login: str, state: str, reason: str | None, when: datetime) -> None:
        store.post("operator.state", login=login, state=state, reason=reason, at=when)

    settings = QueueSettings.model_validate({"wrap_up_s": 600})  # the script ends the wrap-up itself
    dist = Distributor(NoOffers(), settings, clock, history=kept)  # type: ignore[arg-type]
    dist.sync([operator("anna", "available", clock.now()), operator("bea", "logged_out", clock.now())])
    clock.moment = at("09:15:00")
    anna = dist.reserve("anna", 1)  # a colleague's call rings her
    clock.moment = at("09:15:12")
    dist.engage(anna)
    clock.moment = at("09:22:42")
    dist.finished(anna, 450.0)
    clock.moment = at("09:23:12")
    dist._wrap_up_done("anna")  # thirty seconds of wrap-up
    clock.moment = at("12:30:00")
    await dist.set_presence("anna", "paused", "pranzo")
    clock.moment = at("13:15:30")
    await dist.set_presence("anna", "available")
    clock.moment = at("16:00:00")
    await dist.set_presence("anna", "logged_out")
    clock.moment = at("23:30:00")  # bea works across midnight
    await dist.set_presence("bea", "available")
    clock.moment = at("00:30:00", DAY + timedelta(days=1))
    await dist.set_presence("bea", "logged_out")
    await store.writer.barrier()
    with Session(db) as s, s.begin():  # the call's timeline: the offer, the answer, 40 s on hold
        ticket = Ticket(channel="phone", started_at=at("09:14:00"), open=False, local_day=DAY, local_week=DAY,
                        local_month=DAY.replace(day=1))  # fmt: skip
        s.add(ticket)
        s.flush()
        for kind, when, detail in (
            ("offer", "09:15:00", {"operator": "anna"}),
            ("operator_answered", "09:15:12", {"operator": "anna"}),
            ("call_unheld", "09:20:00", {"operator": "anna", "held_s": 40.0}),
        ):
            s.add(TicketEvent(ticket_id=ticket.id, at=at(when), kind=kind, detail=detail))
    await store.stop()

    with Session(db) as s:
        assert s.query(OperatorStateChange).filter_by(login="anna").count() == 8  # sync + 7 moves
        rows = operator_days(s, DAY, DAY + timedelta(days=1), ROME, at("12:00:00", DAY + timedelta(days=2)))
    by = {(r.login, r.day): r for r in rows}
    a = by[("anna", DAY)]
    assert a.logged_in_s == 8 * 3600  # 08:00 to 16:00
    assert (a.ringing_s, a.talking_s, a.wrap_up_s) == (12, 450, 30)
    assert a.paused_s == 2730 and a.paused_by_reason == {"pranzo": 2730}
    assert a.available_s == 8 * 3600 - 2730 - 450 - 12 - 30
    assert (a.offers, a.answered, a.missed, a.on_hold_s) == (1, 1, 0, 40.0)
    assert a.handling_s == 480
    assert (by[("bea", DAY)].logged_in_s, by[("bea", DAY + timedelta(days=1))].logged_in_s) == (1800, 1800)
    assert ("anna", DAY + timedelta(days=1)) not in by  # logged out all day: no row

    # The day as far as it has gone: at 12:00 anna has been in since 08:00.
    with Session(db) as s:
        (early,) = [r for r in operator_days(s, DAY, DAY, ROME, at("12:00:00")) if r.login == "anna"]
    assert early.logged_in_s == 4 * 3600 and early.paused_s == 0
    assert "anna" in to_table(rows) and "paused, pranzo: 0:45:30" in to_table(rows)
    assert to_csv(rows).splitlines()[1].startswith("2026-03-03,anna,28800.0,")
    db.dispose()


def test_the_command_prints_the_report(tmp_path: Any, capsys: pytest.CaptureFixture[str]) -> None:
    from argparse import Namespace

    from tests.console_support import lab_settings

    settings = lab_settings(tmp_path)
    db = make_engine(settings.database_url)
    upgrade(db)
    with Session(db) as s, s.begin():
        s.add(OperatorStateChange(login="cleo", state="available", reason=None, at=at("10:00:00")))
        s.add(OperatorStateChange(login="cleo", state="paused", reason="=1+1", at=at("10:30:00")))  # typed by her
        s.add(OperatorStateChange(login="cleo", state="logged_out", reason=None, at=at("10:31:00")))
    db.dispose()
    assert cmd_operator_time(Namespace(start=DAY, to=DAY, format="csv"), settings) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[1].startswith("2026-03-03,cleo,1860.0,1800.0,")
    assert out[1].endswith(",'=1+1=60.0")  # a reason an operator typed stays text in a spreadsheet
