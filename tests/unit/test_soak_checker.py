"""The soak's checker: a world that keeps every promise passes; each promise broken on its own is
reported by its check, naming the tickets and callers involved; the report is written and readable."""

from __future__ import annotations

import argparse
import asyncio
import json
import sqlite3
from datetime import timedelta
from pathlib import Path
from xml.etree import ElementTree

import pytest
from sqlalchemy import delete, select

from ivr.lab.soak.check_cli import cmd_soak_check
from ivr.lab.soak.checker import CHECKS, exit_status, run_checks
from ivr.lab.soak.evidence import AsteriskState, ResourceSample, ResourceWindows, SinkMail
from ivr.lab.soak.journal import HungUpBy, Journal
from ivr.lab.soak.report import percentile, write_report
from ivr.lab.soak.verdict import CheckResult
from ivr.schema.callbacks import MissedCall, QueuedCallback
from ivr.schema.console import AuditEntry
from ivr.schema.presence import OperatorStateChange
from ivr.schema.tickets import CallbackAttempt, Recording, SurveyAnswer, Ticket, TicketEvent, Voicemail
from ivr.settings import Settings
from ivr.stats import citizens_public
from ivr.stats.citizens import callback_figures
from ivr.stats.report import EngineReader
from ivr.tickets.commands import Command
from ivr.tickets.db import POOL_SIZE
from ivr.tickets.outbox import Outbox, Pending
from tests.unit.soak_world import DAY1, DAY2, SoakWorld, build_world

T_OTHER = DAY1 + timedelta(hours=1)

FIRST, SECOND, MESSAGE, CAPPED, CALLBACK, SILENT, LOST = (f"+39333000000{n}" for n in range(1, 8))


@pytest.fixture
def world(db_url: str, tmp_path: Path) -> SoakWorld:
    return build_world(db_url, tmp_path)


def judged(world: SoakWorld) -> dict[str, CheckResult]:
    return {r.name: r for r in run_checks(world.evidence)}


def failed(world: SoakWorld) -> dict[str, CheckResult]:
    return {name: r for name, r in judged(world).items() if not r.passed}


def tickets_named(result: CheckResult) -> set[int]:
    return {t for v in result.violations for t in v.tickets}


def test_a_world_keeping_every_promise_passes(world: SoakWorld) -> None:
    results = run_checks(world.evidence)
    assert [r.name for r in results if not r.passed] == [], [v.detail for r in results for v in r.violations]
    assert len(results) == len(CHECKS) == 34
    assert exit_status(results) == 0
    notes = " ".join(n for r in results for n in r.notes)
    assert "not given" not in notes  # every input was there: nothing passed unseen
    assert "figures compared" in notes
    assert "day and reason figures compared" in notes


def test_a_call_with_two_tickets(world: SoakWorld) -> None:
    with world.session() as s, s.begin():
        s.add(Ticket(channel="phone", caller_number=SECOND, started_at=DAY1, open=False))
    result = failed(world)["one_ticket"]
    assert result.violations[0].callers == (SECOND,)
    assert world.ids[SECOND] in tickets_named(result)
    assert len(result.violations[0].tickets) == 2


def test_a_call_without_ticket_and_a_ticket_without_call(world: SoakWorld) -> None:
    world.replace_call(LOST, caller="+393339999999")
    details = [v.detail for v in failed(world)["one_ticket"].violations]
    assert details == ["no ticket for the call", "a ticket for a call nobody placed"]


def test_a_call_the_network_turned_away_while_asterisk_restarted_has_no_ticket_to_have(world: SoakWorld) -> None:
    """Full run 3: two callers placed as the line's Asterisk restarted were never answered."""
    world.replace_call(LOST, caller="+393339999999", answered=False, hung_up_by="network", faults=["asterisk_restart"])
    result = judged(world)["one_ticket"]
    assert [v.detail for v in result.violations] == ["a ticket for a call nobody placed"]
    assert result.notes == ["1 call(s) never answered while Asterisk restarted: no engine saw them"]
    world.replace_call("+393339999999", faults=["postgres_stop"])  # Asterisk was up: the engine owed a ticket
    details = [v.detail for v in failed(world)["one_ticket"].violations]
    assert details == ["no ticket for the call", "a ticket for a call nobody placed"]


def test_an_operator_the_caller_never_heard(world: SoakWorld) -> None:
    with world.session() as s, s.begin():
        s.get_one(Ticket, world.ids[SILENT]).operator_answered_at = DAY2 + timedelta(hours=1, minutes=1)
    result = failed(world)["outcome"]
    assert tickets_named(result) == {world.ids[SILENT]}
    assert "never heard an operator" in result.violations[0].detail


def test_an_operator_who_answered_as_the_caller_hung_up_is_not_judged(world: SoakWorld) -> None:
    """Connected for 0.3 s: no voice could reach the caller's ear; a longer talk unheard is a violation."""
    with world.session() as s, s.begin():
        ticket = s.get_one(Ticket, world.ids[SILENT])
        ticket.operator_answered_at, ticket.handle_s = DAY2 + timedelta(hours=1, minutes=1), 0.3
    world.replace_call(SILENT, hung_up_by="caller")
    assert "outcome" not in failed(world)
    with world.session() as s, s.begin():
        s.get_one(Ticket, world.ids[SILENT]).handle_s = 12.0
    assert "never heard an operator" in failed(world)["outcome"].violations[0].detail


def test_a_call_the_engine_failed_with_an_error_is_a_violation_even_under_a_fault(world: SoakWorld) -> None:
    """The soak's finding: callers resumed in the survey after a takeover ended 'failed
    (error:IllegalTransition)'; a fault during the call excuses a lost call, never the engine's bug."""
    world.replace_call(FIRST, faults=["engine_kill"])
    with world.session() as s, s.begin():
        ticket = s.get_one(Ticket, world.ids[FIRST])
        ticket.outcome, ticket.end_reason, ticket.last_state = "failed", "error:IllegalTransition", "started"
    result = failed(world)["outcome"]
    assert tickets_named(result) == {world.ids[FIRST]}
    assert "the engine failed the call (error:IllegalTransition in started)" in result.violations[0].detail


