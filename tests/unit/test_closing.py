"""Closing the line: the console and `ivr closure` go through one desk, which writes the closure,
builds its spoken message and leaves the same audit entry (the command line left none)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

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
