"""The checks over the driver's non-call actions: a world whose actions all kept their promises
passes; each promise broken on its own (a request the store lost, a mail sent twice or never, a
listen not audited, a caller in a closure without its treatment, an offer to a paused operator,
an outcome not on its ticket) fails its check, naming the ticket."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from ivr.lab.soak.action_journal import OUTCOME, ActionJournal, ActionRecord, ActionResult
from ivr.lab.soak.check_cli import load_evidence
from ivr.lab.soak.checker import run_checks
from ivr.lab.soak.checks_reasons import SOAK_REASONS
from ivr.lab.soak.evidence import Fault, SinkMail
from ivr.lab.soak.journal import Journal
from ivr.lab.soak.verdict import CheckResult
from ivr.schema.console import AuditEntry
from ivr.schema.presence import OperatorStateChange
from ivr.schema.tickets import CallbackAttempt, Ticket, TicketEvent, WebRequest
from ivr.settings import Settings
from tests.unit.soak_world import DAY1, DAY2, SoakWorld, build_world

ANSWERED, SILENT = "+393330000002", "+393330000006"
OURS = ("web_requests", "action_mail", "listens_audited", "closures", "presence", "outcomes_filed", "second_level",
        "operator_time", "reasons")  # fmt: skip
SERVICE = "Numero per il lavoro"


def record(kind: str, at: datetime, result: ActionResult = ActionResult.DONE, **kw: Any) -> ActionRecord:
    return ActionRecord.model_validate(
        {"kind": kind, "sent_at": at, "done_at": at + timedelta(seconds=1), "result": result, "status": 200, **kw}
    )


@pytest.fixture
def world(db_url: str, tmp_path: Path) -> SoakWorld:
    """The checker's world, plus what the driver did in it, each with what the store keeps of it."""
    w = build_world(db_url, tmp_path)
    web, answered, silent = w.ids["web"], w.ids[ANSWERED], w.ids[SILENT]
    web_at = DAY2 + timedelta(hours=3)
    with w.session() as s, s.begin():
        s.add(TicketEvent(ticket_id=web, at=web_at + timedelta(hours=2), kind="web_reply", detail={"level": 1}))
        s.add(_citizens_request(web, web_at))
        s.add(AuditEntry(at=DAY2, login="soakcapo", action="recording_listen", object_kind="recording", object_id="1"))
        t = s.get_one(Ticket, silent)
        t.line_state, t.closure_id = "closure", "rt-3"
        s.add(TicketEvent(ticket_id=answered, at=DAY1 + timedelta(minutes=5), kind="outcome_filed",
                          detail={"outcome": "resolved", "operator_id": w.operator}))  # fmt: skip
        s.add(AuditEntry(at=DAY1 + timedelta(minutes=5), login="anna", action="ticket_outcome",
                         object_kind="ticket", object_id=str(answered)))  # fmt: skip
        s.add(
            OperatorStateChange(login="anna", state="paused", reason="Pranzo", at=DAY1 + timedelta(hours=3, seconds=1))
        )
    w.evidence.mails = [
        SinkMail(
            recipients=["c@example.org"],
            message_id="<1@x>",
            subject=f"{SERVICE}: richiesta n. {web} ricevuta",
            ticket=web,
        ),
        SinkMail(
            recipients=["c@example.org"],
            message_id="<2@x>",
            subject=f"{SERVICE}: risposta alla richiesta n. {web}",
            ticket=web,
        ),
    ]
    closure_at = DAY2 + timedelta(minutes=55)  # the silent caller calls at DAY2 + 1 h
    w.evidence.actions = [
        record(
            "web_request", web_at, ticket=web, ref="web-0001", params={"mail_to": "c@example.org", "mail_sent": True}
        ),
        record("web_reply", web_at + timedelta(hours=2), ticket=web, ref="web-0001", params={"mail_sent": True}),
        record("listen_recording", DAY2, user="soakcapo", object_id="1"),
        record("closure_on", closure_at, ref="soak-1-1", object_id="rt-3"),
        record("closure_off", closure_at + timedelta(minutes=10), ref="soak-1-1", object_id="rt-3"),
        record("pause", DAY1 + timedelta(hours=3), operator="anna", params={"reason": "Pranzo"}),
        record("available", DAY1 + timedelta(hours=4), operator="anna"),
        record(
            OUTCOME,
            DAY1 + timedelta(minutes=5),
            ticket=answered,
            operator="anna",
            params={"outcome": "resolved", "article": None},
        ),
    ]
    return w