def test_a_talk_a_fault_cut_within_the_ears_time_is_not_judged(world: SoakWorld) -> None:
    """Run 6: a softphone answered at once and Asterisk was restarted two seconds later; the line
    ended the call, the caller could not have heard anybody yet. Without a fault it is judged."""
    with world.session() as s, s.begin():
        ticket = s.get_one(Ticket, world.ids[SILENT])
        ticket.operator_answered_at = DAY2 + timedelta(hours=1, minutes=1)
        ticket.operator_ended_at = ticket.operator_answered_at + timedelta(seconds=2)
    world.replace_call(SILENT, hung_up_by="engine", faults=["asterisk_restart"])
    assert "outcome" not in failed(world)
    world.replace_call(SILENT, hung_up_by="engine", faults=[])
    assert "never heard an operator" in failed(world)["outcome"].violations[0].detail


def test_a_message_the_store_lost(world: SoakWorld) -> None:
    world.replace_call(CAPPED, left_message=True)
    result = failed(world)["outcome"]
    assert [v.detail for v in result.violations] == ["the caller left a message, no message with audio is stored"]
    assert result.violations[0].callers == (CAPPED,)


def test_a_few_words_at_the_beep_may_or_may_not_be_a_message(world: SoakWorld) -> None:
    """Full run 3: five callers whose patience ran out 1.4 s into their message were told apart
    from "left none" only by the caller's own 2 s mark; the line rightly kept 1.3 s of speech."""
    world.replace_call(MESSAGE, left_message=False, message_s=1.4)
    assert "outcome" not in failed(world)
    world.replace_call(MESSAGE, left_message=False, message_s=0.0)
    result = failed(world)["outcome"]
    assert [v.detail for v in result.violations] == ["a message with audio is stored, the caller left none"]


def test_a_callback_asked_for_and_not_booked(world: SoakWorld) -> None:
    world.replace_call(SILENT, callback_requested=True)
    result = failed(world)["outcome"]
    assert [v.detail for v in result.violations] == ["the caller asked for a callback, the store has none"]
    assert tickets_named(result) == {world.ids[SILENT]}


def test_a_caller_gone_right_after_confirming_the_number_may_or_may_not_be_booked(world: SoakWorld) -> None:
    """Full run 7, ticket 2885: the caller's patience ran out 3 ms after the key confirming the
    number; the line booked the callback on that key, the caller never heard it said."""
    booked = "+393330000005"
    world.replace_call(booked, callback_requested=False, hung_up_by=HungUpBy.CALLER)
    assert "outcome" not in failed(world)
    world.replace_call(booked, callback_requested=False, callback_number=None, hung_up_by=HungUpBy.CALLER)
    assert "the caller never asked for a callback" in failed(world)["outcome"].violations[0].detail
    # Full run 8, ticket 4963: the line booked it and hung up, the ear did not make out "booked".
    world.replace_call(booked, callback_requested=False, callback_number="3331234567", hung_up_by=HungUpBy.ENGINE)
    assert "outcome" not in failed(world)
    world.replace_call(booked, callback_requested=False, callback_number="3331234567", hung_up_by=HungUpBy.NETWORK)
    assert "the caller never asked for a callback" in failed(world)["outcome"].violations[0].detail


def test_a_callback_number_confirmed_and_then_silence_unless_the_line_could_not_speak(world: SoakWorld) -> None:
    """Medium run 6: the database away, the booking failed and the caller who had just confirmed
    a number heard nothing about it. A fault that silences the line (the engine killed) excuses
    the silence; a database outage does not."""
    world.replace_call(SILENT, callback_offered=True, callback_unsaid=True, faults=["postgres_stop"])
    result = failed(world)["outcome"]
    assert [v.detail for v in result.violations] == [
        "the caller confirmed a callback number and was never told whether it was booked"
    ]
    assert tickets_named(result) == {world.ids[SILENT]}
    world.replace_call(SILENT, callback_offered=True, callback_unsaid=True, faults=["engine_kill"])
    assert "outcome" not in failed(world)
    world.replace_call(SILENT, callback_unsaid=False, callback_not_booked=True, faults=["postgres_stop"])
    assert "outcome" not in failed(world)


def test_a_recording_the_ticket_calls_consented_and_the_caller_refused(world: SoakWorld) -> None:
    """The consent check does not take the ticket's word: the journal says what the caller pressed."""
    world.replace_call(FIRST, consent_key="2")
    broken = failed(world)
    assert [v.detail for v in broken["outcome"].violations] == [
        "the caller pressed 2 at the consent notice, the ticket says accepted"
    ]
    assert [v.detail for v in broken["recording_consent"].violations] == [
        "recording 1 of a caller who pressed 2 at the consent notice"
    ]


def test_a_consent_the_line_never_recorded_is_excused_only_on_the_safe_side(world: SoakWorld) -> None:
    """Left during the notice, or a fault took the key: no choice or a no is no broken promise;
    a yes the caller did not give is one, fault or not."""
    with world.session() as s, s.begin():
        s.get_one(Ticket, world.ids[FIRST]).consent = None
    world.replace_call(FIRST, hangup_state="consent")
    assert "outcome" not in failed(world)
    with world.session() as s, s.begin():
        s.get_one(Ticket, world.ids[FIRST]).consent = "no_answer"
    world.replace_call(FIRST, hangup_state=None, faults=["engine_kill"])
    assert "outcome" not in failed(world)
    world.replace_call(FIRST, faults=[])
    assert [v.detail for v in failed(world)["outcome"].violations] == [
        "the caller pressed 1 at the consent notice, the ticket says no_answer"
    ]
    with world.session() as s, s.begin():
        s.get_one(Ticket, world.ids[FIRST]).consent = "accepted"
    world.replace_call(FIRST, consent_key="2", faults=["engine_kill"])
    assert [v.detail for v in failed(world)["outcome"].violations] == [
        "the caller pressed 2 at the consent notice, the ticket says accepted"
    ]


