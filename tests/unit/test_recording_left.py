"""A conversation's recording that no engine kept is kept by the engine that takes over.

The suite's three-minute soak (after full run 6): engine a was killed 16 ms after ticket 45's
operator hung up, before keeping the conversation's recording; engine b resumed the call at the
survey, and the recording, started on the timeline, was never kept while Asterisk still had it."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from ivr.callflows.model import load_flow
from ivr.callflows.recovery import Recovery
from ivr.callflows.recovery_plan import recording_left
from ivr.clock import SystemClock
from ivr.recordings.left import keep_left_recording
from ivr.recordings.store import RecordingStore
from ivr.schema.tickets import Recording, Voicemail
from ivr.tasks import TaskSupervisor
from ivr.tickets.store import NewCall, SqlTicketStore
from tests.unit.test_recovery import RECORDING, ticket
from tests.unit.test_voicemail_disk_full import speech_wav
from tests.unit.test_voicemail_kept_before_kill import Asterisk

REPO = Path(__file__).resolve().parents[2]
NAME = "call-45-4b72f222"


def test_a_recording_started_and_neither_kept_nor_failed_is_left() -> None:
    assert recording_left(ticket("survey:survey", RECORDING)) == "q-7"
    assert recording_left(ticket("survey:survey", RECORDING, ("recording_kept", {"recording": 3}))) is None
    assert recording_left(ticket("survey:survey", RECORDING, ("recording_failed", {"name": "q-7"}))) is None
    assert recording_left(ticket("queue:queue")) is None


async def _open(store: SqlTicketStore) -> int:
    return await store.open_call(NewCall("c-45", datetime.now(UTC), "3454682231", None, "800000039"))


async def _kinds(store: SqlTicketStore, ticket_id: int) -> list[str]:
    found = await store.get(ticket_id)
    assert found is not None
    return [e.kind for e in found.events]


async def _rows(store: SqlTicketStore) -> int:
    return int(await store.run_read(lambda s: s.scalar(select(func.count()).select_from(Recording))))


async def test_the_recording_asterisk_still_has_is_kept_for_the_ticket(
    sqlite_store: SqlTicketStore, tmp_path: Path
) -> None:
    pbx = Asterisk()
    pbx.files[NAME] = speech_wav()
    ticket_id = await _open(sqlite_store)
    store = RecordingStore(pbx, tmp_path / "recordings", sqlite_store)
    await keep_left_recording(store, sqlite_store, SystemClock(), "wav", ticket_id, NAME)
    assert "recording_kept" in await _kinds(sqlite_store, ticket_id)
    assert await _rows(sqlite_store) == 1 and NAME not in pbx.files


async def test_one_the_dead_engine_kept_is_found_and_one_gone_everywhere_is_said_failed(
    sqlite_store: SqlTicketStore, tmp_path: Path
) -> None:
    pbx = Asterisk()
    pbx.files[NAME] = speech_wav()
    ticket_id = await _open(sqlite_store)
    store = RecordingStore(pbx, tmp_path / "recordings", sqlite_store)
    await store.keep(NAME, "wav", ticket_id=ticket_id, kind="call", at=datetime.now(UTC))  # then killed
    await keep_left_recording(store, sqlite_store, SystemClock(), "wav", ticket_id, NAME)
    assert (await _kinds(sqlite_store, ticket_id)).count("recording_kept") == 1
    assert await _rows(sqlite_store) == 1, "kept once, not a second row"

    other = await _open(sqlite_store)
    await keep_left_recording(store, sqlite_store, SystemClock(), "wav", other, "call-46-00000000")
    assert "recording_failed" in await _kinds(sqlite_store, other)


class _Pbx:
    async def list(self) -> list[Any]:
        return []

    async def live_ids(self) -> set[str]:
        return set()


class _Dispatcher:
    def __init__(self) -> None:
        self.sessions: dict[str, Any] = {}


async def test_recovery_keeps_the_recording_of_a_call_that_ended_while_no_engine_watched(
    sqlite_store: SqlTicketStore,
) -> None:
    ticket_id = await _open(sqlite_store)
    await sqlite_store.update(ticket_id, last_state="queue:queue")
    await sqlite_store.record(ticket_id, "recording_started", datetime.now(UTC), {"name": NAME})
    kept: list[tuple[int, str]] = []

    async def keep(ticket: int, name: str) -> None:
        kept.append((ticket, name))

    tasks = TaskSupervisor("test")
    recovery = Recovery(_Pbx(), _Pbx(), sqlite_store, _Dispatcher(), load_flow(REPO / "config/callflows/main.yaml"),  # type: ignore[arg-type]
                        lambda op, t: None, SystemClock(), callback_number=lambda n: None, keep_recording=keep,
                        tasks=tasks)  # fmt: skip
    await recovery.run()
    await asyncio.sleep(0.05)
    assert kept == [(ticket_id, NAME)]


async def test_a_message_asterisk_holds_under_the_tickets_name_is_kept_when_the_store_never_heard_of_it(
    sqlite_store: SqlTicketStore,
) -> None:
    """Full run 11, ticket 2658: the engine froze 16 s into a message, its writes went with its
    lease (the recording's name among them), and the caller hung up before the standby took
    over: the ticket closed as lost while Asterisk held 8 s of message. Messages are named for
    their ticket: the one Asterisk holds is the caller's."""
    ticket_id = await _open(sqlite_store)
    other = await sqlite_store.open_call(NewCall("c-46", datetime.now(UTC), "3454682232", None, "800000039"))
    for t in (ticket_id, other):
        await sqlite_store.update(t, last_state="voicemail:voicemail_busy")
    listed: list[int] = []

    async def stored() -> list[str]:
        listed.append(1)
        return [f"vm-{ticket_id}-0a1b2c3d", f"vm-{ticket_id}0-ffffffff", "call-45-00000000"]

    recovery = Recovery(_Pbx(), _Pbx(), sqlite_store, _Dispatcher(), load_flow(REPO / "config/callflows/main.yaml"),  # type: ignore[arg-type]
                        lambda op, t: None, SystemClock(), callback_number=lambda n: n, stored_recordings=stored,
                        tasks=TaskSupervisor("test"))  # fmt: skip
    await recovery.run()
    kept = await sqlite_store.get(ticket_id)
    lost = await sqlite_store.get(other)
    assert kept is not None and (kept.outcome, kept.end_reason) == ("voicemail", "voicemail:busy")
    assert lost is not None and (lost.outcome, lost.end_reason) == ("failed", "lost_while_engine_down")
    assert len(listed) == 1  # Asterisk asked once per sweep

    def message(session: Session) -> tuple[str | None, int]:
        rows = session.scalars(select(Voicemail).where(Voicemail.ticket_id.in_([ticket_id, other]))).all()
        return rows[0].asterisk_name, len(rows)

    assert await sqlite_store.run_read(message) == (f"vm-{ticket_id}-0a1b2c3d", 1)
