"""Service notices: set from the console (synthesised, audited, lifted early), said after the
welcome to every caller while in force and written on their ticket; a notice whose sound is not
built yet is not said; the cache is dropped when one is set or lifted."""

from __future__ import annotations

import array
import itertools
import subprocess
import wave
from datetime import datetime, timedelta
from pathlib import Path

import aiohttp
from sqlalchemy import select

from ivr.callflows.language import PlayStep
from ivr.callflows.model import Flow
from ivr.callflows.nodes import BASIC_HANDLERS, route_stub
from ivr.callflows.session import CallSession
from ivr.clock import ShiftedClock
from ivr.console.accounts import Accounts
from ivr.hours.notices import Notice, NoticeDesk, ServiceNotices, media_name
from ivr.schema.console import AuditEntry
from ivr.tickets.audit import Actor
from ivr.tickets.store import SqlTicketStore
from tests.console_support import console_lab
from tests.fakes import FakeChannel
from tests.unit.test_menu_consent import PROMPTS, ROME

AT = datetime(2026, 3, 10, 10, tzinfo=ROME)
CALLS = itertools.count(1)


def flow(notices: bool) -> Flow:
    return Flow.model_validate({
        "name": "t", "start": "welcome",
        "nodes": {
            "welcome": {"type": "play", "prompt": "welcome", "next": "queue", "notices": notices},
            "queue": {"type": "queue", "fallback": "vm"},
            "vm": {"type": "voicemail", "reason": "busy"},
        },
    })  # fmt: skip


async def call(store: SqlTicketStore, notices: bool, current: list[Notice]) -> tuple[list[list[str]], list[str]]:
    async def now_in_force(_at: datetime) -> list[Notice]:
        return current

    channel = FakeChannel(f"notice-call-{next(CALLS)}")
    handlers = {**BASIC_HANDLERS, "play": PlayStep({}, notices=now_in_force), "queue": route_stub("queue"),
                "voicemail": route_stub("voicemail")}  # fmt: skip
    await CallSession(channel, flow(notices), handlers, store=store, clock=ShiftedClock(AT), prompts=PROMPTS).run()
    ticket = await store.by_call_uid(channel.id)
    assert ticket is not None
    return channel.played, [f"{e.kind}:{e.detail}" for e in ticket.events if e.kind == "notice_played"]


async def test_the_notices_in_force_are_said_after_the_welcome_and_written_on_the_ticket(
    sqlite_store: SqlTicketStore,
) -> None:
    two = [Notice(3, "sound:/s/notice_rt_3"), Notice(5, "sound:/s/notice_rt_5")]
    played, events = await call(sqlite_store, True, two)
    assert played[1] == ["sound:/s/notice_rt_3", "sound:/s/notice_rt_5"] and "welcome" in played[0][0]
    assert events == ["notice_played:{'notices': [3, 5]}"]
    played, events = await call(sqlite_store, True, [])
    assert played[1] == ["sound:/p/route_unavailable"] and events == []  # none in force: on after the welcome
    played, events = await call(sqlite_store, False, two)
    assert played[1] == ["sound:/p/route_unavailable"] and events == []  # a node without `notices` says none


async def test_a_notice_set_is_spoken_in_force_until_its_end_and_lifted_early(
    sqlite_store: SqlTicketStore, tmp_path: Path
) -> None:
    built: list[str] = []

    def build(name: str, text: str, folder: Path) -> Path:
        built.append(text)
        (folder / f"{name}.wav").write_bytes(b"RIFF")
        return folder / f"{name}.wav"

    stamp = [0.0]
    notices = ServiceNotices(sqlite_store, asterisk_dir="/s/", local_dir=tmp_path, monotonic=lambda: stamp[0])
    desk = NoticeDesk(notices, build, Accounts(sqlite_store).audit)
    by = Actor(login="sara")
    assert await notices.active(AT) == []  # cached as nothing for 2 s ...
    first = await desk.add("  Il portale   è fuori servizio. ", AT + timedelta(hours=2), at=AT, by=by)
    assert built == ["Il portale è fuori servizio."]
    assert await notices.active(AT) == [Notice(first, f"sound:/s/{media_name(first)}")]  # ... but set here: read again
    assert await notices.current(AT + timedelta(hours=2)) == []  # over at its end
    unspoken = await notices.add("senza voce", AT, AT + timedelta(hours=1), AT, "sara")
    assert [n.id for n in await notices.current(AT)] == [first]  # no sound yet: not said
    assert await desk.end(first, at=AT + timedelta(minutes=5), by=by) == 1
    assert await desk.end(first, at=AT + timedelta(minutes=6), by=by) == 0  # over already
    assert await notices.current(AT + timedelta(minutes=10)) == [] and unspoken
    audited = await sqlite_store.run_read(
        lambda s: [(e.action, e.object_id) for e in s.scalars(select(AuditEntry).order_by(AuditEntry.id))]
    )
    assert audited == [("notice_add", str(first)), ("notice_end", str(first))]


