"""A small soak's worth of evidence that keeps every promise: a journal of calls, the ticket store
rows the line would have written for them (written directly, as model rows), real audio files, the
sink's mails, Asterisk drained, an empty outbox, flat resource curves and the product's own
published figures. Tests break one promise at a time and see the checker say so."""

from __future__ import annotations

import asyncio
import hashlib
import json
import sqlite3
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from ivr.lab.soak.checks_reasons import PUBLISHED as REASONS_PUBLISHED
from ivr.lab.soak.checks_reasons import SOAK_REASONS, reason_for
from ivr.lab.soak.evidence import AsteriskState, Fault, ResourceSample, ResourceWindows, SinkMail, SoakEvidence
from ivr.lab.soak.journal import CallbackLeg, CallRecord, HungUpBy
from ivr.schema.callbacks import MissedCall, QueuedCallback
from ivr.schema.console import AuditEntry
from ivr.schema.presence import OperatorStateChange
from ivr.schema.tickets import (
    DailyAdmissions,
    Operator,
    Recording,
    SurveyAnswer,
    Ticket,
    TicketEvent,
    Voicemail,
)
from ivr.stats.formats import to_json
from ivr.stats.queries import Scope
from ivr.stats.reasons import reason_report
from ivr.stats.reasons import to_json as reasons_json
from ivr.stats.report import EngineReader, build_report
from ivr.tickets.config import ReasonSettings
from ivr.tickets.db import make_engine, upgrade
from ivr.tickets.periods import local_keys

DAY1 = datetime(2028, 6, 5, 8, 0, tzinfo=UTC)  # 10:00 in Rome
DAY2 = DAY1 + timedelta(days=1)
ENDED = DAY2 + timedelta(hours=8)
CAP = 3


@dataclass
class SoakWorld:
    engine: Engine
    root: Path
    evidence: SoakEvidence
    ids: dict[str, int] = field(default_factory=dict)  # caller -> ticket id
    files: dict[str, Path] = field(default_factory=dict)
    operator: int = 0

    def session(self) -> Session:
        return Session(self.engine, expire_on_commit=False)

    def call(self, caller: str) -> CallRecord:
        return next(c for c in self.evidence.journal if c.caller == caller)

    def replace_call(self, caller: str, /, **changes: object) -> None:
        self.evidence.journal = [
            c.model_copy(update=changes) if c.caller == caller else c for c in self.evidence.journal
        ]

    def publish(self, name: str = "stats.json") -> dict[str, Any]:
        """The product's own figures for the two days (what `ivr stats --format json` prints)."""
        scope = Scope(DAY1.date(), DAY2.date(), "day", None, ENDED, 60.0)
        reader = EngineReader(self.engine)
        try:
            report = asyncio.run(build_report(reader, scope))
        finally:
            reader.close()
        document: dict[str, Any] = json.loads(to_json(report))
        self.evidence.published[name] = document
        return document

    def publish_reasons(self) -> dict[str, Any]:
        """The product's calls per day and reason (what `ivr stats reasons --format json` prints)."""
        reasons = ReasonSettings.model_validate({"options": list(SOAK_REASONS)})
        reader = EngineReader(self.engine)
        try:
            report = asyncio.run(reason_report(reader, DAY1.date(), DAY2.date(), "day", reasons))
        finally:
            reader.close()
        document: dict[str, Any] = json.loads(reasons_json(report))
        self.evidence.published[REASONS_PUBLISHED] = document
        return document


def audio(path: Path, data: bytes) -> tuple[Path, str]:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path, hashlib.sha256(data).hexdigest()


def _record(caller: str, journey: str, at: datetime, **kw: object) -> CallRecord:
    return CallRecord.model_validate(
        {
            "caller": caller,
            "carrier_channel": f"carrier-{caller}",
            "journey": journey,
            "placed_at": at,
            "ended_at": at + timedelta(minutes=3),
            "answered": True,
            "hung_up_by": HungUpBy.ENGINE,
            **kw,
        }
    )