def _citizens_request(ticket_id: int, at: datetime) -> WebRequest:
    return WebRequest(ticket_id=ticket_id, name="Cittadina Prova", email="c@example.org", subject="Domanda web-0001",
                      message="Vorrei sapere come iscrivermi.", received_at=at)  # fmt: skip


def ours(world: SoakWorld) -> dict[str, CheckResult]:
    return {r.name: r for r in run_checks(world.evidence) if r.name in OURS}


def failed(world: SoakWorld) -> dict[str, CheckResult]:
    return {n: r for n, r in ours(world).items() if not r.passed}


def replace(world: SoakWorld, which: str, /, **changes: Any) -> None:
    assert world.evidence.actions is not None
    world.evidence.actions = [a.model_copy(update=changes) if a.kind == which else a for a in world.evidence.actions]


def add(world: SoakWorld, *records: ActionRecord) -> None:
    assert world.evidence.actions is not None
    world.evidence.actions.extend(records)


def test_actions_that_kept_their_promises_pass(world: SoakWorld) -> None:
    results = ours(world)
    assert sorted(results) == sorted(OURS)
    assert failed(world) == {}, [v.detail for r in results.values() for v in r.violations]
    assert "1 closures switched on, 1 calls during them judged" in results["closures"].notes
    assert "1 outcomes filed, 0 with an article" in results["outcomes_filed"].notes
    assert results["web_requests"].notes[0].startswith("actions carried out: available 1 done; closure_off 1 done;")


def test_without_a_journal_nothing_is_judged_and_it_says_so(world: SoakWorld) -> None:
    world.evidence.actions = None
    assert all(r.passed and r.notes for r in ours(world).values())


def test_a_request_filed_the_store_does_not_have_and_one_never_filed(world: SoakWorld) -> None:
    replace(world, "web_request", ticket=9999)
    add(world, record("web_request", DAY2, ActionResult.FAILED, ref="web-0002", attempts=60, answer="no answer"))
    details = [v.detail for v in failed(world)["web_requests"].violations]
    assert details == [
        "request web-0002 could not be filed in 60 attempts: no answer",
        "request web-0001: the form gave number 9999, the store has no such web request",
    ]


def test_a_request_sent_again_after_a_lost_answer_and_filed_twice(world: SoakWorld) -> None:
    """Full run 6's web-0050: the form sent again when its first post got no answer, filed again."""
    replace(world, "web_request", attempts=4)
    with world.session() as s, s.begin():
        first = s.get_one(Ticket, world.ids["web"])
        twin = Ticket(channel="web", started_at=first.started_at, open=False, status="new", level=1,
                      sla_kind="web_reply", callback_due=first.callback_due, local_day=first.local_day)  # fmt: skip
        s.add(twin)
        s.flush()
        s.add(_citizens_request(twin.id, first.started_at))
        twin_id = twin.id
    result = failed(world)["web_requests"]
    (violation,) = result.violations
    assert violation.detail == f"request web-0001 filed 2 times (tickets {world.ids['web']}, {twin_id}), sent 4 times"
    assert violation.tickets == (world.ids["web"], twin_id)
    assert "1 requests sent more than once (no answer, or a fault, the first time)" in result.notes


def test_a_request_the_line_refused(world: SoakWorld) -> None:
    """Full run 6's web-0034: five posts answered 503 while the database was away, the sixth
    refused as too many from the address; the citizen's request was never filed."""
    add(world, record("web_request", DAY2, ActionResult.REFUSED, ref="web-0034", attempts=6, status=429,
                      answer="Troppe richieste da questo indirizzo: riprovi più tardi.",
                      params={"mail_to": "web-0034@cittadini.example.it"}))  # fmt: skip
    details = [v.detail for v in failed(world)["web_requests"].violations]
    assert details == [
        "request web-0034 refused (429) after 6 attempts: Troppe richieste da questo indirizzo: riprovi più tardi."
    ]


