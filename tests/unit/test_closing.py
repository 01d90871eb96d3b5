"""Closing the line: the console and `ivr closure` go through one desk, which writes the closure,
builds its spoken message and leaves the same audit entry (the command line left none)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from ivr.console.accounts import Accounts
from ivr.hours.closing import ClosureDesk
from ivr.hours.closures import RuntimeClosures, media_name
from ivr.schema.console import AuditEntry
from ivr.tickets.audit import Actor
from ivr.tickets.store import SqlTicketStore

NOW = datetime(2026, 3, 2, 10, tzinfo=UTC)


async def test_a_closure_is_written_spoken_and_audited_and_so_is_its_end(
    sqlite_store: SqlTicketStore, tmp_path: Path
) -> None:
    built: list[tuple[str, str, Path]] = []

    def build(name: str, text: str, folder: Path) -> Path:
        built.append((name, text, folder))
        return folder / f"{name}.wav"

    closures = RuntimeClosures(sqlite_store, asterisk_dir="/sounds", local_dir=tmp_path)
    desk = ClosureDesk(closures, build, Accounts(sqlite_store).audit)
    by = Actor(login="cli:root")
    closure_id = await desk.add(NOW, None, "guasto tecnico", "La linea è chiusa per un guasto.", at=NOW, by=by)
    assert built == [(media_name(closure_id), "La linea è chiusa per un guasto.", tmp_path)]
    assert [c.reason for c in await closures.current(NOW)] == ["guasto tecnico"]
    assert (await closures.rows())[0].created_by == "cli:root"
    with pytest.raises(ValueError, match="end after it starts"):
        await desk.add(NOW, NOW - timedelta(hours=1), "al contrario", None, at=NOW, by=by)
    assert await desk.end(closure_id, at=NOW + timedelta(minutes=5), by=by) == 1
    audited = await sqlite_store.run_read(
        lambda s: [(e.action, e.login, e.object_id) for e in s.scalars(select(AuditEntry).order_by(AuditEntry.id))]
    )
    assert audited == [("closure_add", "cli:root", str(closure_id)), ("closure_end", "cli:root", str(closure_id))]


async def test_an_emergency_closure_reopens_by_itself_at_the_next_opening_unless_kept(
    sqlite_store: SqlTicketStore, tmp_path: Path
) -> None:
    """Closed now at 10:00 on a Monday of 8-18 hours: it ends at Tuesday's 8:00 by itself, the
    calendar's next opening; "until further notice" leaves it to an explicit end."""
    from ivr.hours.calendar import LineCalendar
    from ivr.hours.config import HoursSettings

    hours = HoursSettings.model_validate({"weekly": {"mon": ["08:00-18:00"], "tue": ["08:00-18:00"]}})
    calendar = LineCalendar(hours, ZoneInfo("Europe/Rome"))
    closures = RuntimeClosures(sqlite_store, asterisk_dir="/sounds", local_dir=tmp_path)
    desk = ClosureDesk(closures, lambda n, t, f: f / n, Accounts(sqlite_store).audit, calendar.next_opening)
    by = Actor(login="sara")
    _first, end = await desk.close_now("allagamento", None, at=NOW, by=by)  # 11:00 in Rome, a Monday
    assert end is not None and end.isoformat() == "2026-03-03T08:00:00+01:00"
    kept, none = await desk.close_now("sciopero", None, at=NOW, by=by, until_ended=True)
    assert none is None
    rows = {r.id: r.ends_at for r in await closures.rows()}
    assert rows[kept] is None and rows[_first] == end
    later = end + timedelta(minutes=1)
    assert [c.reason for c in await closures.current(later)] == ["sciopero"]  # the first one is over


async def test_the_consoles_closed_now_switch_takes_the_same_path(tmp_path: Path) -> None:
    from tests.console_support import console_lab

    async with console_lab(tmp_path) as lab:
        sara = await lab.login("sara")
        page = await (await sara.get("/console/closures")).text()
        assert 'id="now-until-ended"' in page and "riapre da sola" in page
        for extra in ({}, {"until_ended": "1"}):
            token = await lab.csrf(sara, "/console/closures")
            data = {"_csrf": token, "mode": "now", "reason": f"prova {len(extra)}", **extra}
            assert (await sara.post("/console/closures", data=data, allow_redirects=False)).status == 303
        rows = sorted(await lab.deps.closures.rows(), key=lambda r: r.id)
        opening = lab.deps.web.console.closures.calendar.next_opening(lab.clock.now())  # type: ignore[union-attr]
        assert [(r.reason, r.ends_at) for r in rows] == [("prova 0", opening), ("prova 1", None)]
        assert opening is not None and opening > lab.clock.now()
