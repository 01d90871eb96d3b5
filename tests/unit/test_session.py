"""The per-call state machine on a fake channel: every ending closes the ticket consistently."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

import pytest

from ivr.callflows.dispatcher import CallDispatcher
from ivr.callflows.facts import CallFacts
from ivr.callflows.model import Flow
from ivr.callflows.nodes import BASIC_HANDLERS
from ivr.callflows.session import CallSession
from ivr.callflows.states import CallState, IllegalTransition, check_transition
from ivr.clock import SystemClock
from ivr.ha.guard import Fenced
from ivr.prompts.library import PromptCatalog, PromptLibrary
from ivr.telephony.errors import AriUnavailable
from ivr.telephony.ports import CallChannel
from ivr.tickets.store import SqlTicketStore, TicketView
from tests.fakes import FakeChannel, Script

FLOW = Flow.model_validate(
    {
        "name": "t",
        "start": "welcome",
        "nodes": {
            "welcome": {"type": "play", "prompt": "welcome", "next": "operators"},
            "operators": {"type": "stub", "destination": "queue", "next": "goodbye"},
            "goodbye": {"type": "hangup", "prompt": "goodbye"},
        },
    }
)
PROMPTS = PromptLibrary(
    PromptCatalog(version="1", prompts={"welcome": "Benvenuto", "goodbye": "Arrivederci"}),
    build_dir=Path("/nonexistent"),
    custom_dir=Path("/nonexistent"),
    asterisk_dir="/p",
)


@pytest.fixture
def store(sqlite_store: SqlTicketStore) -> SqlTicketStore:
    return sqlite_store


def session(channel: CallChannel, store: SqlTicketStore) -> CallSession:
    return CallSession(channel, FLOW, BASIC_HANDLERS, store=store, clock=SystemClock(), prompts=PROMPTS)


async def run(channel: FakeChannel, store: SqlTicketStore) -> tuple[str | None, str | None, str | None]:
    await session(channel, store).run()
    ticket = await store.by_call_uid(channel.id)
    assert ticket is not None and not ticket.open and ticket.ended_at is not None
    return ticket.outcome, ticket.end_reason, ticket.last_state


async def test_whole_flow_plays_in_order_and_ends_as_stub(store: SqlTicketStore) -> None:
    channel = FakeChannel()
    assert await run(channel, store) == ("stub", "stub:queue", "hangup:goodbye")
    assert channel.answered
    assert channel.played == [["sound:/p/welcome"], ["sound:/p/goodbye"]]
    assert channel.hangups == ["normal"]  # the engine ended the call
    ticket = await store.by_call_uid(channel.id)
    assert ticket is not None and ticket.destination == "queue(stub)"


@pytest.mark.parametrize(("play_index", "state"), [(0, "play:welcome"), (1, "hangup:goodbye")])
async def test_hangup_during_each_prompt(store: SqlTicketStore, play_index: int, state: str) -> None:
    channel = FakeChannel(script=Script(hangup_on_play=play_index))
    outcome, reason, last = await run(channel, store)
    assert outcome == "caller_hangup"
    assert last == state
    assert reason == f"caller_hangup_in_{state.split(':')[0]}"
    assert channel.hangups == []  # nothing to hang up: the caller already did


class BrokenChannel(FakeChannel):
    async def play(self, media: Sequence[str], *, interruptible: bool = False) -> bool:
        raise AriUnavailable("connection refused")


async def test_telephony_failure_closes_ticket_as_failed(store: SqlTicketStore) -> None:
    channel = BrokenChannel()
    assert await run(channel, store) == ("failed", "telephony:AriUnavailable", "play:welcome")
    assert channel.hangups == ["normal"]  # the engine still releases the channel


class SlowChannel(FakeChannel):
    async def play(self, media: Sequence[str], *, interruptible: bool = False) -> bool:
        await asyncio.sleep(3600)
        return True


async def test_engine_stop_closes_every_open_ticket(store: SqlTicketStore) -> None:
    dispatcher = CallDispatcher(lambda ch, _resume: session(ch, store))
    channels = [SlowChannel(f"slow-{i}") for i in range(5)]
    for ch in channels:
        dispatcher.on_call(ch, ["inbound"])
    await asyncio.sleep(0.05)
    assert dispatcher.active == 5
    await dispatcher.drain(0.1)
    assert dispatcher.active == 0
    for ch in channels:
        ticket = await store.by_call_uid(ch.id)
        assert ticket is not None and not ticket.open
        assert (ticket.outcome, ticket.end_reason) == ("failed", "engine_stopped")
        assert ch.hung_up


class FencedChannel(FakeChannel):
    """The engine lost its lease mid-call (it was frozen past it): every command is refused."""

    async def play(self, media: Sequence[str], *, interruptible: bool = False) -> bool:
        raise Fenced("ARI POST channels/play: refused, this engine is fenced")

    async def hangup(self, reason: str = "normal") -> None:
        raise Fenced("ARI DELETE channels: refused, this engine is fenced")


async def test_a_fenced_engine_leaves_the_call_to_the_engine_holding_the_line(
    store: SqlTicketStore, caplog: pytest.LogCaptureFixture
) -> None:
    """Medium run 6: the engine frozen past its lease woke up and each of its calls "crashed" with
    a traceback, trying to close a ticket and hang up a channel that were no longer its to touch."""
    ended: list[int] = []
    dispatcher = CallDispatcher(lambda ch, _resume: session(ch, store))
    dispatcher.on_ended.subscribe(ended.append)
    channel = FencedChannel("fenced-1")
    dispatcher.on_call(channel, ["inbound"])
    await asyncio.sleep(0.05)
    assert dispatcher.active == 0 and ended == []
    ticket = await store.by_call_uid(channel.id)
    assert ticket is not None and ticket.open  # the other engine closes it, not this one
    assert not [r for r in caplog.records if r.levelname == "ERROR"], caplog.text
    assert "fenced" in caplog.text


async def test_unknown_app_arguments_are_hung_up_not_served(store: SqlTicketStore) -> None:
    dispatcher = CallDispatcher(lambda ch, _resume: session(ch, store))
    channel = FakeChannel()
    dispatcher.on_call(channel, ["something-else"])
    await asyncio.sleep(0.01)
    assert channel.hung_up and dispatcher.active == 0
    assert await store.by_call_uid(channel.id) is None


def test_transition_table_refuses_moves_after_the_end() -> None:
    check_transition(CallState.STARTED, CallState.PLAY)
    with pytest.raises(IllegalTransition):
        check_transition(CallState.HANGUP, CallState.PLAY)
    with pytest.raises(IllegalTransition):
        check_transition(CallState.ENDED, CallState.HANGUP)


T0 = datetime(2026, 2, 10, 9, 30, tzinfo=UTC)
SURVEY_FLOW = Flow.model_validate(
    {
        "name": "t",
        "start": "queue",
        "nodes": {
            "queue": {"type": "queue", "fallback": "goodbye", "next": "survey"},
            "survey": {
                "type": "survey",
                "questions": [{"id": "satisfaction", "prompt": "welcome", "keys": "12345"}],
                "next": "goodbye",
            },
            "goodbye": {"type": "hangup", "prompt": "goodbye"},
        },
    }
)


@pytest.mark.parametrize(
    ("last_state", "node"),
    [
        ("survey:survey", "survey"),  # taken over in the middle of the questionnaire
        ("queue:queue", "survey"),  # the operator hung up while no engine watched
    ],
)
async def test_a_call_resumed_into_the_survey_goes_on(store: SqlTicketStore, last_state: str, node: str) -> None:
    """The soak's finding: callers in the survey when the active engine was killed ended as
    'failed (IllegalTransition: started -> survey)' on the standby. A resumed call goes on from
    the state its ticket recorded, not from a fresh start."""
    from ivr.callflows.facts import CallFacts
    from ivr.callflows.session import Resume
    from ivr.tickets.store import NewCall

    channel = FakeChannel()
    ticket_id = await store.open_call(NewCall(channel.id, T0, "3331234567", None, "800000039"))
    await store.update(ticket_id, last_state=last_state)
    ticket = await store.get(ticket_id)
    assert ticket is not None
    asked: list[str] = []

    async def survey(ctx: object, n: object) -> str:
        asked.append("survey")
        return "goodbye"

    handlers = {**BASIC_HANDLERS, "survey": survey}
    resume = Resume(ticket, node, CallFacts(resumed=True, operator_id=3))
    await CallSession(
        channel, SURVEY_FLOW, handlers, store=store, clock=SystemClock(), prompts=PROMPTS, resume=resume
    ).run()
    closed = await store.get(ticket_id)
    assert closed is not None
    assert (asked, closed.outcome, closed.end_reason, closed.last_state) == (
        ["survey"],
        "completed",
        "flow_end",
        "hangup:goodbye",
    )


VOICEMAIL_FLOW = Flow.model_validate(
    {
        "name": "t",
        "start": "vm",
        "nodes": {"vm": {"type": "voicemail", "reason": "busy"}},
    }
)


async def _voicemail_taken_over(
    store: SqlTicketStore,
    tmp_path: Path,
    channel: FakeChannel,
    ticket_id: int,
    facts: CallFacts,
    audio: dict[str, bytes],
) -> tuple[TicketView, dict[str, bytes]]:
    """Run the voicemail node as an engine taking the call over does, on a PBX holding `audio`
    (recording name -> what Asterisk recorded); the closed ticket and the PBX's files left."""
    from ivr.callflows.session import Resume
    from ivr.recordings.store import RecordingStore
    from ivr.voicemail.config import VoicemailSettings
    from ivr.voicemail.messages import VoicemailMessages
    from ivr.voicemail.service import VoicemailService
    from ivr.voicemail.step import VoicemailStep
    from ivr.voicemail.transcribe import VoskTranscriber
    from tests.fakes import named_prompts
    from tests.unit.test_voicemail_disk_full import Stored

    prompts = named_prompts(
        "call_interrupted", "vm_greeting_busy", "vm_record_instructions", "vm_saved", "vm_thanks",
        "vm_callback_is", "vm_callback_confirm",
    )  # fmt: skip
    ticket = await store.get(ticket_id)
    assert ticket is not None
    pbx = Stored()
    pbx.files.update(audio)
    settings = VoicemailSettings()
    service = VoicemailService(store, VoicemailMessages(store), RecordingStore(pbx, tmp_path, store),
                               VoskTranscriber(None), settings, SystemClock())  # fmt: skip
    handlers = {**BASIC_HANDLERS, "voicemail": VoicemailStep(service, settings)}
    resume = Resume(ticket, "vm", facts)
    await CallSession(
        channel, VOICEMAIL_FLOW, handlers, store=store, clock=SystemClock(), prompts=prompts, resume=resume
    ).run()
    closed = await store.get(ticket_id)
    assert closed is not None
    return closed, pbx.files