def test_refused_for_the_cap_under_the_cap(world: SoakWorld) -> None:
    refused_at = DAY2 + timedelta(hours=4)
    with world.session() as s, s.begin():
        t = Ticket(channel="phone", caller_number="+393330000099", started_at=refused_at, open=False)
        t.answered_at, t.queue_result = refused_at, "cap"
        s.add(t)
        s.flush()
        refused = t.id
    world.evidence.journal.append(world.call(CAPPED).model_copy(update={"caller": "+393330000099"}))
    result = failed(world)["daily_cap"]
    assert tickets_named(result) == {refused}
    assert "refused for the cap with only 1 admitted" in result.violations[0].detail


def test_admissions_not_counted_by_the_cap(world: SoakWorld) -> None:
    world.evidence.daily_cap = 2
    result = failed(world)["daily_cap"]
    assert any("3 admitted, over the cap of 2" in v.detail for v in result.violations)


def test_a_later_caller_served_first(world: SoakWorld) -> None:
    with world.session() as s, s.begin():
        offer = s.scalars(
            select(TicketEvent).where(TicketEvent.ticket_id == world.ids[FIRST], TicketEvent.kind == "offer")
        ).one()
        offer.at = DAY1 + timedelta(seconds=90)
    result = failed(world)["answer_order"]
    assert tickets_named(result) == {world.ids[FIRST], world.ids[SECOND]}


def test_a_transferred_caller_is_not_judged_by_arrival(world: SoakWorld) -> None:
    with world.session() as s, s.begin():
        first = world.ids[FIRST]
        s.scalars(select(TicketEvent).where(TicketEvent.ticket_id == first, TicketEvent.kind == "offer")).one().at = (
            DAY1 + timedelta(seconds=90)
        )
        s.add(TicketEvent(ticket_id=first, at=DAY1 + timedelta(seconds=30), kind="transferred"))
    result = judged(world)["answer_order"]
    assert result.passed
    assert result.notes == ["1 transferred or resumed calls not judged by arrival order"]


def test_a_caller_passed_while_giving_a_callback_number_is_no_inversion(world: SoakWorld) -> None:
    """The place is held, not offered, during the number dialogue (ivr.acd.step._book_callback)."""
    with world.session() as s, s.begin():
        first = world.ids[FIRST]
        s.scalars(select(TicketEvent).where(TicketEvent.ticket_id == first, TicketEvent.kind == "offer")).one().at = (
            DAY1 + timedelta(seconds=90)
        )
        s.add(TicketEvent(ticket_id=first, at=DAY1 + timedelta(seconds=80), kind="callback_number"))
    assert judged(world)["answer_order"].passed
    world.evidence.callback_dialogue_s = 30.0  # the second caller was served 35 s before it ended
    assert tickets_named(failed(world)["answer_order"]) == {first, world.ids[SECOND]}


def test_audio_changed_and_audio_without_a_row(world: SoakWorld) -> None:
    world.files["voicemail"].write_bytes(b"RIFF another message")
    stray = world.evidence.recordings_dir / "call-99.wav"
    stray.write_bytes(b"RIFF nobody's")
    details = [v.detail for v in failed(world)["voicemail_audio"].violations]
    assert len(details) == 2
    assert "does not match its stored sha256" in details[0]
    assert details[1] == f"audio file without a row: {stray}"


def test_a_conversation_recording_started_and_never_kept_nor_failed(world: SoakWorld) -> None:
    """The suite's short soak after run 6: ticket 45's engine killed as its operator hung up, the
    recording started on the timeline and kept by no engine."""
    with world.session() as s, s.begin():
        s.execute(delete(TicketEvent).where(TicketEvent.kind == "recording_kept"))
    result = failed(world)["voicemail_audio"]
    assert [v.detail for v in result.violations] == ["1 conversation recording(s) started, neither kept nor failed"]
    assert tickets_named(result) == {world.ids[FIRST]}


def test_a_missing_message_file(world: SoakWorld) -> None:
    world.files["voicemail"].unlink()
    result = failed(world)["voicemail_audio"]
    assert tickets_named(result) == {world.ids[MESSAGE]}


def test_a_message_whose_audio_asterisk_lost_passes_only_flagged_and_in_a_fault(world: SoakWorld) -> None:
    """Asterisk restarted 0.4 s into a message and never stored it: the message says "lost";
    that is excused only for a call a fault overlapped, never for an unflagged or quiet one."""
    world.files["voicemail"].unlink()
    with world.session() as s, s.begin():
        vm = s.scalars(select(Voicemail).where(Voicemail.ticket_id == world.ids[MESSAGE])).one()
        s.delete(s.get_one(Recording, vm.recording_id))
        vm.recording_id, vm.transcript_status = None, "lost"
    assert tickets_named(failed(world)["voicemail_audio"]) == {world.ids[MESSAGE]}  # no fault near it
    fault = world.evidence.faults[0].at  # faults and the carrier's journal share the real clock
    journal = world.evidence.journal
    i = next(n for n, call in enumerate(journal) if call.caller == MESSAGE)
    journal[i] = journal[i].model_copy(
        update={"placed_at": fault - timedelta(seconds=20), "ended_at": fault + timedelta(seconds=5)}
    )
    result = judged(world)["voicemail_audio"]
    assert result.passed and any("lost its audio" in note for note in result.notes)
    with world.session() as s, s.begin():
        s.scalars(
            select(Voicemail).where(Voicemail.ticket_id == world.ids[MESSAGE])
        ).one().transcript_status = "pending"
    assert tickets_named(failed(world)["voicemail_audio"]) == {world.ids[MESSAGE]}  # not flagged: still a loss


