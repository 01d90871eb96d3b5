"""The retention purge on SQLite and PostgreSQL: exactly what goes, what stays, holds, dry runs."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.orm import sessionmaker

from ivr.privacy.config import RetentionSettings
from ivr.privacy.kinds import AUDIO_GONE
from ivr.privacy.purge import Purger
from ivr.schema.console import AuditEntry
from ivr.schema.privacy import PurgeFile, PurgeRun, SurveyCount
from ivr.schema.tickets import (
    CallbackAttempt,
    Recording,
    SurveyAnswer,
    Ticket,
    TicketEvent,
    Voicemail,
    WebRequest,
)
from ivr.tickets.db import make_engine, upgrade
from tests.unit.privacy_data import NAME, NOW, NUMBER, World, add_contact, add_web_request, hold, make_world, snapshot

NEW_KINDS = {
    "sessions": 0,
    "operator_time": 0,
    "audit": 0,
    "spool_audio": 0,
    "asterisk_logs": 0,
}  # none in these worlds
DEFAULTS = RetentionSettings()  # recordings 90, voicemail audio 180, transcripts 180, caller 365, survey 730


@pytest.fixture
def world(db_url: str, tmp_path: Path) -> Iterator[World]:
    engine = make_engine(db_url)
    upgrade(engine)
    w = make_world(engine, tmp_path / "audio")
    add_contact(w, "d10", 10)
    add_contact(w, "d100", 100)
    add_contact(w, "d200", 200)
    add_contact(w, "d200p", 200, transcript=False)  # never transcribed: its audio goes first
    add_contact(w, "d400", 400)
    add_contact(w, "d800", 800)
    add_contact(w, "held", 800)
    hold(w, w.contacts["held"].ticket)
    add_web_request(w, "w10", 10)
    add_web_request(w, "w400", 400)
    yield w
    engine.dispose()


def test_dry_run_changes_nothing_and_counts_what_the_purge_removes(world: World) -> None:
    purger = Purger(world.engine, DEFAULTS, audio_dirs=(world.root,))
    before = snapshot(world.engine, world.root)
    due = purger.due(NOW)
    assert snapshot(world.engine, world.root) == before
    counts = {k: (v.items, v.files) for k, v in due.kinds.items()}
    assert counts == {
        "recordings": (5, 10),  # d100, d200, d200p, d400, d800: the WAV and the browser copy each
        "voicemail_audio": (4, 8),  # d200, d200p, d400, d800
        "transcripts": (3, 0),  # d200, d400, d800 (d200p has none)
        "caller_data": (3, 0),  # d400, d800, w400
        "survey_answers": (2, 0),  # d800's two answers
        "sessions": (0, 0),
        "operator_time": (0, 0),
        "audit": (0, 0),
        "spool_audio": (0, 0),
        "asterisk_logs": (0, 0),
    }
    assert due.held_tickets == 1

    done = purger.run(NOW, by="dpo")
    assert {k: (v.items, v.files) for k, v in done.kinds.items()} == counts
    assert done.files_deleted == 18 and done.failed_files == []


def test_purge_removes_exactly_what_is_past_its_period(world: World) -> None:
    Purger(world.engine, DEFAULTS, audio_dirs=(world.root,)).run(NOW, trigger="job")
    c = world.contacts
    gone = {name: {kind for kind, path in contact.files.items() if not path.exists()} for name, contact in c.items()}
    every = {"call", "call_web", "vm", "vm_web"}
    assert gone == {
        "d10": set(),
        "d100": {"call", "call_web"},
        "d200": every,
        "d200p": every,
        "d400": every,
        "d800": every,
        "held": set(),
    }
    with sessionmaker(world.engine)() as s:
        call_recordings = set(s.scalars(select(Recording.ticket_id).where(Recording.kind == "call")))
        assert call_recordings == {c["d10"].ticket, c["held"].ticket}
        for name, contact in c.items():
            vm = s.get(Voicemail, contact.voicemail)
            vm_rec = s.get(Recording, contact.voicemail_recording)
            ticket = s.get(Ticket, contact.ticket)
            assert vm is not None and vm_rec is not None and ticket is not None
            audio_gone = name in ("d200", "d200p", "d400", "d800")
            # the message keeps its recording row, which no longer points at any file
            assert (vm_rec.path == "" and vm_rec.web_path is None) is audio_gone
            assert vm.recording_id == contact.voicemail_recording
            transcript_gone = name not in ("d10", "d100", "held")
            assert (vm.transcript is None and vm.transcript_words is None) is transcript_gone
            caller_gone = name in ("d400", "d800")
            assert (ticket.caller_number is None and ticket.caller_name is None) is caller_gone
            assert (vm.callback_number is None) is caller_gone
            assert (ticket.resolution_note is None) is caller_gone
            # what statistics are made of stays, whatever went
            assert (ticket.topic, ticket.queue_result, ticket.wait_s, ticket.handle_s) == (
                "citizens", "answered", 42.0, 180.0,
            )  # fmt: skip
            assert ticket.survey_status == "completed" and ticket.local_day is not None
            assert ticket.sla_kind == "phone_callback" and ticket.sla_met_at is not None
            assert (vm.duration_s, vm.speech_s, vm.box, vm.callback_source) == (20.0, 15.0, "citizens", "confirmed")
            events = {e.kind: e for e in s.scalars(select(TicketEvent).where(TicketEvent.ticket_id == ticket.id))}
            assert (events["ticket_closed"].note is None) is caller_gone
            assert (events["callback_number_invalid"].detail is None) is caller_gone
            survey_gone = name == "d800"
            assert events["survey_answer"].detail == (
                {"question": "q1"} if survey_gone else {"question": "q1", "answer": 4}
            )
            answers = s.scalars(select(SurveyAnswer).where(SurveyAnswer.ticket_id == ticket.id)).all()
            assert len(answers) == (0 if survey_gone else 2)
            note = s.scalar(select(CallbackAttempt.note).where(CallbackAttempt.ticket_id == ticket.id))
            assert (note is None) is caller_gone
            assert NAME not in repr([e.detail for e in events.values()]) or not caller_gone
        pending = s.get(Voicemail, c["d200p"].voicemail)
        assert pending is not None and (pending.transcript_status, pending.transcript_error) == ("failed", AUDIO_GONE)
        done = s.get(Voicemail, c["d200"].voicemail)
        assert done is not None and done.transcript_status == "done"  # how many were transcribed stays countable

        for name, age_gone in (("w10", False), ("w400", True)):
            web = s.scalar(select(WebRequest).where(WebRequest.ticket_id == world.web[name]))
            assert web is not None
            identity = (web.name, web.email, web.phone, web.subject, web.message, web.reply)
            assert (identity == ("", "", None, "", "", None)) is age_gone
            assert web.received_at is not None and web.replied_at is not None  # the 48-hour commitment stays
            ticket = s.get(Ticket, world.web[name])
            assert ticket is not None and (ticket.caller_number is None) is age_gone

        # d800's answers live on as anonymous counts: the statistics keep every figure
        counts = {(r.topic, r.operator_id, r.question, r.answer): r.count for r in s.scalars(select(SurveyCount))}
        assert counts == {("citizens", world.operator, "q1", 4): 1, ("citizens", world.operator, "q2", 1): 1}
        day = s.scalar(select(SurveyCount.local_day))
        assert day == (NOW - timedelta(days=800)).date()

        # the purge log and the timeline say what went, never whose
        (run,) = s.scalars(select(PurgeRun)).all()
        assert run.trigger == "job" and run.finished_at is not None and run.files_deleted == 18
        assert run.counts["caller_data"] == {"items": 3, "files": 0}
        marks = s.scalars(select(TicketEvent).where(TicketEvent.kind == "privacy_purged")).all()
        assert {(m.ticket_id, m.detail["what"]) for m in marks if m.detail} >= {
            (c["d800"].ticket, "survey_answers"),
            (c["d100"].ticket, "recordings"),
        }
        log_text = repr([run.counts, run.cutoffs, [m.detail for m in marks]])
        for personal in (NUMBER, NAME, "Giulia", "giulia@example.org", "3331234567"):
            assert personal not in log_text
        audit = s.scalars(select(AuditEntry).where(AuditEntry.action == "privacy_purge")).all()
        assert [a.object_id for a in audit] == [str(run.id)]
        assert s.scalars(select(PurgeFile)).all() == []


def test_a_second_purge_finds_nothing(world: World) -> None:
    purger = Purger(world.engine, DEFAULTS, audio_dirs=(world.root,))
    purger.run(NOW)
    after_first = snapshot(world.engine, world.root)
    assert purger.due(NOW).items == 0
    second = purger.run(NOW)
    assert second.items == 0 and second.files_deleted == 0
    after_second = snapshot(world.engine, world.root)
    # only the second run's own log entry is new
    assert {k: v for k, v in after_second.items() if k != "purge_runs"} == {
        k: v for k, v in after_first.items() if k != "purge_runs"
    }


def test_a_legal_hold_protects_everything_until_released(world: World) -> None:
    from ivr.privacy import holds

    held = world.contacts["held"]
    purger = Purger(world.engine, DEFAULTS, audio_dirs=(world.root,))
    purger.run(NOW)
    assert all(p.exists() for p in held.files.values())
    with sessionmaker(world.engine)() as s:
        ticket = s.get(Ticket, held.ticket)
        assert ticket is not None and ticket.caller_number == NUMBER
        assert len(s.scalars(select(SurveyAnswer).where(SurveyAnswer.ticket_id == held.ticket)).all()) == 2
    with sessionmaker(world.engine).begin() as s:
        holds.release(s, held.ticket, by="dpo", at=NOW)
    due = purger.due(NOW)
    assert {k: v.items for k, v in due.kinds.items()} == {
        "recordings": 1,
        "voicemail_audio": 1,
        "transcripts": 1,
        "caller_data": 1,
        "survey_answers": 2,
        **NEW_KINDS,
    }
    purger.run(NOW)
    assert not any(p.exists() for p in held.files.values())


def test_a_file_that_cannot_be_deleted_is_reported_and_retried(world: World) -> None:
    victim = world.contacts["d100"].files["call"]
    victim.unlink()
    victim.mkdir()  # unlink() on a directory fails, even for root
    (victim / "keep").write_bytes(b"x")
    purger = Purger(world.engine, DEFAULTS, audio_dirs=(world.root,))
    first = purger.run(NOW)
    assert [path for path, _ in first.failed_files] == [str(victim)]
    assert "IsADirectoryError" in first.failed_files[0][1] or "PermissionError" in first.failed_files[0][1]
    with sessionmaker(world.engine)() as s:
        # the row went anyway: nothing points at the file that is still to go
        assert s.scalar(select(Recording).where(Recording.path == str(victim))) is None
        (pending,) = s.scalars(select(PurgeFile)).all()
        assert pending.path == str(victim) and pending.attempts >= 1
        run = s.get(PurgeRun, first.run_id)
        assert run is not None and run.files_failed == 1
    assert [p for p, _ in purger.due(NOW).failed_files] == [str(victim)]

    (victim / "keep").unlink()
    victim.rmdir()
    victim.write_bytes(b"left behind by the failed run")
    second = purger.run(NOW)
    assert second.failed_files == [] and second.files_deleted == 1 and not victim.exists()
    with sessionmaker(world.engine)() as s:
        assert s.scalars(select(PurgeFile)).all() == []


def test_shorter_periods_and_small_batches_give_the_same_end_state(world: World) -> None:
    tight = RetentionSettings(
        recordings_days=5,
        voicemail_audio_days=5,
        transcripts_days=5,
        caller_data_days=5,
        survey_answers_days=5,
        batch=1,
    )
    result = Purger(world.engine, tight, audio_dirs=(world.root,)).run(NOW)
    assert {k: v.items for k, v in result.kinds.items()} == {
        "recordings": 6,
        "voicemail_audio": 6,
        "transcripts": 5,
        "caller_data": 8,
        "survey_answers": 12,
        **NEW_KINDS,
    }
    assert Purger(world.engine, tight, audio_dirs=(world.root,)).due(NOW).items == 0
    remaining = [p for c in world.contacts.values() for p in c.files.values() if p.exists()]
    assert remaining == list(world.contacts["held"].files.values())


def test_a_file_outside_the_audio_folders_is_never_deleted(world: World, tmp_path: Path) -> None:
    """A database restored from a forged backup can name any file as a recording's audio: the
    purge (often run as root) must not delete it, and must say so instead of forgetting it."""
    precious = tmp_path / "outside" / "shadow"
    precious.parent.mkdir()
    precious.write_text("root:x:0:0")
    linked = world.root / "d200" / "link.wav"
    linked.symlink_to(precious)
    with world.session() as s, s.begin():
        rec = s.get(Recording, world.contacts["d200"].voicemail_recording)
        assert rec is not None
        rec.path, rec.web_path = str(precious), str(linked)
    result = Purger(world.engine, DEFAULTS, audio_dirs=(world.root,)).run(NOW, trigger="job")
    assert precious.read_text() == "root:x:0:0"
    assert linked.is_symlink()
    refused = {path for path, error in result.failed_files if "outside the audio folders" in error}
    assert refused == {str(precious), str(linked)}
    assert not world.contacts["d200"].files["call"].exists()  # the rest of the purge went on