def _ticket(s: Session, caller: str, at: datetime, **kw: object) -> Ticket:
    t = Ticket(
        channel="phone",
        call_uid=f"uid-{caller}",
        did="800000039",
        caller_number=caller,
        started_at=at,
        answered_at=at + timedelta(seconds=1),
        ended_at=at + timedelta(minutes=3),
        open=False,
        outcome="completed",
        line_state="open",
        **local_keys(at),
    )
    for name, value in kw.items():
        setattr(t, name, value)
    s.add(t)
    s.flush()
    s.add(TicketEvent(ticket_id=t.id, at=at, kind="call_started"))
    return t


def _event(s: Session, t: Ticket, at: datetime, kind: str, **detail: object) -> None:
    s.add(TicketEvent(ticket_id=t.id, at=at, kind=kind, detail=detail or None))


def _answered(s: Session, world: SoakWorld, caller: str, at: datetime, queued_s: float, served_s: float) -> Ticket:
    queued, served = at + timedelta(seconds=queued_s), at + timedelta(seconds=served_s)
    t = _ticket(
        s,
        caller,
        at,
        topic="citizens",
        queue_result="answered",
        queued_at=queued,
        operator_id=world.operator,
        operator_answered_at=served + timedelta(seconds=3),
        operator_ended_at=served + timedelta(minutes=2),
        wait_s=(served - queued).total_seconds() + 3,
        handle_s=120.0,
        status="resolved",
        call_reason=reason_for(len(caller)),
    )
    _event(s, t, queued, "queue_admitted", topic="citizens")
    _event(s, t, served, "offer", operator="anna", via="softphone")
    _event(s, t, served + timedelta(seconds=3), "operator_answered", operator="anna")
    for state, after_s in (("offered", 0.0), ("busy", 3.0), ("wrap_up", 123.0), ("available", 153.0)):
        s.add(OperatorStateChange(login="anna", state=state, reason=None, at=served + timedelta(seconds=after_s)))
    return t