def test_a_withheld_callers_message_lost_in_a_fault_is_found_by_its_channel(world: SoakWorld) -> None:
    """Full run 11, message 237: an anonymous caller cut 1.2 s into the message by an Asterisk
    restart. No journal call pairs with a withheld number; the ticket's channel id carries the
    real second Asterisk made it, and that places the call in the fault (or not)."""
    world.files["voicemail"].unlink()
    fault = world.evidence.faults[0].at
    with world.session() as s, s.begin():
        vm = s.scalars(select(Voicemail).where(Voicemail.ticket_id == world.ids[MESSAGE])).one()
        s.delete(s.get_one(Recording, vm.recording_id))
        vm.recording_id, vm.transcript_status = None, "lost"
        ticket = s.get_one(Ticket, world.ids[MESSAGE])
        ticket.caller_number = "anonymous"
        ticket.call_uid = f"soak-{int((fault - timedelta(hours=2)).timestamp())}.17"
    journal = world.evidence.journal
    i = next(n for n, call in enumerate(journal) if call.caller == MESSAGE)
    journal[i] = journal[i].model_copy(update={"caller": "anonymous"})
    assert tickets_named(failed(world)["voicemail_audio"]) == {world.ids[MESSAGE]}  # made hours before it
    with world.session() as s, s.begin():
        s.get_one(Ticket, world.ids[MESSAGE]).call_uid = f"soak-{int((fault - timedelta(seconds=3)).timestamp())}.17"
    result = judged(world)["voicemail_audio"]
    assert result.passed and any("lost its audio" in note for note in result.notes)


def test_a_missed_call_off_the_work_list_and_a_listed_call_that_was_answered(world: SoakWorld) -> None:
    """Notes written at a call's end were lost in the soak's outages: the list is checked."""
    with world.session() as s, s.begin():
        for row in s.scalars(select(MissedCall)):
            s.delete(row)
    assert tickets_named(failed(world)["missed_calls"]) == {world.ids[CAPPED]}
    with world.session() as s, s.begin():
        capped = s.get_one(Ticket, world.ids[CAPPED])
        s.add(MissedCall(ticket_id=capped.id, number=None, reason="cap", at=capped.started_at, local_day=DAY1.date()))
        first = s.get_one(Ticket, world.ids[FIRST])
        s.add(
            MissedCall(ticket_id=first.id, number=None, reason="abandoned", at=first.started_at, local_day=DAY1.date())
        )
    result = failed(world)["missed_calls"]
    assert tickets_named(result) == {world.ids[FIRST]}
    assert {v.detail for v in result.violations} == {
        "listed as missed, yet the ticket shows an operator or a message to call back on",
        "listed as missed, yet the caller heard an operator",
    }


def test_a_missed_call_called_back_and_answered_yet_still_to_do(world: SoakWorld) -> None:
    """An answered callback closes the missed call on the supervisors' list (issue 26)."""
    capped = world.ids[CAPPED]
    with world.session() as s, s.begin():
        at = s.get_one(Ticket, capped).started_at + timedelta(hours=1)
        s.add(CallbackAttempt(ticket_id=capped, at=at, operator="ada", result="answered", note=None))
    assert tickets_named(failed(world)["missed_calls"]) == {capped}
    with world.session() as s, s.begin():
        row = s.scalars(select(MissedCall).where(MissedCall.ticket_id == capped)).one()
        row.done_at, row.done_by = at, "ada"
    result = judged(world)["missed_calls"]
    assert result.passed and any("1 called back and answered" in note for note in result.notes)


def test_a_recording_without_consent(world: SoakWorld) -> None:
    with world.session() as s, s.begin():
        s.get_one(Ticket, world.ids[FIRST]).consent = "refused"
    result = failed(world)["recording_consent"]
    assert len(result.violations) == 2  # the file kept, and the recording started
    assert tickets_named(result) == {world.ids[FIRST]}


def test_survey_answers_without_an_operator(world: SoakWorld) -> None:
    with world.session() as s, s.begin():
        s.add(SurveyAnswer(ticket_id=world.ids[SILENT], question="q1", answer=3, at=DAY2 + timedelta(hours=1)))
    broken = failed(world)
    assert tickets_named(broken["survey_after_operator"]) == {world.ids[SILENT]}
    assert tickets_named(broken["outcome"]) == {world.ids[SILENT]}  # and the caller pressed nothing


def test_callbacks_left_doubled_or_to_refused_numbers(world: SoakWorld) -> None:
    cb = world.ids[CALLBACK]
    with world.session() as s, s.begin():
        s.scalars(select(QueuedCallback)).one().state = "waiting"
        s.add(TicketEvent(ticket_id=cb, at=DAY2 + timedelta(minutes=6), kind="callback_connected"))
        s.add(TicketEvent(ticket_id=cb, at=DAY2 + timedelta(minutes=9), kind="callback_try", detail={"attempt": 1}))
        s.add(AuditEntry(at=DAY2, action="dial_out", object_id="899123456", detail={"ticket": cb}))
        due = s.get_one(Ticket, world.ids[MESSAGE])
        due.callback_due = DAY2 + timedelta(hours=5)  # the second-level callback came due in the run
    details = [v.detail for v in failed(world)["callbacks"].violations]
    assert details == [
        "queued callback 1 left waiting: neither dialled to the end nor closed",
        "queued callback 1: attempt 1 made twice",
        "queued callback 1: a second leg connected while one was up",
        f"second-level callback due {DAY2 + timedelta(hours=5):%Y-%m-%d %H:%M} never dialled nor closed",
        "dialled a refused number (premium or shared-cost number)",
    ]