def test_an_answer_the_console_took_that_is_not_on_the_timeline(world: SoakWorld) -> None:
    with world.session() as s, s.begin():
        s.query(TicketEvent).filter(TicketEvent.kind == "web_reply").delete()
    result = failed(world)["web_requests"]
    assert result.violations[0].detail == "web_reply of request web-0001 answered by the console, not on its timeline"
    assert result.violations[0].tickets == (world.ids["web"],)


def test_a_mail_sent_twice_a_mail_never_sent_and_one_to_someone_else(world: SoakWorld) -> None:
    web = world.ids["web"]
    assert world.evidence.mails is not None
    world.evidence.mails.append(world.evidence.mails[1])  # the reply twice
    add(
        world, record("web_escalate", DAY2 + timedelta(hours=4), ticket=web, ref="web-0001", params={"mail_sent": True})
    )
    world.evidence.mails[0] = world.evidence.mails[0].model_copy(update={"recipients": ["altri@example.org"]})
    details = sorted(v.detail for v in failed(world)["action_mail"].violations)
    assert details == [
        "'presa in carico' mails: the line said 1 sent, the sink received 0",
        "'risposta alla richiesta' mails: the line said 1 sent, the sink received 2",
        f"mail '{SERVICE}: richiesta n. {web} ricevuta' went to altri@example.org, not c@example.org",
    ]


def test_a_mail_the_line_said_it_could_not_send_must_not_arrive(world: SoakWorld) -> None:
    replace(world, "web_reply", params={"mail_sent": False})
    result = failed(world)["action_mail"]
    assert [v.detail for v in result.violations] == [
        "'risposta alla richiesta' mails: the line said 0 sent, the sink received 1"
    ]


def test_a_listen_not_in_the_access_audit(world: SoakWorld) -> None:
    add(world, record("listen_voicemail", DAY2, user="soakcapo", object_id="4"))
    replace(world, "listen_recording", user="altro")
    details = [v.detail for v in failed(world)["listens_audited"].violations]
    assert details == [
        "altro played recording 1: not in the access audit",
        "soakcapo played voicemail 4: not in the access audit",
    ]


def test_a_caller_during_a_closure_without_its_treatment_and_one_after_it_with_it(world: SoakWorld) -> None:
    with world.session() as s, s.begin():
        s.get_one(Ticket, world.ids[SILENT]).line_state = "open"
        s.get_one(Ticket, world.ids[ANSWERED]).closure_id = "rt-3"  # called on day 1: long before
    result = failed(world)["closures"]
    assert [v.detail for v in result.violations] == [
        "called outside closure rt-3; the ticket names it",
        "called during closure rt-3; the ticket says open (rt-3)",
    ]
    assert [v.callers for v in result.violations] == [(ANSWERED,), (SILENT,)]


def test_a_caller_during_a_closure_placed_near_a_fault_is_not_judged(world: SoakWorld) -> None:
    with world.session() as s, s.begin():
        s.get_one(Ticket, world.ids[SILENT]).line_state = "open"
    restart = DAY2 + timedelta(minutes=59, seconds=50)  # the silent caller calls at DAY2 + 1 h
    world.evidence.faults += [
        Fault(at=restart, name="asterisk_restart", detail="Asterisk restarting"),
        Fault(at=restart + timedelta(seconds=20), name="asterisk_restart", detail="Asterisk restarted"),
    ]
    result = ours(world)["closures"]
    assert result.passed
    assert "1 calls during a closure placed near a fault or gone before the hours check: not judged" in result.notes
    # a fault undone well before the call excuses nothing
    world.evidence.faults[-2:] = [
        f.model_copy(update={"at": f.at - timedelta(minutes=3)}) for f in world.evidence.faults[-2:]
    ]
    assert "closures" in failed(world)


def test_an_offer_to_a_paused_operator(world: SoakWorld) -> None:
    # anna is offered a callback at DAY2 + 4 min (the world's timeline): paused from DAY2, it is a violation
    replace(world, "pause", sent_at=DAY2 - timedelta(seconds=1), done_at=DAY2)
    replace(world, "available", sent_at=DAY2 + timedelta(hours=1), done_at=DAY2 + timedelta(hours=1))
    result = failed(world)["presence"]
    assert len(result.violations) == 1 and "offered to anna at" in result.violations[0].detail
    assert "pause since" in result.violations[0].detail


