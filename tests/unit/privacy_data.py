"""A ticket store filled with contacts of chosen ages, each with every kind of personal data, and
audio files on disk; shared by the retention tests."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, select
from sqlalchemy.orm import Session, sessionmaker

from ivr.schema.privacy import LegalHold, PurgeFile, PurgeRun, SurveyCount
from ivr.schema.tickets import (
    CallbackAttempt,
    Operator,
    Recording,
    SurveyAnswer,
    Ticket,
    TicketEvent,
    Voicemail,
    WebRequest,
)
from ivr.tickets.periods import local_keys

NOW = datetime(2028, 6, 1, 8, 0, tzinfo=UTC)
NUMBER = "+393331234567"
NAME = "Mario Rossi"


@dataclass
class Contact:
    """One call with everything a call can leave behind, `age` days before NOW."""

    age: int
    ticket: int
    recording: int
    voicemail: int
    voicemail_recording: int
    files: dict[str, Path] = field(default_factory=dict)  # call, call_web, vm, vm_web


@dataclass
class World:
    engine: Engine
    root: Path
    contacts: dict[str, Contact] = field(default_factory=dict)
    web: dict[str, int] = field(default_factory=dict)  # name -> ticket id
    operator: int = 0

    def session(self) -> Session:
        return sessionmaker(self.engine, expire_on_commit=False)()


def _file(path: Path, data: bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


def add_contact(world: World, name: str, age: int, *, transcript: bool = True) -> Contact:
    at = NOW - timedelta(days=age)
    with world.session() as s, s.begin():
        ticket = Ticket(
            channel="phone",
            call_uid=f"uid-{name}",
            did="800000039",
            caller_number=NUMBER,
            caller_name=NAME,
            started_at=at,
            ended_at=at + timedelta(minutes=6),
            open=False,
            outcome="voicemail",
            topic="citizens",
            line_state="open",
            queue_result="answered",
            operator_id=world.operator,
            wait_s=42.0,
            handle_s=180.0,
            survey_status="completed",
            resolution_note=f"{NAME} chiede della NASpI",
            status="called_back",
            level=2,
            sla_kind="phone_callback",
            callback_due=at + timedelta(days=10),
            sla_met_at=at + timedelta(days=2),
            **local_keys(at),
        )
        s.add(ticket)
        s.flush()
        folder = world.root / name
        files = {
            "call": _file(folder / "call.wav", b"RIFF call audio " + name.encode()),
            "call_web": _file(folder / "call.mp3", b"ID3 call copy"),
            "vm": _file(folder / "vm.wav", b"RIFF voicemail " + name.encode()),
            "vm_web": _file(folder / "vm.mp3", b"ID3 voicemail copy"),
        }
        rec = Recording(
            ticket_id=ticket.id,
            kind="call",
            path=str(files["call"]),
            web_path=str(files["call_web"]),
            sha256="a" * 64,
            bytes=100,
            duration_s=180.0,
            created_at=at + timedelta(minutes=1),
        )
        vm_rec = Recording(
            ticket_id=ticket.id,
            kind="voicemail",
            path=str(files["vm"]),
            web_path=str(files["vm_web"]),
            sha256="b" * 64,
            bytes=50,
            duration_s=20.0,
            created_at=at + timedelta(minutes=5),
        )
        s.add_all([rec, vm_rec])
        s.flush()
        vm = Voicemail(
            ticket_id=ticket.id,
            box="citizens",
            reason="busy",
            asterisk_name=f"vm-{name}",
            recording_id=vm_rec.id,
            duration_s=20.0,
            speech_s=15.0,
            callback_number="3331234567",
            callback_source="confirmed",
            transcript_status="done" if transcript else "pending",
            transcript=f"sono {NAME} richiamatemi" if transcript else None,
            transcript_words=[{"word": "sono", "start": 0.1, "end": 0.4, "conf": 0.9}] if transcript else None,
            created_at=at + timedelta(minutes=5),
        )
        s.add(vm)
        s.add_all(
            [
                TicketEvent(ticket_id=ticket.id, at=at, kind="call_started"),
                TicketEvent(ticket_id=ticket.id, at=at, kind="callback_number_invalid", detail={"entered": "333123"}),
                TicketEvent(ticket_id=ticket.id, at=at, kind="ticket_closed", note=f"parlato con {NAME}"),
                TicketEvent(ticket_id=ticket.id, at=at, kind="survey_answer", detail={"question": "q1", "answer": 4}),
                CallbackAttempt(ticket_id=ticket.id, at=at, operator="anna", result="answered", note="ok con Mario"),
                SurveyAnswer(ticket_id=ticket.id, operator_id=world.operator, question="q1", answer=4, at=at),
                SurveyAnswer(ticket_id=ticket.id, operator_id=world.operator, question="q2", answer=1, at=at),
            ]
        )
        s.flush()
        contact = Contact(age, ticket.id, rec.id, vm.id, vm_rec.id, files)
    world.contacts[name] = contact
    return contact


def add_web_request(world: World, name: str, age: int) -> int:
    at = NOW - timedelta(days=age)
    with world.session() as s, s.begin():
        ticket = Ticket(
            channel="web",
            caller_number="3337654321",
            started_at=at,
            ended_at=at,
            open=False,
            outcome="web_request",
            topic="employers",
            status="closed",
            sla_kind="web_reply",
            callback_due=at + timedelta(hours=48),
            sla_met_at=at + timedelta(hours=3),
            **local_keys(at),
        )
        s.add(ticket)
        s.flush()
        s.add(
            WebRequest(
                ticket_id=ticket.id,
                name="Giulia Bianchi",
                email="giulia@example.org",
                phone="3337654321",
                subject="Assunzione apprendista",
                message="Sono Giulia Bianchi, vorrei sapere...",
                received_at=at,
                reply="Gentile Giulia, ...",
                replied_at=at + timedelta(hours=3),
                replied_by="anna",
            )
        )
        ticket_id = ticket.id
    world.web[name] = ticket_id
    return ticket_id


def make_world(engine: Engine, root: Path) -> World:
    world = World(engine, root)
    with world.session() as s, s.begin():
        op = Operator(login="anna", name="Anna", skills=[], created_at=NOW - timedelta(days=1000))
        s.add(op)
        s.flush()
        world.operator = op.id
    return world


def hold(world: World, ticket_id: int) -> None:
    with world.session() as s, s.begin():
        s.add(LegalHold(ticket_id=ticket_id, reason="ricorso", held_by="dpo", held_at=NOW - timedelta(days=1)))


def snapshot(engine: Engine, root: Path) -> dict[str, Any]:
    """Every row of the tables a purge touches, and every file under `root`."""
    tables: list[Any] = [
        Ticket,
        TicketEvent,
        Recording,
        Voicemail,
        WebRequest,
        CallbackAttempt,
        SurveyAnswer,
        SurveyCount,
        PurgeRun,
        PurgeFile,
        LegalHold,
    ]
    out: dict[str, Any] = {}
    with sessionmaker(engine)() as s:
        for model in tables:
            cols = [c.key for c in model.__table__.columns]
            rows = s.scalars(select(model).order_by(model.id)).all()
            out[model.__tablename__] = [tuple(repr(getattr(r, c)) for c in cols) for r in rows]
    out["files"] = sorted(str(p) for p in root.rglob("*") if p.is_file())
    return out
