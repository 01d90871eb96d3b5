"""`ivr voicemail ...` for supervisors (until the console), `ivr models download`."""

from __future__ import annotations

import argparse
import getpass
import textwrap
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from ivr.clitools import now as engine_now
from ivr.clitools import with_store
from ivr.settings import Settings
from ivr.tickets.audit import Actor
from ivr.tickets.store import SqlTicketStore
from ivr.voicemail import messages
from ivr.voicemail.callback_desk import CallbackDesk
from ivr.voicemail.messages import MessageView, VoicemailMessages

T = TypeVar("T")


def _on_messages(settings: Settings, fn: Callable[[VoicemailMessages], Awaitable[T]]) -> T:
    """One trip to the store through the same repository the console uses."""

    async def go(store: SqlTicketStore) -> T:
        return await fn(VoicemailMessages(store))

    return with_store(settings, go)


def _line(m: MessageView, settings: Settings) -> str:
    tz = settings.service.tz
    flags = " EMPTY" if m.empty else ""
    due = f" due {m.callback_due.astimezone(tz):%Y-%m-%d}" if m.callback_due else ""
    who = f" -> {m.assigned_to}" if m.assigned_to else ""
    return (
        f"#{m.id:<5} {m.created_at.astimezone(tz):%Y-%m-%d %H:%M} {m.box:10} {m.status or '-':11}{who}{due} "
        f"{m.duration_s:5.1f}s call back {m.callback_number or 'unknown'} ({m.callback_source}) "
        f"transcript {m.transcript_status}{flags}"
    )


def cmd_boxes(args: argparse.Namespace, settings: Settings) -> int:
    rows = _on_messages(settings, lambda m: m.boxes())
    if not rows:
        print("no messages")
    for box, status, count in rows:
        print(f"{box:12} {status or '-':12} {count}")
    return 0


def cmd_list(args: argparse.Namespace, settings: Settings) -> int:
    found = _on_messages(
        settings, lambda m: m.listing(box=args.box, status=args.status, text=args.text, limit=args.limit)
    )
    for m in found:
        print(_line(m, settings))
    if not found:
        print("no messages")
    return 0


def cmd_show(args: argparse.Namespace, settings: Settings) -> int:
    m = _on_messages(settings, lambda box: box.view(args.id))
    print(_line(m, settings))
    print(
        f"ticket #{m.ticket_id}, reason {m.reason}, caller id {m.caller_number or 'withheld'}, "
        f"speech {m.speech_s:.1f} s, ended by {m.ended_by}"
    )
    print(f"audio: {m.audio or 'not yet fetched from Asterisk (' + m.asterisk_name + ')'}")
    if m.web_audio:
        print(f"web copy: {m.web_audio}")
    if m.transcript_error and m.transcript_status == "pending":
        print(f"transcription waiting (attempt {m.transcript_attempts}): {m.transcript_error}")
    if m.transcript:
        print("transcript:\n" + textwrap.indent(textwrap.fill(m.transcript, 90), "  "))
    if args.words and m.words:
        for w in m.words:
            print(f"  {w['start']:6.2f}-{w['end']:6.2f} {w['conf']:.2f} {w['word']}")
    for at, operator, result, note in m.attempts:
        print(f"  callback {at.astimezone(settings.service.tz):%Y-%m-%d %H:%M} {operator or '-'} {result} {note or ''}")
    return 0


def _on_desk(settings: Settings, fn: Callable[[CallbackDesk, VoicemailMessages], Awaitable[T]]) -> T:
    """The console's own path for the second level's work: the same rules and audit entry."""
    from ivr.console.accounts import Accounts

    async def go(store: SqlTicketStore) -> T:
        box = VoicemailMessages(store)
        return await fn(CallbackDesk(box, Accounts(store).audit), box)

    return with_store(settings, go)


def _actor(by: str | None) -> Actor:
    return Actor(login=f"cli:{by or getpass.getuser()}")


def cmd_assign(args: argparse.Namespace, settings: Settings) -> int:
    now = engine_now(settings)

    async def op(desk: CallbackDesk, box: VoicemailMessages) -> None:
        await desk.assign(await box.ticket_of(args.id), args.operator, at=now, by=_actor(args.by))

    _on_desk(settings, op)
    print(f"message #{args.id} assigned to {args.operator}")
    return 0