def test_web_request_late_unflagged_and_a_mail_sent_twice(world: SoakWorld) -> None:
    web = world.ids["web"]
    with world.session() as s, s.begin():
        s.get_one(Ticket, web).sla_met_at = None
    assert world.evidence.mails is not None
    world.evidence.mails.append(world.evidence.mails[1])
    result = failed(world)["web_and_mail"]
    assert [v.detail.split(" ")[0] for v in result.violations] == ["web", "mail", "2"]
    assert tickets_named(result) == {web}


def test_a_web_request_answered_late_after_being_flagged_overdue_is_not_a_violation(world: SoakWorld) -> None:
    """An answer given late clears the ticket's flag: the flag raised before is on the timeline."""
    web = world.ids["web"]
    with world.session() as s, s.begin():
        t = s.get_one(Ticket, web)
        assert t.callback_due is not None
        t.sla_met_at, t.sla_flag = t.callback_due + timedelta(hours=5), None
    assert tickets_named(failed(world)["web_and_mail"]) == {web}  # late, and never flagged
    with world.session() as s, s.begin():
        t = s.get_one(Ticket, web)
        assert t.callback_due is not None
        s.add(TicketEvent(ticket_id=web, at=t.callback_due + timedelta(minutes=1), kind="sla_overdue"))
    assert "web_and_mail" not in failed(world)


def test_a_mail_the_store_never_sent(world: SoakWorld) -> None:
    assert world.evidence.mails is not None
    world.evidence.mails.append(
        SinkMail(
            recipients=["x@example.org"], message_id="<3@nul.invalid>", subject="Risposta", ticket=world.ids["web"]
        )
    )
    assert failed(world)["web_and_mail"].violations[0].detail == "2 mails sent by the store's account, 3 received"


def test_a_mail_whose_send_began_and_never_ended_may_or_may_not_be_in_the_sink(world: SoakWorld) -> None:
    """An engine stopped between a send and its outcome leaves the intent as the last word
    (finding 69): zero or one such e-mail is in the sink, never two."""
    web = world.ids["web"]
    with world.session() as s, s.begin():
        at = s.get_one(Ticket, web).started_at + timedelta(hours=3)
        s.add(TicketEvent(ticket_id=web, at=at, kind="mail_escalation", detail={"sent": None, "sending": True}))
    assert "web_and_mail" not in failed(world)  # not received: it may never have gone
    assert world.evidence.mails is not None
    notice = SinkMail(recipients=["cittadino@example.org"], message_id="<9@nul.invalid>", subject="Presa", ticket=web)
    world.evidence.mails.append(notice)
    assert "web_and_mail" not in failed(world)  # received once: it went
    world.evidence.mails.append(notice.model_copy(update={"message_id": "<10@nul.invalid>"}))
    assert failed(world)["web_and_mail"].violations[0].detail == (
        "2 mails sent by the store's account (1 more perhaps), 4 received"
    )


def test_not_drained(world: SoakWorld, tmp_path: Path) -> None:
    with world.session() as s, s.begin():
        s.get_one(Ticket, world.ids[SILENT]).open = True
    world.evidence.asterisk = AsteriskState(channels=2, bridges=1)
    active = world.evidence.outboxes[0]
    db = sqlite3.connect(active)
    db.execute("INSERT INTO pending (batch, command) VALUES ('b1', '{}')")
    db.commit()
    db.close()
    # The other engine's outbox (full run 8: the fenced engine's held 146 calls' tickets): a write
    # waiting there, and one the database would not take, set aside (ivr.tickets.replay).
    other = Outbox(tmp_path / "b" / "outbox.db")
    other.append("t9", Command("ticket.event", {"ticket_id": -4, "kind": "menu_choice", "at": T_OTHER}))
    refused = Command("ticket.event", {"ticket_id": 987654, "kind": "x", "at": T_OTHER})
    other.done([], {}, [(Pending(7, "t8", refused), "IntegrityError: foreign key")])
    other.close()
    world.evidence.outboxes.append(tmp_path / "b" / "outbox.db")
    result = failed(world)["drained"]
    assert [v.detail for v in result.violations] == [
        "1 tickets still open",
        "2 channels left in Asterisk",
        "1 bridges left in Asterisk",
        f"1 writes still waiting in the outbox {active}",
        f"1 writes still waiting in the outbox {tmp_path / 'b' / 'outbox.db'}",
        f"a write the database would not take, set aside in {tmp_path / 'b' / 'outbox.db'}: "
        f"{refused.dumps()} (IntegrityError: foreign key)",
    ]
    assert tickets_named(result) == {world.ids[SILENT]}


def test_published_figures_that_differ(world: SoakWorld) -> None:
    document = world.publish("statistiche.json")
    total = next(r for r in document["rows"] if r["period"] == "total")
    total["answered"] += 1
    total["voicemail_caller_choice"] = 0
    details = [v.detail for v in failed(world)["published_figures"].violations]
    assert details == [
        f"statistiche.json {DAY1.date()}..{DAY2.date()}: answered published 3, counted 2",
        f"statistiche.json {DAY1.date()}..{DAY2.date()}: voicemail_caller_choice published 0, counted 1",
    ]


def test_published_callbacks_and_languages_that_differ(world: SoakWorld) -> None:
    """The public page's callbacks and calls per language (issue 26) against the checker's count."""
    document = world.publish("statistiche.json")
    reader = EngineReader(world.engine)
    try:
        figures = asyncio.run(callback_figures(reader, DAY1.date(), DAY2.date()))
    finally:
        reader.close()
    document.update(citizens_public.as_dict(figures))
    result = judged(world)["published_figures"]
    assert result.passed, result.violations
    assert document["richiamate"]["richieste"] >= 1 and sum(document["lingue"].values()) >= 5  # not all zero
    document["richiamate"]["richieste"] += 1
    document["lingue"]["en"] = document["lingue"].get("en", 0) + 2
    details = [v.detail for v in failed(world)["published_figures"].violations]
    span = f"statistiche.json {DAY1.date()}..{DAY2.date()}"
    asked, english = figures.accepted, figures.languages.get("en", 0)
    assert details == [
        f"{span}: callbacks richieste published {asked + 1}, counted {asked}",
        f"{span}: calls in en published {english + 2}, counted {english}",
    ]