async def test_a_message_whose_caller_hung_up_as_the_call_was_taken_over_is_kept(
    store: SqlTicketStore, tmp_path: Path
) -> None:
    """Full run 3, ticket 6465: the engine was killed while a caller spoke their message; the
    standby resumed the call just as the caller hung up, the session ended 'caller_hangup_in_
    started' before reaching the voicemail node, and the message was never saved."""
    from ivr.callflows.facts import CallFacts
    from ivr.tickets.store import NewCall
    from tests.unit.test_voicemail_disk_full import speech_wav

    channel = FakeChannel()
    ticket_id = await store.open_call(NewCall(channel.id, T0, "3331234567", None, "800000039"))
    await store.update(ticket_id, last_state="voicemail:vm")
    channel.caller_hangs_up()  # gone by the time the standby looks at it
    facts = CallFacts(resumed=True, resume_recording="vm-6465-abc")
    # what Asterisk recorded until the hangup
    closed, files = await _voicemail_taken_over(
        store, tmp_path, channel, ticket_id, facts, {"vm-6465-abc": speech_wav()}
    )
    assert (closed.outcome, closed.end_reason) == ("voicemail", "voicemail:busy")
    assert channel.recorded == ["vm-6465-abc"]  # what Asterisk had, stopped and kept
    assert "vm-6465-abc" not in files  # fetched: the message has its audio
    assert [e.kind for e in closed.events if e.kind.startswith("voicemail")] == ["voicemail_left"]