def cmd_called_back(args: argparse.Namespace, settings: Settings) -> int:
    now = engine_now(settings)

    async def op(desk: CallbackDesk, box: VoicemailMessages) -> int:
        ticket = await box.ticket_of(args.id)
        return await desk.result(
            ticket, args.result, at=now, operator=args.operator, note=args.note, by=_actor(args.operator)
        )

    count = _on_desk(settings, op)
    print(f"message #{args.id}: callback {args.result} (attempt {count})")
    return 0


def cmd_close(args: argparse.Namespace, settings: Settings) -> int:
    now = engine_now(settings)

    async def op(desk: CallbackDesk, box: VoicemailMessages) -> None:
        await desk.close(await box.ticket_of(args.id), at=now, note=args.note, by=_actor(None))

    _on_desk(settings, op)
    print(f"message #{args.id} closed")
    return 0


def cmd_retry(args: argparse.Namespace, settings: Settings) -> int:
    """Transcribe what is pending now, in this process (the engine's job does it every minute)."""
    from ivr.assembly import Assembly
    from ivr.recordings.store import RecordingStore
    from ivr.telephony.ari_resources import AriStoredRecordings
    from ivr.voicemail.service import VoicemailService
    from ivr.voicemail.transcribe import VoskTranscriber

    parts = Assembly(settings)

    async def go(store: SqlTicketStore) -> int:
        ari = parts.ari
        await ari.start()
        t = settings.transcription
        service = VoicemailService(
            store,
            VoicemailMessages(store),
            RecordingStore(AriStoredRecordings(ari), settings.voicemail_dir, store),
            VoskTranscriber(
                t.model_path, workers=t.workers, deterministic=t.deterministic, overlay_root=settings.models_dir
            ),
            settings.voicemail,
            parts.clock,
        )
        try:
            return await service.retry_pending()
        finally:
            service.transcriber.close()
            await ari.close()

    print(f"{with_store(settings, go)} message(s) transcribed")
    return 0


def cmd_models_download(args: argparse.Namespace, settings: Settings) -> int:
    from ivr.voicemail.models import ModelDownloadError, download_model, progress_bar

    source = settings.transcription.models.get(args.name)
    if source is None:
        raise ModelDownloadError(f"unknown model {args.name!r}; known: {', '.join(settings.transcription.models)}")
    path, digest = download_model(
        str(source.url), source.folder, settings.models_dir, sha256=source.sha256, progress=progress_bar()
    )
    checked = "checksum verified" if source.sha256 else f"not verified (pin it: sha256: {digest})"
    print(f"model ready at {path}; {checked}")
    print(f"set transcription.model_path: {path}")
    return 0


def add_voicemail_commands(sub: Any, add: Any) -> None:
    vm = sub.add_parser("voicemail", help="voicemail boxes and callbacks").add_subparsers(dest="what", required=True)
    add("boxes", cmd_boxes, "messages per box and status", vm)
    lst = add("list", cmd_list, "messages, newest first", vm)
    lst.add_argument("--box")
    lst.add_argument("--status", choices=messages.STATUSES)
    lst.add_argument("--text", help="words that must all be in the transcript")
    lst.add_argument("-n", "--limit", type=int, default=50)
    show = add("show", cmd_show, "one message with its transcript and callbacks", vm)
    show.add_argument("id", type=int)
    show.add_argument("--words", action="store_true", help="each word with its time and confidence")
    assign = add("assign", cmd_assign, "give the callback to an operator", vm)
    assign.add_argument("id", type=int)
    assign.add_argument("operator")
    assign.add_argument("--by", help="who assigns it")
    back = add("called-back", cmd_called_back, "record a callback attempt", vm)
    back.add_argument("id", type=int)
    back.add_argument("result", choices=["answered", "no_answer"])
    back.add_argument("--operator")
    back.add_argument("--note")
    close = add("close", cmd_close, "close the message's ticket", vm)
    close.add_argument("id", type=int)
    close.add_argument("--note")
    add("retry", cmd_retry, "fetch and transcribe pending messages now", vm)

    models = sub.add_parser("models", help="speech models").add_subparsers(dest="what", required=True)
    dl = add("download", cmd_models_download, "download a Vosk model (progress, checksum)", models)
    dl.add_argument("name", help="a name under transcription.models, e.g. it-small")