def test_a_ticket_the_statistics_count_on_another_day(world: SoakWorld) -> None:
    """The published figures group by the ticket's calendar key; the checker by its start in Rome."""
    with world.session() as s, s.begin():
        s.get_one(Ticket, world.ids[SILENT]).local_day = DAY2.date() + timedelta(days=1)
    world.publish()
    details = [v.detail for v in failed(world)["published_figures"].violations]
    assert details == [
        f"stats.json {DAY1.date()}..{DAY2.date()}: in_hours published 6, counted 7",
        f"stats.json {DAY1.date()}..{DAY2.date()}: offered published 6, counted 7",
    ]


def test_a_resource_that_grows(world: SoakWorld) -> None:
    world.evidence.resources = [
        s.model_copy(update={"open_files": s.open_files * (1.5 if i >= 100 else 1.0)})
        for i, s in enumerate(world.evidence.resources)
    ]
    result = failed(world)["resources"]
    assert len(result.violations) == 1
    assert result.violations[0].detail.startswith("open_files: floor 60.0 at the end against 40.0 at the start")


def test_tasks_that_follow_the_calls_are_no_leak_a_rising_floor_is(world: SoakWorld) -> None:
    """Full run 3: the engines' tasks went with the traffic (35 to 258), busier at the end than at
    the start; by the mean, a leak. Judged by each window's quietest quarter."""

    def tasks(floor_after: float) -> list[ResourceSample]:
        busy = [60.0, 90.0, 150.0, 240.0]  # quiet and busy minutes in turn
        return [
            ResourceSample(
                at=DAY1 + timedelta(minutes=m),
                rss_bytes=1e6,
                open_files=10,
                db_connections=1,
                asyncio_tasks=(busy[m % 4] + (40 if m >= 15 else 0)) if m % 4 else (60 if m < 15 else floor_after),
            )
            for m in range(30)
        ]

    world.evidence.resources = tasks(floor_after=60)  # busier at the end, the same floor
    assert "resources" not in failed(world)
    world.evidence.resources = tasks(floor_after=200)  # what stays behind grew
    (leak,) = failed(world)["resources"].violations
    assert leak.detail.startswith("asyncio_tasks: floor")


def test_a_few_tasks_more_over_a_small_floor_are_no_leak(world: SoakWorld) -> None:
    """Medium run 8: an engine that was the idle standby at the start and the active engine
    draining its last calls at the end had 30.8 tasks at its floor, then 35 (+14 %); a handful more
    over a small count is the calls still up, a leak is far more (one per call)."""

    def tasks(after: float) -> list[ResourceSample]:
        return [
            ResourceSample(
                at=DAY1 + timedelta(minutes=m),
                rss_bytes=1e6,
                open_files=10,
                db_connections=1,
                asyncio_tasks=30.8 if m < 15 else after,
            )
            for m in range(30)
        ]

    world.evidence.resources = tasks(35.0)
    assert "resources" not in failed(world)
    world.evidence.resources = tasks(45.0)
    (leak,) = failed(world)["resources"].violations
    assert leak.detail.startswith("asyncio_tasks: floor 45.0 at the end against 30.8 at the start")


def _loaded(calls: list[float], left: list[float] | None = None) -> list[ResourceSample]:
    """A minute's sample per entry of `calls` (the engine's calls in progress): a task per call and
    36 of the engine's own, plus `left` tasks a leak left behind (by minute), named as such."""
    left = left or [0.0] * len(calls)
    return [
        ResourceSample(
            at=DAY1 + timedelta(minutes=m),
            rss_bytes=1e6,
            open_files=10,
            db_connections=1,
            asyncio_tasks=36 + n + left[m],
            calls_in_progress=n,
            tasks_by_coroutine={"CallDispatcher._run": n, "Engine.run": 36, "CallChannel.wait_gone": left[m]},
        )
        for m, n in enumerate(calls)
    ]


# Minutes 5-13 and 21-29 are the two windows compared (a 30-minute curve, 5 minutes of warm-up).
WIDE_TROUGH_FIRST = [200, 150, 100, 60, 20, 10, 3, 0, 0, 1, 2, 0, 8, 60]  # quiet from minute 6 to 11
BRIEF_DIP_LAST = [120, 200, 240, 240, 230, 150, 60, 40, 60, 2, 40, 120, 200, 240, 250, 240]  # quiet at minute 25


def test_tasks_are_compared_at_the_quiet_moments_of_each_window(world: SoakWorld) -> None:
    """Full run 6, the engine started 20:03:03: its first window held a wide trough of the traffic
    (ten minutes near no call, 33-39 tasks), its last a brief one (one sample at 2 calls, 37 tasks);
    each window's quietest quarter took busy samples in the last (72.5 against 38.8), a "leak". At
    the quiet moments both were 36-39: no leak. Tasks that stay behind at the quiet moments are."""
    world.evidence.resources = _loaded(WIDE_TROUGH_FIRST + BRIEF_DIP_LAST)
    assert "resources" not in failed(world)
    left = [0.0] * 16 + [30.0] * 14  # what a leak leaves: still there when the line is quiet
    world.evidence.resources = _loaded(WIDE_TROUGH_FIRST + BRIEF_DIP_LAST, left)
    (leak,) = failed(world)["resources"].violations
    assert leak.detail.startswith("asyncio_tasks: floor 68.0 at the end against 36.0 at the start")
    assert leak.detail.endswith("; grew: CallChannel.wait_gone +30.0, CallDispatcher._run +1.0")