def test_an_offer_before_a_failed_pause_or_after_available_is_no_violation(world: SoakWorld) -> None:
    replace(world, "pause", sent_at=DAY2, done_at=DAY2, result=ActionResult.FAILED)
    assert "presence" not in failed(world)
    replace(world, "pause", result=ActionResult.DONE)
    replace(world, "available", sent_at=DAY2 + timedelta(minutes=3), done_at=DAY2 + timedelta(minutes=3))
    assert "presence" not in failed(world)


def test_a_logout_without_available_covers_the_rest_of_the_run_in_simulated_time(world: SoakWorld) -> None:
    """The journal's times are the soak machine's; the store's are the engines' simulated time."""
    replace(world, "pause", kind="logout", sent_at=DAY2 - timedelta(hours=2), done_at=DAY2 - timedelta(hours=2))
    assert "logout since" in failed(world)["presence"].violations[0].detail  # never available again
    replace(world, "logout", offset_s=86400.0)  # on the engines' clock a day later: after the offer
    assert "presence" not in failed(world)


def test_a_pause_missing_from_the_operator_history_or_with_another_reason(world: SoakWorld) -> None:
    """Check 29: operator time is read from the history; a pause the console took is in it."""
    replace(world, "pause", params={"reason": "Riunione"})
    result = failed(world)["operator_time"]
    assert [v.detail for v in result.violations] == ["anna paused (Riunione) at 11:00:00: not in the state history"]
    replace(world, "pause", params={"reason": "Pranzo"})
    assert "operator_time" not in failed(world)
    with world.session() as s, s.begin():
        s.query(OperatorStateChange).filter_by(state="paused").delete()
    assert "not in the state history" in failed(world)["operator_time"].violations[0].detail


def test_outcomes_not_on_their_ticket_or_filed_twice(world: SoakWorld) -> None:
    first = world.ids["+393330000001"]
    answered = world.ids[ANSWERED]
    add(
        world,
        record(OUTCOME, DAY1, ticket=first, operator="anna", params={"outcome": "resolved", "article": 4}),
        record(OUTCOME, DAY1, ticket=answered, operator="anna", params={"outcome": "resolved", "article": None}),
    )
    result = failed(world)["outcomes_filed"]
    assert [v.detail for v in result.violations] == [
        f"the desk offered ticket {answered} to file 2 times",
        "outcome resolved filed by anna, not on the ticket's timeline",
    ]
    with world.session() as s, s.begin():
        s.add(TicketEvent(ticket_id=first, at=DAY1, kind="outcome_filed", detail={"outcome": "resolved", "article": 4}))
        s.add(AuditEntry(at=DAY1, login="anna", action="ticket_outcome", object_kind="ticket", object_id=str(first)))
    assert [v.detail for v in failed(world)["outcomes_filed"].violations][1] == (
        "resolved with article 4, the ticket names None"
    )


def test_an_outcome_on_a_timeline_that_no_audit_entry_names(world: SoakWorld) -> None:
    """Every surface files through one path, which audits: an outcome the audit log does not
    name came by another way (the API's, before it had the desk's rules)."""
    answered = world.ids[ANSWERED]
    with world.session() as s, s.begin():
        s.query(AuditEntry).filter(AuditEntry.action == "ticket_outcome").delete()
    assert [v.detail for v in failed(world)["outcomes_filed"].violations] == [
        "1 outcome(s) on the timeline, 0 in the audit log"
    ]
    assert failed(world)["outcomes_filed"].violations[0].tickets == (answered,)


def test_an_escalation_filed_at_the_desk_left_at_the_first_level(world: SoakWorld) -> None:
    replace(world, OUTCOME, params={"outcome": "escalated", "article": None})
    with world.session() as s, s.begin():
        s.query(TicketEvent).filter(TicketEvent.kind == "outcome_filed").update({"detail": {"outcome": "escalated"}})
    assert [v.detail for v in failed(world)["outcomes_filed"].violations] == [
        "escalated at the desk, the ticket is at level 1"
    ]