async def test_a_call_taken_over_before_its_answer_was_written_is_answered_and_says_so(
    store: SqlTicketStore,
) -> None:
    """Full run 7, tickets 2675 and 6628: the engine was frozen or killed within a second of
    answering; the ticket had no state and no answer, and the engine taking over hung up on a
    caller who had heard nothing, the ticket saying never answered. Now the call is served from
    the start, answered again (harmless on an answered channel) and the answer written."""
    from ivr.callflows.facts import CallFacts
    from ivr.callflows.session import Resume
    from ivr.tickets.store import NewCall

    channel = FakeChannel()
    ticket_id = await store.open_call(NewCall(channel.id, T0, "3331234567", None, "800000039"))
    ticket = await store.get(ticket_id)
    assert ticket is not None and ticket.answered_at is None and ticket.last_state == "started"
    await CallSession(
        channel, FLOW, BASIC_HANDLERS, store=store, clock=SystemClock(), prompts=PROMPTS,
        resume=Resume(ticket, FLOW.start, CallFacts()),
    ).run()  # fmt: skip
    closed = await store.get(ticket_id)
    assert closed is not None and not closed.open
    assert channel.answered and closed.answered_at is not None
    assert channel.played[0] == ["sound:/p/welcome"]  # from the start
    assert (closed.outcome, closed.last_state) == ("stub", "hangup:goodbye")