def test_a_last_window_busier_at_its_quietest_is_noted_not_compared(world: SoakWorld) -> None:
    """Full run 6, the engine started 20:48:42: active for 16 minutes, its first window over a
    trough (34 calls, 72 tasks), its last all at the peak (185 to 248 calls): 261.8 against 75.4, a
    "leak" that was the traffic. With no quiet moment in the last window and the last busier, the
    floors say nothing of a leak: noted. At a like load a floor that grew is still one."""
    peak = [240, 230, 250, 245, 235, 248, 240, 238, 244, 241, 239, 247, 243, 236, 240, 246]
    world.evidence.resources = _loaded(WIDE_TROUGH_FIRST + peak)
    assert "resources" not in failed(world)
    notes = next(r for r in run_checks(world.evidence) if r.name == "resources").notes
    assert "asyncio_tasks: no quiet moment (at most 5 calls up) in the last window, and the last busier" in " ".join(
        notes
    ), notes
    busy = [120.0 + (m % 3) * 10 for m in range(30)]  # never quiet, the same load all through
    world.evidence.resources = _loaded(busy)
    assert "resources" not in failed(world)
    world.evidence.resources = _loaded(busy, [0.0] * 16 + [40.0] * 14)
    (leak,) = failed(world)["resources"].violations
    assert leak.detail.startswith("asyncio_tasks: floor") and "grew: CallChannel.wait_gone +40.0" in leak.detail


def test_a_short_run_is_judged_in_thirds(world: SoakWorld) -> None:
    start = DAY1
    world.evidence.resources = [
        ResourceSample(
            at=start + timedelta(minutes=m),
            rss_bytes=1e6 * (1 + m / 20),
            open_files=1,
            db_connections=1,
            asyncio_tasks=1,
        )
        for m in range(30)
    ]
    result = failed(world)["resources"]
    assert [v.detail.split(":")[0] for v in result.violations] == ["rss_bytes"]
    assert result.notes == ["windows of 9 and 9 samples"]


def test_each_engine_process_is_judged_on_its_own_curve(world: SoakWorld) -> None:
    """After a takeover the next engine starts higher (it took the calls over): no leak. A leak in
    one of them is still named, with the process it is in."""

    def series(process: float, files: float, grow: float = 0.0) -> list[ResourceSample]:
        start = DAY1 + timedelta(hours=process)
        return [
            ResourceSample(
                at=start + timedelta(minutes=m),
                rss_bytes=1e6,
                open_files=files + grow * m,
                db_connections=1,
                asyncio_tasks=1,
                process=start.timestamp(),
            )
            for m in range(30)
        ]

    world.evidence.resources = series(0, 20) + series(1, 40)
    assert "resources" not in failed(world)
    world.evidence.resources = series(0, 20) + series(1, 40, grow=1.0)
    details = [v.detail for v in failed(world)["resources"].violations]
    assert len(details) == 1 and details[0].startswith("engine started ") and "open_files" in details[0]


def test_a_curve_of_a_few_minutes_is_noted_not_judged(world: SoakWorld) -> None:
    """A three-minute soak ramps up and drains: its curve says nothing about a leak."""
    world.evidence.windows = ResourceWindows(warmup_s=30.0)
    world.evidence.resources = [
        ResourceSample(
            at=DAY1 + timedelta(seconds=10 * i), rss_bytes=1e6, open_files=10 + i, db_connections=1, asyncio_tasks=1
        )
        for i in range(18)
    ]
    assert "resources" not in failed(world)
    notes = next(r for r in run_checks(world.evidence) if r.name == "resources").notes
    assert notes == ["140 s after the warm-up: too short to tell a leak"]


def test_a_check_that_cannot_look_is_a_violation(world: SoakWorld, tmp_path: Path) -> None:
    world.evidence.outboxes = [tmp_path / "not-an-outbox.db"]
    world.evidence.outboxes[0].write_bytes(b"this is not a database file at all, not even close" * 40)
    result = failed(world)["drained"]
    assert result.violations[-1].detail.startswith("the check could not run: DatabaseError")


def test_the_report_beside_the_run(world: SoakWorld, tmp_path: Path) -> None:
    world.replace_call(LOST, caller="+393339999999")
    results = run_checks(world.evidence)
    files = write_report(tmp_path / "run", world.evidence, results)
    data = json.loads(files.json.read_text())
    assert data["passed"] is False
    assert data["calls"] == 7
    assert data["calls_per_journey"]["operator/citizens/it"] == 4
    assert data["faults"][0]["name"] == "engine_kill"
    assert data["latency"]["answer"] == {"count": 4, "p50_s": 0.25, "p99_s": 1.5}
    one = next(c for c in data["checks"] if c["name"] == "one_ticket")
    assert one["violations"][1]["tickets"] == [world.ids[LOST]]
    chart = ElementTree.parse(files.chart).getroot()
    assert chart.tag == "{http://www.w3.org/2000/svg}svg"
    assert len(chart.findall("{http://www.w3.org/2000/svg}polyline")) == 4
    text = files.markdown.read_text()
    assert "| operator/citizens/it | 4 |" in text
    assert "engine_kill" in text
    assert f"a ticket for a call nobody placed (ticket {world.ids[LOST]}, caller {LOST})" in text


def test_percentiles_by_nearest_rank() -> None:
    values = [float(n) for n in range(1, 101)]
    assert (percentile(values, 0.5), percentile(values, 0.99), percentile([7.0], 0.99)) == (50.0, 99.0, 7.0)