def test_the_check_command_reads_the_action_journal_of_a_run_folder(world: SoakWorld, tmp_path: Path) -> None:
    settings = Settings.model_validate({"database": {"url": world.evidence.db_url}})
    run = tmp_path / "run"
    run.mkdir()
    calls = Journal(run / "journal.jsonl")
    for call in world.evidence.journal:
        calls.append(call)
    assert load_evidence(run, settings).actions is None  # no journal of actions: said, not judged
    actions = ActionJournal(run / "actions.jsonl")
    for a in world.evidence.actions or []:
        actions.append(a)
    assert load_evidence(run, settings).actions == world.evidence.actions


def _second_level(world: SoakWorld, result: str, *, on_ticket: bool, met: bool) -> None:
    vm = world.ids["+393330000003"]
    at = DAY1 + timedelta(hours=7)
    with world.session() as s, s.begin():
        if on_ticket:
            s.add(CallbackAttempt(ticket_id=vm, at=at, operator="anna", result=result, note=None))
        if met:
            s.get_one(Ticket, vm).sla_met_at = at
    add(world, record("second_level_round", at, status=303, ticket=vm, operator="anna", params={"result": result}))


def test_a_callback_the_second_level_recorded_is_on_its_ticket(world: SoakWorld) -> None:
    _second_level(world, "answered", on_ticket=True, met=True)
    result = ours(world)["second_level"]
    assert result.passed and "1 callbacks worked by the second level, 0 not" in result.notes


def test_a_call_recorded_in_the_console_the_ticket_does_not_have(world: SoakWorld) -> None:
    _second_level(world, "no_answer", on_ticket=False, met=False)
    (v,) = failed(world)["second_level"].violations
    assert v.detail == "anna recorded the call (no_answer), the ticket has no such attempt"
    assert v.tickets == (world.ids["+393330000003"],)


def test_a_citizen_reached_whose_commitment_is_still_open_and_a_callback_the_console_refused(
    world: SoakWorld,
) -> None:
    _second_level(world, "answered", on_ticket=True, met=False)
    refused = record(
        "second_level_round", DAY1, ActionResult.REFUSED, status=400, ticket=7, answer="ticket #7 is closed"
    )
    add(world, refused)
    details = [v.detail for v in failed(world)["second_level"].violations]
    assert details == [
        "the console refused the second level's work on it (400: ticket #7 is closed)",
        "anna reached the citizen, the ticket's commitment is not met",
    ]


def test_a_caller_placed_while_the_console_was_switching_a_closure_on_is_not_judged(world: SoakWorld) -> None:
    """Full run 11, rt-3: the console took 15 s to answer the closure's switch; two callers
    placed within those seconds heard the closure and were judged "outside" it, from its
    answer. A switch takes effect between the request and the answer: in between, nobody is
    judged either way."""
    call = DAY2 + timedelta(hours=1)  # the silent caller, whose ticket names rt-3
    replace(world, "closure_on", sent_at=call - timedelta(seconds=1), done_at=call + timedelta(seconds=14))
    assert "closures" not in failed(world)
    replace(world, "closure_on", sent_at=call + timedelta(seconds=12), done_at=call + timedelta(seconds=14))
    assert [v.detail for v in failed(world)["closures"].violations] == [
        "called outside closure rt-3; the ticket names it"
    ]  # asked for only after the call: the ticket names a closure not yet asked for


def test_a_reason_chosen_at_the_desk_and_another_kept(world: SoakWorld) -> None:
    answered = world.ids[ANSWERED]
    with world.session() as s:
        kept = s.get_one(Ticket, answered).call_reason
    replace(world, OUTCOME, params={"outcome": "resolved", "article": None, "reason": kept})
    assert "reasons" not in failed(world)
    other = next(o["key"] for o in SOAK_REASONS if o["key"] != kept)
    replace(world, OUTCOME, params={"outcome": "resolved", "article": None, "reason": other})
    assert [v.detail for v in failed(world)["reasons"].violations] == [
        f"anna chose {other!r} and filed the call; the ticket keeps {kept!r}"
    ]