async def test_a_resumed_call_whose_answer_is_written_is_not_answered_again(store: SqlTicketStore) -> None:
    from ivr.callflows.facts import CallFacts
    from ivr.callflows.session import Resume
    from ivr.tickets.store import NewCall

    channel = FakeChannel()
    ticket_id = await store.open_call(NewCall(channel.id, T0, "3331234567", None, "800000039"))
    await store.update(ticket_id, answered_at=T0, last_state="play:welcome")
    ticket = await store.get(ticket_id)
    assert ticket is not None
    await CallSession(
        channel, FLOW, BASIC_HANDLERS, store=store, clock=SystemClock(), prompts=PROMPTS,
        resume=Resume(ticket, "welcome", CallFacts(resumed=True)),
    ).run()  # fmt: skip
    closed = await store.get(ticket_id)
    assert closed is not None and closed.answered_at == T0
    assert not channel.answered


async def test_a_message_the_store_never_heard_of_is_found_on_the_channel_and_kept(
    store: SqlTicketStore, tmp_path: Path
) -> None:
    """Full run 7, ticket 6604: the engine was killed 0.2 s after the beep, before the store
    heard the recording's name; the engine taking over played its greeting again behind the
    live recording (it never started) while the caller spoke 32 s into a recording nobody
    kept. The channel names the recording it is making: it is stopped and kept."""
    from ivr.callflows.facts import CallFacts
    from ivr.tickets.store import NewCall
    from tests.unit.test_voicemail_disk_full import speech_wav

    channel = FakeChannel(script=Script(hangup_on_play=0))  # gone during "vm_saved"
    ticket_id = await store.open_call(NewCall(channel.id, T0, "3331234567", None, "800000039"))
    await store.update(ticket_id, answered_at=T0, last_state="voicemail:vm")
    name = f"vm-{ticket_id}-d1e2a3d4"
    channel.left_recording = name  # set by the killed engine as it started recording
    facts = CallFacts(resumed=True)
    closed, files = await _voicemail_taken_over(store, tmp_path, channel, ticket_id, facts, {name: speech_wav()})
    assert (closed.outcome, closed.end_reason) == ("voicemail", "voicemail:busy")
    assert channel.recorded == [name]  # stopped and kept, no second recording
    assert name not in files  # fetched: the message has its audio
    heard = [m for media in channel.played for m in media]
    assert not any("greeting" in m or "interrupted" in m for m in heard)
    kinds = [e.kind for e in closed.events if e.kind.startswith("voicemail")]
    assert kinds == ["voicemail_recording", "voicemail_left"]


