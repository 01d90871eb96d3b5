"""An outcome filed at the desk and its audit entry are one write. Full run 6 filed ticket 6412's
outcome and the engine was killed 60 ms later, before the audit entry (then a second write): the
timeline had an outcome that no audit entry named. Here the audit log refuses the filing's entry
(a trigger, on SQLite and on a real PostgreSQL), as a process dying between the two writes would
leave it: none of the desk's three filings (the form, "Risolta con l'articolo N", "Indirizza a")
may leave its outcome on the ticket without the entry; once the log takes entries again, each
filing leaves both, once."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp import FormData
from sqlalchemy import select, text
from sqlalchemy.orm import Session

from ivr.knowledge.files import import_dir
from ivr.schema.console import AuditEntry
from ivr.schema.tickets import TicketEvent
from tests.console_support import ConsoleLab, console_lab

KB = Path(__file__).resolve().parents[1] / "data" / "kb"
OFFICES = Path(__file__).resolve().parents[2] / "config" / "referrals" / "sample-offices.csv"
FILINGS = "('ticket_outcome', 'ticket_referral')"
SQLITE_DOWN = [
    f"CREATE TRIGGER audit_down BEFORE INSERT ON audit_log WHEN NEW.action IN {FILINGS} "
    "BEGIN SELECT RAISE(ABORT, 'audit log down'); END"
]
POSTGRES_DOWN = [
    "CREATE FUNCTION audit_down() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
    f"IF NEW.action IN {FILINGS} THEN RAISE EXCEPTION 'audit log down'; END IF; RETURN NEW; END $$",
    "CREATE TRIGGER audit_down BEFORE INSERT ON audit_log FOR EACH ROW EXECUTE FUNCTION audit_down()",
]


@pytest.fixture
async def lab(tmp_path: Path, db_url: str) -> AsyncIterator[ConsoleLab]:
    async with console_lab(tmp_path, {"database": {"url": db_url}}) as lab:
        await import_dir(lab.deps.console.knowledge, KB, by="test", at=lab.clock.now())
        sara = await lab.login("sara")
        form = FormData()
        form.add_field("_csrf", await lab.csrf(sara, "/console/referrals"))
        form.add_field("file", OFFICES.read_bytes(), filename="uffici.csv", content_type="text/csv")
        assert (await sara.post("/console/referrals/import", data=form, allow_redirects=False)).status == 303
        yield lab


async def _audit_log(lab: ConsoleLab, *, down: bool) -> None:
    postgres = lab.deps.settings.database_url.startswith("postgresql")
    sql = (
        (POSTGRES_DOWN if postgres else SQLITE_DOWN)
        if down
        else ["DROP TRIGGER audit_down" + (" ON audit_log" if postgres else "")]
    )

    def op(session: Session) -> None:
        for statement in sql:
            session.execute(text(statement))

    await lab.deps.store.run_write(op)


async def _filed(lab: ConsoleLab, ticket_id: int) -> tuple[int, int]:
    """(outcomes on the timeline, filing entries in the audit log) of one ticket."""

    def fn(session: Session) -> tuple[int, int]:
        events = session.scalars(
            select(TicketEvent).where(TicketEvent.ticket_id == ticket_id, TicketEvent.kind == "outcome_filed")
        )
        entries = session.scalars(
            select(AuditEntry).where(
                AuditEntry.object_id == str(ticket_id), AuditEntry.action.in_(("ticket_outcome", "ticket_referral"))
            )
        )
        return len(list(events)), len(list(entries))

    return await lab.deps.store.run_read(fn)


async def _file(lab: ConsoleLab, anna: Any, ticket_id: int, how: str) -> int:
    token = await lab.csrf(anna, "/console/desk")
    base = f"/console/desk/tickets/{ticket_id}"
    if how == "form":
        data = {"_csrf": token, "outcome": "resolved", "note": "risolta"}
        response = await anna.post(f"{base}/outcome", data=data, allow_redirects=False)
    elif how == "article":
        naspi = await lab.deps.console.knowledge.by_slug("naspi")
        assert naspi is not None
        response = await anna.post(f"{base}/article", data={"_csrf": token, "article": str(naspi.id)},
                                   allow_redirects=False)  # fmt: skip
    else:
        (office, *_) = await lab.deps.console.referrals.repo.search("reggio emilia")
        response = await anna.post(f"{base}/referral", data={"_csrf": token, "office": str(office.id)},
                                   allow_redirects=False)  # fmt: skip
    return int(response.status)


@pytest.mark.parametrize("how", ["form", "article", "referral"])
async def test_no_outcome_is_filed_without_its_audit_entry(lab: ConsoleLab, how: str) -> None:
    ticket_id = await lab.call("3331234567", operator="anna", topic="citizens")
    anna = await lab.login("anna")
    await _audit_log(lab, down=True)
    status = await _file(lab, anna, ticket_id, how)
    assert status == 500  # the filing failed as a whole: the desk keeps the card to file
    assert await _filed(lab, ticket_id) == (0, 0)
    ticket = await lab.ticket(ticket_id)
    assert ticket is not None and ticket.status is None

    await _audit_log(lab, down=False)
    assert await _file(lab, anna, ticket_id, how) == 303
    assert await _filed(lab, ticket_id) == (1, 1)