def build_world(db_url: str, root: Path) -> SoakWorld:
    engine = make_engine(db_url)
    upgrade(engine)
    vm_dir, rec_dir = root / "voicemail", root / "data" / "recordings"
    vm_dir.mkdir(parents=True)
    rec_dir.mkdir(parents=True)
    outbox = root / "outbox.db"
    db = sqlite3.connect(outbox)
    db.execute("CREATE TABLE pending (row INTEGER PRIMARY KEY AUTOINCREMENT, batch TEXT NOT NULL, command TEXT)")
    db.commit()
    db.close()
    evidence = SoakEvidence(
        journal=[],
        db_url=db_url,
        voicemail_dir=vm_dir,
        recordings_dir=rec_dir,
        daily_cap=CAP,
        ended_at=ENDED,
        mails=[],
        asterisk=AsteriskState(channels=0, bridges=0),
        outboxes=[outbox],
        windows=ResourceWindows(warmup_s=300, window_s=3600, tolerance=0.10),
        faults=[Fault(at=DAY1 + timedelta(minutes=30), name="engine_kill", detail="kill -9 of the active engine")],
        latency={"answer": [0.2, 0.3, 0.25, 1.5], "menu": [0.1, 0.12]},
        actions=[],  # the driver's journal (tests/unit/test_soak_check_actions.py fills it)
    )
    world = SoakWorld(engine, root, evidence)
    j = evidence.journal
    with world.session() as s, s.begin():
        op = Operator(login="anna", name="Anna", skills=[], presence="logged_out", created_at=DAY1)
        s.add(op)
        s.flush()
        world.operator = op.id

        # Day 1: two callers of one topic served in arrival order; the first recorded with consent
        # and answering the survey; a message; one refused for the cap (3 admitted: full).
        first = _answered(s, world, "+393330000001", DAY1, 10, 12)
        first.consent, first.campaign, first.survey_status = "accepted", "qualita-2028", "completed"
        path, digest = audio(rec_dir / "call-1.wav", b"RIFF call audio of the first caller")
        world.files["call"] = path
        s.add(
            Recording(
                ticket_id=first.id,
                kind="call",
                path=str(path),
                sha256=digest,
                bytes=35,
                duration_s=120.0,
                created_at=DAY1 + timedelta(minutes=3),
            )
        )
        _event(s, first, DAY1 + timedelta(seconds=15), "recording_started", name="call-1")
        _event(s, first, DAY1 + timedelta(minutes=3), "recording_kept", sha256=digest, seconds=120.0)
        for n, (question, answer) in enumerate((("q1", 5), ("q2", 4))):
            s.add(
                SurveyAnswer(
                    ticket_id=first.id,
                    operator_id=op.id,
                    question=question,
                    answer=answer,
                    at=DAY1 + timedelta(minutes=2, seconds=n),
                )
            )
        j.append(
            _record(
                "+393330000001",
                "operator/citizens/it",
                DAY1,
                topic="citizens",
                consent_asked=True,
                consent_key="1",
                heard_operator=True,
                operator="anna",
                survey_keys=["5", "4"],
            )
        )

        _answered(s, world, "+393330000002", DAY1 + timedelta(seconds=5), 20, 40)
        j.append(
            _record(
                "+393330000002",
                "operator/citizens/it",
                DAY1 + timedelta(seconds=5),
                topic="citizens",
                heard_operator=True,
                operator="anna",
            )
        )

        at = DAY1 + timedelta(minutes=1)
        vm_ticket = _ticket(
            s,
            "+393330000003",
            at,
            topic="citizens",
            queue_result="caller_choice",
            queued_at=at + timedelta(seconds=10),
            outcome="voicemail",
            level=2,
            status="new",
            sla_kind="phone_callback",
            callback_due=ENDED + timedelta(days=9),
        )
        path, digest = audio(vm_dir / "citizens" / "msg-1.wav", b"RIFF a message for the office")
        world.files["voicemail"] = path
        vm_rec = Recording(
            ticket_id=vm_ticket.id,
            kind="voicemail",
            path=str(path),
            sha256=digest,
            bytes=29,
            duration_s=12.0,
            created_at=at + timedelta(minutes=1),
        )
        s.add(vm_rec)
        s.flush()
        s.add(
            Voicemail(
                ticket_id=vm_ticket.id,
                box="citizens",
                reason="caller_choice",
                asterisk_name="msg0001",
                recording_id=vm_rec.id,
                duration_s=12.0,
                speech_s=10.0,
                created_at=at + timedelta(minutes=1),
            )
        )
        j.append(
            _record(
                "+393330000003",
                "voicemail/citizens/it",
                at,
                topic="citizens",
                left_message=True,
                message_s=10.0,
                hung_up_by=HungUpBy.CALLER,
            )
        )

        at = DAY1 + timedelta(hours=2)
        capped = _ticket(s, "+393330000004", at, topic="citizens", queue_result="cap", outcome="completed")
        _event(s, capped, at + timedelta(seconds=8), "queue_not_served", result="cap")
        s.add(MissedCall(ticket_id=capped.id, number="+393330000004", reason="cap", at=at, local_day=at.date()))
        j.append(_record("+393330000004", "operator/citizens/it", at, topic="citizens"))
        s.add(DailyAdmissions(day=DAY1.date(), admitted=3))

        # Day 2: a queued callback, dialled once and completed; a caller who pressed nothing;
        # a call the line never answered; a web request answered in time with its two mails.
        at = DAY2
        cb = _ticket(
            s,
            "+393330000005",
            at,
            topic="citizens",
            queue_result="callback",
            queued_at=at + timedelta(seconds=10),
            wait_s=40.0,
        )
        s.flush()
        s.add(
            QueuedCallback(
                ticket_id=cb.id,
                number="3331234567",
                source="confirmed",
                topic="citizens",
                arrived_at=at + timedelta(seconds=10),
                accepted_at=at + timedelta(seconds=50),
                local_day=DAY2.date(),
                state="completed",
                attempts=1,
                operator="anna",
                connected_at=at + timedelta(minutes=5),
                ended_at=at + timedelta(minutes=8),
            )
        )
        _event(s, cb, at + timedelta(seconds=50), "callback_accepted", source="confirmed", ahead=0)
        _event(s, cb, at + timedelta(minutes=4), "offer", operator="anna", via="softphone", callback=True)
        _event(s, cb, at + timedelta(minutes=5), "callback_connected", operator="anna", waited_s=290.0)
        _event(s, cb, at + timedelta(minutes=8), "callback_try", attempt=1, operator="anna", result="answered")
        s.add(
            AuditEntry(
                at=at + timedelta(minutes=4),
                login="anna",
                action="dial_out",
                object_kind="number",
                object_id="3331234567",
                detail={"ticket": cb.id, "purpose": "callback"},
            )
        )
        s.add(DailyAdmissions(day=DAY2.date(), admitted=1))
        j.append(
            _record(
                "+393330000005",
                "callback/citizens/it",
                at,
                topic="citizens",
                callback_requested=True,
                hung_up_by=HungUpBy.CALLER,
                language_heard="it",
                callback_offered=True,
                callback_number="3331234567",
                callback_legs=[
                    CallbackLeg(
                        number="3331234567",
                        rang_at=at + timedelta(minutes=4, seconds=50),
                        answered=True,
                        ended_at=at + timedelta(minutes=8),
                        heard_notice=True,
                        heard_operator=True,
                        operator="anna",
                        hung_up_by=HungUpBy.ENGINE,
                    )
                ],
                callback_waited_s=600.0,
            )
        )

        at = DAY2 + timedelta(hours=1)
        _ticket(s, "+393330000006", at, outcome="completed", end_reason="menu_timeout")
        j.append(_record("+393330000006", "silent/it", at))

        at = DAY2 + timedelta(hours=2)
        _ticket(s, "+393330000007", at, answered_at=None, outcome="failed")
        # An engine killed as the call came in: it rang out, its ticket closed as failed.
        j.append(
            _record(
                "+393330000007",
                "operator/citizens/it",
                at,
                answered=False,
                hung_up_by=HungUpBy.NETWORK,
                faults=["engine_kill"],
            )
        )

        at = DAY2 + timedelta(hours=3)
        web = Ticket(
            channel="web",
            started_at=at,
            open=False,
            topic="citizens",
            status="resolved",
            sla_kind="web_reply",
            callback_due=at + timedelta(hours=48),
            sla_met_at=at + timedelta(hours=2),
            **local_keys(at),
        )
        s.add(web)
        s.flush()
        _event(s, web, at, "mail_receipt", sent=True)
        _event(s, web, at + timedelta(hours=2), "mail_reply", sent=True)
        web.callback_due = at + timedelta(hours=4)  # due within the run: judged
        evidence.mails = [
            SinkMail(
                recipients=["cittadino@example.org"], message_id="<1@nul.invalid>", subject="Ricevuta", ticket=web.id
            ),
            SinkMail(
                recipients=["cittadino@example.org"], message_id="<2@nul.invalid>", subject="Risposta", ticket=web.id
            ),
        ]
    with world.session() as s:
        for t in s.scalars(select(Ticket)):
            world.ids[t.caller_number or t.channel] = t.id  # the web request under "web"
    start = DAY1 + timedelta(minutes=1)
    evidence.resources = [
        ResourceSample(
            at=start + timedelta(minutes=m),
            rss_bytes=80e6 + (m % 3) * 1e5,
            open_files=40,
            db_connections=5,
            asyncio_tasks=60 + m % 2,
        )
        for m in range(0, 180)
    ]
    world.publish()
    world.publish_reasons()
    return world
