"""The soak's service notices: planned once a day with a draw of their own (the rest of the plan
unchanged), set and lifted by the driver through the console, lifted at the end if still on; and
check 33 broken on purpose: a caller during a notice not told it, a caller after its lift told
it, a notice nobody set."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from ivr.lab.soak.action_journal import ActionRecord, ActionResult
from ivr.lab.soak.actions import ActionKind
from ivr.lab.soak.checks_notices import check_notices
from ivr.lab.soak.driver_http import Answer
from ivr.lab.soak.driver_notices import live_notice, notice_text
from ivr.lab.soak.evidence import SoakEvidence
from ivr.lab.soak.journal import CallRecord
from ivr.lab.soak.store_view import StoreView
from ivr.schema.tickets import Ticket, TicketEvent
from tests.unit.test_soak_driver import FakeConsole, act, make

T0 = datetime(2026, 12, 7, 19, 0, tzinfo=UTC)


def page(notice_id: int, ref: str, live: bool = True) -> str:
    state = ' class="live"' if live else ""
    return f'<ul><li data-notice="{notice_id}"{state}><strong>In vigore</strong> — «{notice_text(ref)}»</li></ul>'


async def test_the_driver_sets_a_notice_finds_it_and_lifts_it(tmp_path: Path) -> None:
    console = FakeConsole()
    console.on("POST", "/console/notices", Answer(303, location="/console/notices?msg=notice_saved"))
    console.on("GET", "/console/notices", Answer(200, page(4, "avviso-0-1")))
    console.on("POST", "/console/notices/4/end", Answer(303, location="/console/notices?msg=notice_ended"))
    driver = make(tmp_path, console)
    await driver.carry_out(act(ActionKind.NOTICE_ON, ref="avviso-0-1"))
    await driver.carry_out(act(ActionKind.NOTICE_OFF, 1.0, ref="avviso-0-1"))
    on, off = driver.records
    assert (on.result, on.object_id, off.result, off.object_id) == (ActionResult.DONE, "notice-4", ActionResult.DONE,
                                                                    "notice-4")  # fmt: skip
    posted = next(data for method, _u, path, data in console.sent if method == "POST" and path == "/console/notices")
    assert posted["text"] == notice_text("avviso-0-1") and len(posted["until"]) == 16  # local, to the minute
    assert live_notice(page(4, "avviso-0-1", live=False), "avviso-0-1") is None


def record(kind: str, at: datetime, notice: int) -> ActionRecord:
    return ActionRecord(kind=kind, sent_at=at, done_at=at + timedelta(seconds=1), result=ActionResult.DONE,
                        status=303, object_id=f"notice-{notice}")  # fmt: skip


def world(*calls: tuple[str, float, list[int] | None]) -> tuple[SoakEvidence, StoreView]:
    """(caller, placed at second, the notices on their ticket or None: never past the welcome)."""
    view, journal = StoreView(), []
    for n, (caller, second, said) in enumerate(calls, start=1):
        placed = T0 + timedelta(seconds=second)
        ended = placed + timedelta(seconds=40)
        journal.append(CallRecord(caller=caller, carrier_channel=f"ch-{n}", journey="operator/citizens/it",
                                  placed_at=placed, ended_at=ended, answered=True))  # fmt: skip
        view.tickets[n] = Ticket(id=n, channel="phone", caller_number=caller)
        if said is not None:
            view.events[n].append(TicketEvent(ticket_id=n, at=placed, kind="menu_choice"))
            if said:
                view.events[n].append(TicketEvent(ticket_id=n, at=placed, kind="notice_played",
                                                  detail={"notices": said}))  # fmt: skip
    actions = [record("notice_on", T0 + timedelta(seconds=10), 4), record("notice_off", T0 + timedelta(seconds=100), 4)]
    ev = SoakEvidence(journal=journal, db_url="", voicemail_dir=Path("."), recordings_dir=Path("."), daily_cap=400,
                      ended_at=T0 + timedelta(minutes=5), actions=actions)  # fmt: skip
    return ev, view


def details(ev: SoakEvidence, view: StoreView) -> list[str]:
    return [v.detail for v in check_notices(ev, view).violations]


def test_callers_during_a_notice_hear_it_and_no_one_else() -> None:
    ev, view = world(("+393330000001", 20, [4]), ("+393330000002", 200, []), ("+393330000003", 30, None))
    result = check_notices(ev, view)
    assert result.passed and result.notes[-1] == "1 notices set, 1 calls during them judged"
    ev, view = world(("+393330000001", 20, []), ("+393330000002", 200, [4]), ("+393330000003", 40, [4, 9]))
    assert details(ev, view) == [
        "called while notice 4 was in force and went past the welcome; not told it",
        "called outside notice 4; the ticket says it was said",
        "the ticket names notice(s) [9], which the soak never set",
    ]
    ev, view = world(("+393330000001", 80, []))  # placed 20 s before the lift: the welcome may end after it
    assert check_notices(ev, view).passed