async def test_the_console_sets_and_lifts_a_notice(tmp_path: Path) -> None:
    async with console_lab(tmp_path) as lab:
        sara = await lab.login("sara")
        token = await lab.csrf(sara, "/console/notices")
        past = {"_csrf": token, "text": "Prova", "until": "2000-01-01T10:00"}
        refused = await sara.post("/console/notices", data=past, allow_redirects=False)
        assert refused.status == 400 and "deve finire nel futuro" in await refused.text()
        until = (lab.clock.now() + timedelta(hours=3)).strftime("%Y-%m-%dT%H:%M")
        data = {"_csrf": token, "text": "Il portale è fuori servizio fino a domani.", "until": until}
        response = await sara.post("/console/notices", data=data, allow_redirects=False)
        assert response.status == 303 and response.headers["Location"] == "/console/notices?msg=notice_saved"
        desk = lab.deps.console.notices
        assert desk is not None
        (row,) = await desk.notices.rows()
        assert (desk.notices.local_dir / f"{media_name(row.id)}.wav").stat().st_size > 1000  # really spoken
        assert [n.id for n in await desk.notices.current(lab.clock.now())] == [row.id]
        page = await (await sara.get("/console/notices")).text()
        assert f'data-notice="{row.id}" class="live"><strong>In vigore</strong>' in page
        end = await sara.post(f"/console/notices/{row.id}/end", data={"_csrf": token}, allow_redirects=False)
        assert end.status == 303 and await desk.notices.current(lab.clock.now()) == []
        anna = await lab.login("anna")
        assert (await anna.get("/console/notices")).status == 403


async def test_a_supervisors_own_recording_is_the_notice_and_no_audio_leaves_no_notice(tmp_path: Path) -> None:
    """An MP3 of 3 s (well over the forms' 256 KB limit once padded, as a phone's file is) is
    converted for Asterisk and said as the notice; a text file, a recording too long or a
    format with no audio suffix is refused by name and no notice is left behind."""
    big, mp3, long_wav = _sounds(tmp_path)
    async with console_lab(tmp_path) as lab:
        sara = await lab.login("sara")
        token = await lab.csrf(sara, "/console/notices")
        until = (lab.clock.now() + timedelta(hours=3)).strftime("%Y-%m-%dT%H:%M")
        desk = lab.deps.console.notices
        assert desk is not None

        async def post(path: Path, name: str) -> tuple[int, str]:
            form = aiohttp.FormData()
            form.add_field("_csrf", token)
            form.add_field("text", "Il portale è fuori servizio fino a domani.")
            form.add_field("until", until)
            form.add_field("audio", path.read_bytes(), filename=name, content_type="application/octet-stream")
            response = await sara.post("/console/notices", data=form, allow_redirects=False)
            return response.status, await response.text()

        assert big.stat().st_size > 256 * 1024  # over the console's form limit: the page takes it all the same
        status, _ = await post(big, "grande.wav")
        assert status == 303
        status, _ = await post(mp3, "avviso.mp3")
        assert status == 303
        rows = await desk.notices.rows()
        assert len(rows) == 2
        said = desk.notices.local_dir / f"{media_name(rows[0].id)}.wav"
        with wave.open(str(said)) as w:  # the phone line's own format, the length it had
            assert (w.getframerate(), w.getnchannels(), w.getsampwidth()) == (8000, 1, 2)
            assert abs(w.getnframes() / 8000 - 3.0) < 0.2
            samples = array.array("h", w.readframes(w.getnframes()))
        crossings = sum((a < 0) != (b < 0) for a, b in itertools.pairwise(samples))
        assert 850 < crossings / 3.0 < 910  # the recording's 440 Hz tone, not a voice reading the text
        assert [n.id for n in await desk.notices.current(lab.clock.now())] == [rows[1].id, rows[0].id]

        text_file = tmp_path / "nota.wav"
        text_file.write_text("non è audio")
        for path, name, why in (
            (text_file, "nota.wav", "sox failed"),
            (long_wav, "lungo.wav", "al massimo 60"),
            (mp3, "avviso.exe", "formato non riconosciuto"),
        ):
            status, page = await post(path, name)
            assert status == 400 and why in page, (name, page[-500:])
        assert len(await desk.notices.rows()) == 2  # nothing left behind
        assert not list(desk.notices.local_dir.glob("notice_upload_*"))
        entries = await lab.accounts.audit_entries(limit=10)
        assert [(e.detail or {}).get("voice") for e in entries if e.action == "notice_add"] == ["recorded"] * 2


def _sounds(folder: Path) -> tuple[Path, Path, Path]:
    """A 5 s CD-quality WAV (over 256 KB), a 3 s MP3, a 61 s WAV."""
    big, voice, mp3, long_wav = (folder / n for n in ("grande.wav", "voce.wav", "avviso.mp3", "lungo.wav"))
    subprocess.run(["sox", "-n", "-r", "44100", "-c", "2", str(big), "synth", "5", "sine", "440"], check=True)
    subprocess.run(["sox", "-n", "-r", "44100", "-c", "2", str(voice), "synth", "3", "sine", "440"], check=True)
    subprocess.run(["sox", str(voice), "-C", "320", str(mp3)], check=True)
    subprocess.run(["sox", "-n", "-r", "8000", "-c", "1", str(long_wav), "synth", "61", "sine", "300"], check=True)
    return big, mp3, long_wav
