"""The operator queue with real calls and real operator phones (baresip softphones registered to
the engine's Asterisk, and home phones reached through the carrier)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from ivr.acd.agents import AgentState
from ivr.clock import ShiftedClock
from ivr.lab.carrier import LabCall
from ivr.privacy.jobs import JOB_ID as PURGE_JOB
from ivr.reviews.config import ReviewSettings
from ivr.reviews.service import QualityReviews
from ivr.schema.console import AuditEntry
from tests.harness.callers import Script, Watcher, hang_up_at_beep
from tests.harness.listen import PromptEar, contains, loudness
from tests.harness.pbx import PbxPair
from tests.harness.queueline import CONSENT_FLOW, queue_line, talk
from tests.harness.voices import Voices

pytestmark = pytest.mark.asterisk
ROME = ZoneInfo("Europe/Rome")
MORNING = datetime(2026, 2, 10, 10, 0, tzinfo=ROME)


async def test_longest_idle_answers_with_audio_both_ways(pbx: PbxPair, tmp_path: Path, voices: Voices) -> None:
    async with queue_line(pbx, tmp_path, voices) as line:
        anna = await line.operator("anna")
        await asyncio.sleep(0.2)
        bruno = await line.operator("bruno")
        assert anna is not None and bruno is not None
        caller_voice = pbx.carrier.add_voice("caller", voices.caller)

        first, call = await line.call(talk(7, say=caller_voice))
        assert first.queue_result == "answered"
        assert first.operator_id == line.engine.distributor.agents["anna"].info.id  # idle the longest
        assert first.destination == "operator:anna"
        # The caller heard the operator's voice, the operator heard the caller's.
        heard, anna_heard = await call.heard(), await anna.last_heard()
        timeline = [(e.kind, e.at.time().isoformat("milliseconds")) for e in first.events]
        assert contains(heard, voices.operator), (loudness(heard), timeline)
        assert contains(anna_heard, voices.caller), (loudness(anna_heard), timeline)
        kinds = [e.kind for e in first.events]
        assert kinds.index("queue_admitted") < kinds.index("offer") < kinds.index("operator_answered")

        second, _ = await line.call(talk(2))
        assert second.operator_id == line.engine.distributor.agents["bruno"].info.id  # anna is now less idle
        assert anna.calls_answered() == 1 and bruno.calls_answered() == 1


async def test_ring_timeout_moves_on_and_missed_offers_pause(pbx: PbxPair, tmp_path: Path, voices: Voices) -> None:
    async with queue_line(pbx, tmp_path, voices, queue={"max_missed_offers": 1}) as line:
        await line.operator("carla", answer=False)  # her phone rings but nobody picks up
        await asyncio.sleep(0.2)
        await line.operator("dario")
        ticket, _ = await line.call(talk(2))
        assert ticket.operator_id == line.engine.distributor.agents["dario"].info.id
        offers = [(e.kind, (e.detail or {}).get("operator")) for e in ticket.events if e.kind.startswith("offer")]
        assert offers == [("offer", "carla"), ("offer_missed", "carla"), ("offer", "dario")]
        missed = next(e for e in ticket.events if e.kind == "offer_missed")
        assert missed.detail is not None and missed.detail["cause"] in ("no_answer", "no_response")
        assert line.state("carla") is AgentState.PAUSED
        assert line.engine.distributor.agents["carla"].pause_reason == "missed_offers"
        stored = await line.engine.operators.get("carla")
        assert (stored.presence, stored.pause_reason) == ("paused", "missed_offers")


async def test_wrap_up_is_respected(pbx: PbxPair, tmp_path: Path, voices: Voices) -> None:
    async with queue_line(pbx, tmp_path, voices, queue={"wrap_up_s": 6}) as line:
        await line.operator("elena")
        first, _ = await line.call(talk(2))
        assert line.state("elena") is AgentState.WRAP_UP
        second, _ = await line.call(talk(1))
        assert first.operator_ended_at is not None and second.operator_answered_at is not None
        gap = (second.operator_answered_at - first.operator_ended_at).total_seconds()
        assert gap >= 6.0, f"offered {gap:.1f} s after the previous call, inside the wrap-up"
        assert second.operator_id == first.operator_id


async def test_unregistered_phone_is_not_offered(pbx: PbxPair, tmp_path: Path, voices: Voices) -> None:
    async with queue_line(pbx, tmp_path, voices) as line:
        fabio = await line.operator("fabio")
        await line.operator("gina")
        assert fabio is not None
        await fabio.stop()  # fabio closes his softphone: it unregisters
        await line.until(lambda: line.state("fabio") is AgentState.PAUSED, "fabio paused")
        assert line.engine.distributor.agents["fabio"].pause_reason == "phone_unregistered"
        for _ in range(2):
            ticket, _ = await line.call(talk(1))
            assert ticket.operator_id == line.engine.distributor.agents["gina"].info.id
            await line.until(lambda: line.state("gina") is AgentState.AVAILABLE, "gina free")
        offered = [e for e in ticket.events if e.kind == "offer"]
        assert [(e.detail or {}).get("operator") for e in offered] == ["gina"]


async def test_operator_at_home_on_an_outside_number(pbx: PbxPair, tmp_path: Path, voices: Voices) -> None:
    async with queue_line(pbx, tmp_path, voices) as line:
        await line.operator("ugo", softphone=False, phone="3470000001")
        operator_voice = pbx.carrier.add_voice("operator", voices.operator)

        async def home_phone() -> Path:
            ring = await asyncio.wait_for(pbx.carrier.phones.get(), 60)
            assert ring.number == "3470000001"
            await ring.answer()
            await ring.channel.sleep(2.0)  # hears the topic ("Chiamata per cittadini...") begin
            await ring.channel.send_dtmf("1")  # and takes the call
            await ring.channel.sleep(3.0)  # "pronto?" once connected (the engine bridges after the key)
            await ring.channel.play([operator_voice])
            await ring.channel.wait_gone()
            return Path()

        answering = asyncio.ensure_future(home_phone())
        ticket, call = await line.call(talk(10))
        await answering
        assert ticket.queue_result == "answered" and ticket.destination == "operator:ugo"
        via = next(e for e in ticket.events if e.kind == "offer")
        assert via.detail == {"operator": "ugo", "via": "phone"}
        kinds = [e.kind for e in ticket.events]
        assert kinds.index("offer") < kinds.index("offer_confirmed") < kinds.index("operator_answered")
        heard = await call.heard()
        timeline = [(e.kind, e.at.time().isoformat("milliseconds")) for e in ticket.events]
        assert contains(heard, voices.operator), (loudness(heard), timeline)


async def test_daily_cap_exact_under_concurrency_and_across_restart(
    pbx: PbxPair, tmp_path: Path, voices: Voices, prompts_cache: Path
) -> None:
    clock = ShiftedClock(MORNING)
    db = f"sqlite:///{tmp_path / 'cap.db'}"
    extra: dict[str, Any] = {"queue": {"daily_cap": 5}, "database": {"url": db}}
    ear = PromptEar(prompts_cache)

    async def wait_then_leave(call: LabCall, w: Watcher) -> None:
        note = await w.until_event("queue_admitted", "queue_not_served", timeout=30)
        if note.kind == "queue_admitted":
            await asyncio.sleep(2)
            await call.hangup()
        else:
            await hang_up_at_beep(call, w)

    async with queue_line(pbx, tmp_path, voices, clock=clock, **extra) as line:
        await line.operator("ivo", presence="paused")  # logged in, busy with paperwork: calls wait
        results = await asyncio.gather(*(line.call(wait_then_leave) for _ in range(8)))
        admitted = [t for t, _ in results if t.queue_result == "abandoned"]
        capped = [(t, c) for t, c in results if t.queue_result == "cap"]
        assert len(admitted) == 5 and len(capped) == 3
        for ticket, call in capped:
            assert (ticket.outcome, ticket.end_reason) == ("voicemail", "voicemail:cap")
            assert await ear.hear(await call.heard()) == ["queue_cap", "vm_greeting_cap", "vm_record_instructions"]
        assert await line.engine.cap.count(clock.now()) == 5

    async with queue_line(pbx, tmp_path, voices, clock=clock, **extra) as line:  # a restarted engine
        assert await line.engine.cap.count(clock.now()) == 5
        await line.operator("ivo", presence="paused")  # back at the desk, softphone on
        ticket, _ = await line.call(wait_then_leave)
        assert ticket.queue_result == "cap"
        clock.set(datetime(2026, 2, 10, 23, 59, 58, tzinfo=ROME))
        assert await line.engine.cap.count(clock.now()) == 5
        clock.set(datetime(2026, 2, 11, 0, 0, 1, tzinfo=ROME))  # midnight in Rome: a new day
        assert await line.engine.cap.count(clock.now()) == 0
        ticket, _ = await line.call(wait_then_leave)
        assert ticket.queue_result == "abandoned"  # admitted again
        assert await line.engine.cap.count(clock.now()) == 1


async def test_recording_only_with_campaign_and_consent(pbx: PbxPair, tmp_path: Path, voices: Voices) -> None:
    campaign = [{"id": "q-feb", "name": "Qualità", "from": "2026-02-01", "to": "2026-02-28"}]
    async with queue_line(pbx, tmp_path, voices, flow=CONSENT_FLOW, campaigns=campaign) as line:
        await line.operator("lia")
        recordings = tmp_path / "recordings"

        def consent_then_talk(key: str) -> Script:
            async def script(call: LabCall, w: Watcher) -> None:
                await w.played("consent_notice")
                await call.press(key)
                await talk(8)(call, w)

            return script

        accepted, _ = await line.call(consent_then_talk("1"))
        kept = await line.engine.recordings.for_ticket(accepted.id)
        assert accepted.consent == "accepted" and len(kept) == 1
        (rec,) = kept
        assert rec.path.exists() and rec.path.is_relative_to(recordings)
        assert 6.0 < rec.duration_s < 15.0
        import hashlib

        assert hashlib.sha256(rec.path.read_bytes()).hexdigest() == rec.sha256
        # The operator's side is in it: the second sentence, as on a loaded machine the bridge
        # may start after the softphone's first words (it speaks 1.5 s after answering).
        assert contains(rec.path, voices.operator, skip_s=2.5), loudness(rec.path)
        assert any(e.kind == "recording_kept" for e in accepted.events)
        # A supervisor scores it: the review of a real consented recording, with its operator.
        reviews = QualityReviews(line.engine.store, ReviewSettings())
        (listed,) = await reviews.reviewable("sara")
        assert (listed.ticket_id, listed.operator, listed.reviews) == (accepted.id, "lia", 0)
        marks = {"accoglienza": 5, "ascolto": 5, "correttezza": 4, "chiarezza": 5, "chiusura": 3}
        review = await reviews.save(listed.recording_id, "sara", marks, "Bene.", datetime.now(UTC))
        assert (review.operator, review.score) == ("lia", 82.5)  # (1 + 2 + 3 * .75 + 2 + 2 * .5) / 10

        await line.until(lambda: line.state("lia") is AgentState.AVAILABLE, "lia free")
        refused, _ = await line.call(consent_then_talk("2"))
        assert refused.consent == "refused" and refused.queue_result == "answered"
        assert await line.engine.recordings.for_ticket(refused.id) == []
        assert sorted(p.name for p in recordings.rglob("*.wav")) == [rec.path.name]  # nothing new on disk


async def test_queue_exits_are_distinct(pbx: PbxPair, tmp_path: Path, voices: Voices, prompts_cache: Path) -> None:
    ear = PromptEar(prompts_cache)
    async with queue_line(pbx, tmp_path, voices, queue={"max_wait_s": 20}) as line:
        nobody, call = await line.call(hang_up_at_beep)
        assert (nobody.queue_result, nobody.end_reason) == ("no_operators", "voicemail:no_operators")
        assert await ear.hear(await call.heard()) == [
            "queue_no_operators",
            "vm_greeting_busy",
            "vm_record_instructions",
        ]

        await line.operator("mia", presence="paused")

        async def press_leave_key(call: LabCall, w: Watcher) -> None:
            await w.playing("queue_enter")
            await asyncio.sleep(2.5)  # no need to hear the whole announcement: the key cuts it short
            await call.press("9")
            await hang_up_at_beep(call, w)

        left, call = await line.call(press_leave_key)
        assert (left.queue_result, left.end_reason) == ("caller_choice", "voicemail:caller_choice")
        assert await ear.hear(await call.heard()) == [
            "queue_enter",
            "vm_greeting_caller_choice",
            "vm_record_instructions",
        ]

        waited, call = await line.call(hang_up_at_beep)
        assert (waited.queue_result, waited.end_reason) == ("max_wait", "voicemail:max_wait")
        assert waited.queued_at is not None and waited.ended_at is not None
        assert (waited.ended_at - waited.queued_at) >= timedelta(seconds=20)
        assert "queue_max_wait" in await ear.hear(await call.heard())


async def test_outcome_and_live_state_over_the_api(pbx: PbxPair, tmp_path: Path, voices: Voices) -> None:
    import aiohttp

    async with queue_line(pbx, tmp_path, voices) as line:
        await line.operator("nora")
        settings = line.engine.settings
        base = f"http://{settings.console.bind}:{settings.console.port}/api"
        assert settings.console.api_token is not None
        auth = {"Authorization": f"Bearer {settings.console.api_token.get_secret_value()}"}
        async with aiohttp.ClientSession() as http:
            async with http.get(f"{base}/queue") as resp:
                assert resp.status == 401
            ticket, _ = await line.call(talk(1))
            async with http.get(f"{base}/queue", headers=auth) as resp:
                state = await resp.json()
            assert state["admitted_today"] == 1 and state["daily_cap"] == 400
            assert [(o["login"], o["state"]) for o in state["operators"]] == [("nora", "wrap_up")]
            body = {"outcome": "escalated", "note": "serve la verifica dei requisiti", "operator": "nora"}
            async with http.post(f"{base}/tickets/{ticket.id}/outcome", json=body, headers=auth) as resp:
                refused = await resp.json()  # the desk's rule: the second level needs whom to answer
                assert resp.status == 400 and "nome e cognome" in refused["error"]
            body |= {"contact_name": "Nora Bassi", "answer_by": "email", "contact_email": "nora.b@example.org"}
            async with http.post(f"{base}/tickets/{ticket.id}/outcome", json=body, headers=auth) as resp:
                filed = await resp.json()
            assert filed["level"] == 2 and filed["status"] == "new"
            audited = await line.engine.store.run_read(
                lambda s: [(e.action, e.login) for e in s.scalars(select(AuditEntry)) if e.object_id == str(ticket.id)]
            )
            assert audited == [("ticket_outcome", "api:nora")]  # the desk's audit entry, the same path
            due = datetime.fromisoformat(filed["callback_due"])
            assert due - ticket.started_at == timedelta(days=10)
            async with http.post(
                f"{base}/operators/nora/presence", json={"presence": "paused", "reason": "pranzo"}, headers=auth
            ) as resp:
                assert (await resp.json())["state"] in ("paused", "wrap_up")
            async with http.post(
                f"{base}/tickets/{ticket.id}/outcome", json={"outcome": "maybe"}, headers=auth
            ) as resp:
                assert resp.status == 400
            # The public ways in need no token: the web request form and its JSON API.
            root = f"http://{settings.console.bind}:{settings.console.port}"
            async with http.get(f"{root}/richiesta") as resp:
                assert resp.status == 200 and "Invia la richiesta" in await resp.text()
            request = {
                "name": "Luca Bianchi",
                "email": "luca@example.org",
                "topic": "employers",
                "subject": "Assunzioni agevolate",
                "message": "Quali agevolazioni ci sono per assumere un giovane?",
                "privacy": True,
            }
            async with http.post(f"{root}/api/public/requests", json=request) as resp:
                assert resp.status == 201
                web_ticket = (await resp.json())["ticket"]
            stored = await line.engine.store.get(web_ticket)
            assert stored is not None and (stored.channel, stored.sla_kind) == ("web", "web_reply")
            # The commitments job, as the scheduler runs it: a new request is not near its due time.
            flagged = await line.engine.sla_check()
            assert web_ticket not in flagged.near + flagged.overdue
            # Every scheduled job of the running engine is in place, kept in the store.
            jobs = {job.id for job in line.engine.scheduler.get_jobs()}
            assert {"transcription-retry", "sla-check", PURGE_JOB, "stats-export"} <= jobs
            # Asterisk was asked not to send the events the engine never reads.
            app = await line.engine.ari.get(f"applications/{line.engine.ari.app}")
            assert {"type": "ChannelVarset"} in app["events_disallowed"]
            # The public statistics, with no login: today's calls are in them, no caller is.
            async with http.get(f"{root}/statistiche.json?periodo=giorno") as resp:
                assert resp.status == 200
                published = await resp.text()
            assert '"offered"' in published and ticket.caller_number not in published
            exported = await line.engine.stats.export(line.engine.clock.now().astimezone(ROME).date())
            assert exported.files and all(path.exists() for path in exported.files)