def _run_folder(world: SoakWorld, run: Path) -> None:
    """What the soak leaves in its run folder (ivr.lab.soak.check_cli)."""
    ev = world.evidence
    (run / "published").mkdir(parents=True)
    journal = Journal(run / "journal.jsonl")
    for call in ev.journal:
        journal.append(call)
    (run / "run.json").write_text(json.dumps({"ended_at": ev.ended_at.isoformat()}))
    (run / "mails.json").write_text(json.dumps([m.model_dump() for m in ev.mails or []]))
    (run / "asterisk.json").write_text(json.dumps({"channels": 0, "bridges": 0}))
    (run / "resources.jsonl").write_text("".join(s.model_dump_json() + "\n" for s in ev.resources))
    (run / "faults.json").write_text(json.dumps([f.model_dump(mode="json") for f in ev.faults]))
    (run / "latency.json").write_text(json.dumps(ev.latency))
    (run / "published" / "stats.json").write_text(json.dumps(ev.published["stats.json"]))


def test_the_command_judges_a_run_folder(world: SoakWorld, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    ev = world.evidence
    settings = Settings.model_validate(
        {
            "database": {"url": ev.db_url, "outbox_file": str(ev.outboxes[0])},
            "paths": {"data_dir": str(ev.recordings_dir.parent)},
            "voicemail": {"dir": str(ev.voicemail_dir)},
            "queue": {"daily_cap": ev.daily_cap},
        }
    )
    run = tmp_path / "run"
    _run_folder(world, run)
    assert cmd_soak_check(argparse.Namespace(run=str(run)), settings) == 0
    assert json.loads((run / "report.json").read_text())["passed"] is True
    assert "ok     resources: 0 violations" in capsys.readouterr().out
    (run / "asterisk.json").write_text(json.dumps({"channels": 1, "bridges": 0}))
    assert cmd_soak_check(argparse.Namespace(run=str(run)), settings) == 1
    assert "FAILED drained: 1 violations" in capsys.readouterr().out


def test_latency_per_step_from_the_stores_timeline(world: SoakWorld) -> None:
    """Each step once per ticket, from its first starting event to the first ending one after it;
    a step a ticket never reached is not counted as zero."""
    from ivr.lab.soak.latency import ANSWER, latency_from_store
    from ivr.lab.soak.store_view import read_store

    with world.session() as s, s.begin():
        ticket = s.get_one(Ticket, world.ids[FIRST])
        start = ticket.started_at
        ticket.answered_at = start + timedelta(seconds=0.25)
        s.add(TicketEvent(ticket_id=ticket.id, at=start + timedelta(seconds=5), kind="menu_choice"))
        s.add(TicketEvent(ticket_id=ticket.id, at=start + timedelta(seconds=5.5), kind="queue_admitted"))
        s.add(TicketEvent(ticket_id=ticket.id, at=start + timedelta(seconds=9), kind="menu_choice"))  # not a start
    steps = latency_from_store(read_store(world.evidence.db_url))
    assert 0.5 in steps["menu key -> in the queue"]
    assert 0.25 in steps[ANSWER]
    assert all(v >= 0 for values in steps.values() for v in values)


def test_a_pool_filling_up_to_its_size_is_no_leak_past_it_it_is(world: SoakWorld) -> None:
    """A medium run's pool went from 3 connections to 4.9 after a busier hour: how a pool works."""

    def series(first: float, last: float) -> list[ResourceSample]:
        connections = [first if m < 15 else last for m in range(30)]
        return [
            ResourceSample(at=DAY1 + timedelta(minutes=m), rss_bytes=1, open_files=1, db_connections=c, asyncio_tasks=1)
            for m, c in enumerate(connections)
        ]

    world.evidence.resources = series(3, 4.9)
    assert "resources" not in failed(world)
    world.evidence.resources = series(3, POOL_SIZE + 2)
    (leak,) = failed(world)["resources"].violations
    assert leak.detail.startswith("db_connections: mean 12.0 at the end against 3.0") and "pool" in leak.detail


def test_a_call_whose_soak_caller_failed_is_reported_not_judged(world: SoakWorld) -> None:
    """Full run 4 ended after 86 minutes without a report: one caller's hangup through the lab
    carrier timed out and the exception ended the soak. A caller that fails is journaled as such;
    the checker says so instead of judging the line by it."""
    world.replace_call(
        MESSAGE, hangup_state="soak-error:AriUnavailable: DELETE channels/x: TimeoutError", left_message=False
    )
    result = failed(world)["outcome"]
    assert [v.detail for v in result.violations] == [
        "not judged: the soak's caller failed (soak-error:AriUnavailable: DELETE channels/x: TimeoutError)"
    ]


def test_an_answer_or_a_pause_missing_from_the_operator_history_is_a_violation(world: SoakWorld) -> None:
    """Check 29: the history operator time is read from holds each call answered and each pause."""
    with world.session() as s, s.begin():
        s.query(OperatorStateChange).filter_by(state="busy").delete()
        s.query(OperatorStateChange).filter_by(state="offered").delete()
    result = failed(world)["operator_time"]
    assert all("the history has them" in v.detail for v in result.violations) and result.violations


def test_a_reason_out_of_the_list_and_a_count_the_statistics_got_wrong(world: SoakWorld) -> None:
    answered = world.ids["+393330000001"]
    with world.session() as s, s.begin():
        s.get_one(Ticket, answered).call_reason = "pensioni"
    world.publish_reasons()  # the statistics count it as it is kept
    details = [v.detail for v in failed(world)["reasons"].violations]
    assert details == ["the ticket keeps reason 'pensioni', which is not in the list"]
    with world.session() as s, s.begin():
        s.get_one(Ticket, answered).call_reason = None  # now the published count says otherwise
    details = [v.detail for v in failed(world)["reasons"].violations]
    assert len(details) == 2 and all("counted" in d for d in details), details
    world.publish_reasons()  # the product's count, again from the rows: agrees
    assert "reasons" not in failed(world)