async def test_a_message_named_but_never_started_is_recorded_anew(
    store: SqlTicketStore, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Full run 11, ticket 479: the engine named the recording on the channel, then lost its
    lease and Asterisk never got the `record`; the engine taking over waited on that name while
    the caller spoke 20 s to nobody, and the message had no audio. A name Asterisk does not
    know is no message: the caller hears the greeting and speaks into a new recording."""
    from ivr.callflows.facts import CallFacts
    from ivr.tickets.store import NewCall
    from tests.unit.test_voicemail_disk_full import speech_wav

    channel = FakeChannel(script=Script(hangup_on_play=3))  # gone during "vm_saved"
    ticket_id = await store.open_call(NewCall(channel.id, T0, "3331234567", None, "800000039"))
    await store.update(ticket_id, answered_at=T0, last_state="voicemail:vm")
    name = f"vm-{ticket_id}-d1e2a3d4"
    channel.left_recording = name
    channel.never_started.add(name)
    import uuid

    from ivr.voicemail import step

    monkeypatch.setattr(step.uuid, "uuid4", lambda: uuid.UUID(int=0xFEED))
    fresh = f"vm-{ticket_id}-00000000"
    closed, files = await _voicemail_taken_over(
        store, tmp_path, channel, ticket_id, CallFacts(resumed=True), {fresh: speech_wav()}
    )
    assert channel.recorded == [fresh]  # a new recording, not the name that never began
    assert fresh not in files  # fetched: the message has its audio
    heard = [m for media in channel.played for m in media]
    assert any("greeting" in m for m in heard)
    kinds = [e.kind for e in closed.events if e.kind.startswith("voicemail")]
    assert kinds == ["voicemail_recording", "voicemail_recording", "voicemail_left"]


async def test_the_line_answers_without_waiting_for_the_tickets_first_write(store: SqlTicketStore) -> None:
    """Full run 7: behind a burst of messages being saved, opening tickets took 3-5 s and one
    caller heard the line ring 5.4 s. The answer goes out while the ticket is being written."""
    written = asyncio.Event()

    class SlowToOpen:
        def __getattr__(self, name: str) -> object:
            return getattr(store, name)

        async def open_call(self, call: object) -> int:
            await written.wait()
            return await store.open_call(call)  # type: ignore[arg-type]

    channel = FakeChannel()
    running = asyncio.ensure_future(
        CallSession(channel, FLOW, BASIC_HANDLERS, store=SlowToOpen(), clock=SystemClock(), prompts=PROMPTS).run()  # type: ignore[arg-type]
    )
    for _ in range(20):
        await asyncio.sleep(0)
    assert channel.answered and channel.played == []  # answered, nothing played before the ticket
    written.set()
    await running
    ticket = await store.by_call_uid(channel.id)
    assert ticket is not None and ticket.answered_at is not None and not ticket.open


async def test_no_ticket_no_call_the_answered_caller_is_not_left_in_silence(store: SqlTicketStore) -> None:
    class Broken:
        def __getattr__(self, name: str) -> object:
            return getattr(store, name)

        async def open_call(self, call: object) -> int:
            await asyncio.sleep(0)
            raise RuntimeError("the store refused")

    channel = FakeChannel()
    with pytest.raises(RuntimeError):
        await CallSession(channel, FLOW, BASIC_HANDLERS, store=Broken(), clock=SystemClock(), prompts=PROMPTS).run()  # type: ignore[arg-type]
    assert channel.hangups == ["normal"]
