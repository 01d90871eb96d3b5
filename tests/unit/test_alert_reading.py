"""The alerts' trip to the store, on SQLite and PostgreSQL: the last hour's service level (a wait
still going past the target counts as a miss already), the commitments at risk by the clock (not
by the check job's flags), and the oldest message nobody took or listened to."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy.orm import Session

from ivr.alerts.reading import AlertFigures
from ivr.schema.console import AuditEntry
from ivr.schema.tickets import Recording, Ticket, Voicemail
from ivr.tickets.config import SlaSettings
from ivr.tickets.db import make_engine, upgrade
from ivr.tickets.periods import local_keys
from ivr.tickets.store import SqlTicketStore

ROME = ZoneInfo("Europe/Rome")
NOW = datetime(2027, 3, 1, 10, 0, tzinfo=UTC)


def call(minutes_ago: float, result: str | None, wait_s: float | None) -> Ticket:
    at = NOW - timedelta(minutes=minutes_ago)
    return Ticket(channel="phone", started_at=at, open=result is None, queued_at=at, queue_result=result,
                  wait_s=wait_s, **local_keys(at, ROME))  # fmt: skip


def commitment(kind: str, due_in_h: float, **columns: object) -> Ticket:
    at = NOW - timedelta(days=1)
    fields = {"status": "new", **local_keys(at, ROME), **columns}
    return Ticket(channel="web", started_at=at, open=False, sla_kind=kind, callback_due=NOW + timedelta(hours=due_in_h),
                  **fields)  # fmt: skip


def message(session: Session, minutes_ago: float, *, status: str | None = "new", empty: bool = False) -> int:
    at = NOW - timedelta(minutes=minutes_ago)
    ticket = Ticket(channel="phone", started_at=at, open=False, status=status, **local_keys(at, ROME))
    session.add(ticket)
    session.flush()
    rec = Recording(ticket_id=ticket.id, kind="voicemail", path="/x.wav", sha256="a" * 64, bytes=1, duration_s=9.0,
                    created_at=at)  # fmt: skip
    session.add(rec)
    session.flush()
    vm = Voicemail(ticket_id=ticket.id, box="citizens", reason="busy", asterisk_name=f"vm-{ticket.id}",
                   recording_id=rec.id, empty=empty, created_at=at)  # fmt: skip
    session.add(vm)
    session.flush()
    return vm.id


async def test_the_stores_share_of_the_alerts(db_url: str) -> None:
    engine = make_engine(db_url)
    upgrade(engine)
    with Session(engine) as s, s.begin():
        s.add_all([
            call(10, "answered", 12.0), call(20, "answered", 25.0), call(30, "answered", 40.0),  # 2 in 30 s
            call(40, "callback", 70.0),  # left for a callback: no answer in time
            call(1, None, None),  # waiting 60 s: already past the 30-s target
            call(0.2, None, None),  # waiting 12 s: not judged yet
            call(70, "answered", 5.0),  # more than an hour ago
        ])  # fmt: skip
        s.add_all([
            commitment("phone_callback", 30), commitment("phone_callback", 60),  # near (48 h): one
            commitment("web_reply", -1), commitment("web_reply", 5),  # past due; near (12 h)
            commitment("web_reply", -2, sla_met_at=NOW - timedelta(days=1)),  # met: no risk
            commitment("web_second", -3, status="closed"),  # closed: no risk
        ])  # fmt: skip
        oldest_heard = message(s, 300)
        message(s, 250, status="assigned")  # somebody took it
        message(s, 240, empty=True)  # nothing said
        second = message(s, 200)
        message(s, 20)
        s.add(AuditEntry(at=NOW, login="sara", action="voicemail_listen", object_kind="voicemail",
                         object_id=str(oldest_heard)))  # fmt: skip
    store = SqlTicketStore(engine, tz=ROME)
    try:
        days = (NOW.date(), NOW.date())
        level, risk, unheard = await AlertFigures(store).read(NOW, days, 30.0, SlaSettings())
        assert level == (5, 2)
        assert risk == {"phone_callback": (1, 0), "web_reply": (1, 1)}
        assert unheard is not None and unheard.age_s == 200 * 60
        with Session(engine) as s, s.begin():
            ticket_of_second = s.get(Voicemail, second)
            assert ticket_of_second is not None and unheard.ticket_id == ticket_of_second.ticket_id
    finally:
        await store.stop()
        engine.dispose()


async def test_the_store_away_leaves_the_live_figures_current() -> None:
    """A database outage must not freeze the wait alert: the distributor's figures are read as
    ever, the store's last ones kept and marked."""
    from ivr.alerts.reading import reader

    class Figures:
        def __init__(self) -> None:
            self.away = False

        async def read(self, *_: object) -> tuple[tuple[int, int], dict[str, tuple[int, int]], None]:
            if self.away:
                raise OSError("connection refused")
            return (12, 6), {"web_reply": (1, 0)}, None

    figures = Figures()
    waits = iter([10.0, 200.0])

    async def admitted(_at: datetime) -> int:
        return 7

    read = reader(figures, lambda: {"longest_wait_s": next(waits), "operators": []}, admitted, 400,  # type: ignore[arg-type]
                  lambda: NOW, lambda at: at.date(), 30.0, SlaSettings(), store_every_s=0.0)  # fmt: skip
    first = await read()
    assert (first.longest_wait_s, first.hour_admitted, first.store_stale) == (10.0, 12, None)
    figures.away = True
    second = await read()
    assert (second.longest_wait_s, second.hour_admitted, second.commitments) == (200.0, 12, {"web_reply": (1, 0)})
    assert second.store_stale == "connection refused" and second.admitted == 7


async def test_a_slow_store_never_delays_the_live_figures() -> None:
    """Read in the background every `store_every_s`: a reading returns at once with the live
    waits and the store's last figures, however long the store takes."""
    import asyncio

    from ivr.alerts.reading import reader

    class Slow:
        def __init__(self) -> None:
            self.reads = 0

        async def read(self, *_: object) -> tuple[tuple[int, int], dict[str, tuple[int, int]], None]:
            self.reads += 1
            if self.reads > 1:
                await asyncio.sleep(5)
            return (self.reads, 0), {}, None

    async def admitted(_at: datetime) -> int:
        return 1

    slow, clock = Slow(), [0.0]
    spawned: list[asyncio.Task[None]] = []
    read = reader(slow, lambda: {"longest_wait_s": 95.0, "operators": []}, admitted, 400,  # type: ignore[arg-type]
                  lambda: NOW, lambda at: at.date(), 30.0, SlaSettings(), monotonic=lambda: clock[0],
                  spawn=lambda job: spawned.append(asyncio.ensure_future(job)))  # fmt: skip
    first = await read()  # the first waits for its figures
    assert (first.hour_admitted, slow.reads, spawned) == (1, 1, [])
    clock[0] = 11.0
    second = await asyncio.wait_for(read(), 1.0)  # the store's second read takes 5 s: not waited for
    assert (second.longest_wait_s, second.hour_admitted, len(spawned)) == (95.0, 1, 1)
    assert len(spawned) == 1 and not spawned[0].done()
    await asyncio.wait_for(read(), 1.0)
    assert len(spawned) == 1  # one store read at a time
    spawned[0].cancel()
