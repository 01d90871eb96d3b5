"""The soak caller's script by ear, on a scripted line (tests/unit/soak_fake_line.py): an English
caller presses the language key at the offer and follows the English prompts; a caller asking
for a queued callback confirms or types the number (a refused one typed again), hears it booked,
and answers the line's dial-back as the citizen; the citizens' phones take only their own rings."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any, cast

import pytest

from ivr.lab.carrier import LabCarrier
from ivr.lab.soak.callers import CallerKit, SoakCaller, language_of, named
from ivr.lab.soak.citizen import CallbackPhones, leg_recordings, national
from ivr.lab.soak.journal import CallRecord, HungUpBy
from ivr.lab.soak.model import Goal, Journey
from tests.unit.soak_fake_line import FakeCall, FakeCarrier, FakeRing, build_prompts, sound, write_wav

ANNA = "operator:anna"  # the operator's voice, as the line plays it


def kit_for(tmp_path: Path, carrier: FakeCarrier, **kw: Any) -> CallerKit:
    prompts = build_prompts(tmp_path / "prompts")
    voice = write_wav(tmp_path / "anna.wav", sound(ANNA))
    speech = write_wav(tmp_path / "speech.wav", sound("speech"))
    return CallerKit(cast(LabCarrier, carrier), "800000039", prompts, {"anna": voice}, speech, max_call_s=30.0, **kw)


async def run(kit: CallerKit, journey: Journey) -> CallRecord:
    return await asyncio.wait_for(SoakCaller(kit, journey).run(), 60)


def test_reference_names_per_language() -> None:
    assert named("it", "menu_main") == "menu_main" and named("en", "menu_main") == "en:menu_main"
    assert language_of("en:menu_main") == "en" and language_of("menu_main") == "it"
    assert language_of("operator:anna") == "it"


async def welcome_consent_menu(call: FakeCall, english: bool) -> str:
    """The welcome with the English offer; in English if 9 was pressed. Returns the prefix."""
    call.play("welcome", "en:language_offer")
    p = "en:" if english and await call.key(2.0) == "9" else ""
    call.play(f"{p}welcome", f"{p}consent_notice")
    assert await call.key() == "1"
    call.play(f"{p}menu_main")
    return p


@pytest.mark.parametrize("english", [True, False])
async def test_an_english_caller_chooses_english_and_follows_it_by_ear(tmp_path: Path, english: bool) -> None:
    async def line(call: FakeCall, caller: str | None) -> None:
        p = await welcome_consent_menu(call, english)
        assert await call.key() == "2"
        call.play(f"{p}queue_enter", ANNA)
        await asyncio.sleep(0.5)
        call.play(f"{p}survey_intro")
        assert await call.key() == "4"
        call.play(f"{p}survey_solved")
        assert await call.key() == "1"

    carrier = FakeCarrier(tmp_path, line)
    kit = kit_for(tmp_path, carrier)
    language = "en" if english else "it"
    journey = Journey(name=f"operator/employers/{language}", goal=Goal.OPERATOR, at_s=0, caller="3471000001",
                      language=language, language_key="9" if english else None, consent_key="1",
                      menu_keys=["2"], topic="employers", survey_keys=["4", "1"])  # fmt: skip
    record = await run(kit, journey)
    await carrier.close()
    assert record.language == language and record.language_heard == language
    assert record.language_key == ("9" if english else None)
    assert carrier.calls[0].pressed == (["9"] if english else []) + ["1", "2", "4", "1"]
    assert (record.consent_key, record.topic, record.operator) == ("1", "employers", "anna")
    assert record.survey_keys == ["4", "1"] and record.hung_up_by == HungUpBy.ENGINE


async def test_a_key_the_line_ignores_leaves_the_caller_in_italian_and_says_so(tmp_path: Path) -> None:
    async def line(call: FakeCall, caller: str | None) -> None:
        call.play("welcome", "en:language_offer")
        await call.key(2.0)  # a line that does not switch: the caller hears Italian
        call.play("menu_main")
        await call.key()

    carrier = FakeCarrier(tmp_path, line)
    journey = Journey(name="silent/en", goal=Goal.SILENT, at_s=0, caller="3471000002", language="en",
                      language_key="9")  # fmt: skip
    record = await run(kit_for(tmp_path, carrier), journey)
    await carrier.close()
    assert (record.language, record.language_key, record.language_heard) == ("en", "9", "it")


async def test_a_consent_asked_again_after_a_takeover_is_answered_again(tmp_path: Path) -> None:
    """The standby resumes a call at the consent notice and asks it again (soak run cbheard-2,
    tickets 44 and 85: the key pressed before the kill was lost, the English callers did not
    answer the second notice, and the line stored no answer for their no)."""

    async def line(call: FakeCall, caller: str | None) -> None:
        call.play("welcome", "consent_notice")
        assert await call.key() == "2"
        call.play("consent_notice")  # the engine that took the key is gone: asked again
        assert await call.key() == "2"
        call.play("consent_refused", "menu_main")
        await call.key()

    carrier = FakeCarrier(tmp_path, line)
    journey = Journey(name="silent/it", goal=Goal.SILENT, at_s=0, caller="3471000003", consent_key="2")
    record = await run(kit_for(tmp_path, carrier), journey)
    await carrier.close()
    assert carrier.calls[0].pressed == ["2", "2"]
    assert (record.consent_asked, record.consent_key) == (True, "2")


async def queue_offer(call: FakeCall, p: str = "") -> None:
    call.play(f"{p}menu_main")
    assert await call.key() == "1"
    call.play(f"{p}queue_enter", f"{p}queue_callback_offer")
    assert await call.key(8) == "2"


async def test_a_callback_caller_confirms_the_caller_id_and_answers_the_dial_back(tmp_path: Path) -> None:
    rings: list[FakeRing] = []

    async def line(call: FakeCall, caller: str | None) -> None:
        await queue_offer(call)
        call.read_back(caller or "")
        assert await call.key() == "1"
        call.play("queue_callback_booked")
        await asyncio.sleep(0.5)
        await call.hangup()
        await asyncio.sleep(1.0)  # later: an operator's phone rings first, then the citizen's
        operator_ring = carrier.ring("3479000001")
        assert carrier.operators_queue.get_nowait() is operator_ring  # not the citizen's
        ring = carrier.ring(caller or "")
        rings.append(ring)
        await asyncio.wait_for(ring.channel.answered.wait(), 10)
        await ring.heard_by_citizen("callback_citizen_notice", ANNA, "survey_intro")
        assert await ring.key() == "5"
        await ring.heard_by_citizen("survey_solved")
        assert await ring.key() == "2"
        await ring.hangup()

    carrier = FakeCarrier(tmp_path, line)
    kit = kit_for(tmp_path, carrier)
    carrier.operators_queue = cast(CallbackPhones, carrier.phones).inner  # type: ignore[attr-defined]
    journey = Journey(name="callback/citizens/it", goal=Goal.CALLBACK, at_s=0, caller="3471000003",
                      menu_keys=["1"], topic="citizens", survey_keys=["5", "2"])  # fmt: skip
    record = await run(kit, journey)
    await carrier.close()
    assert record.callback_offered and record.callback_requested
    assert record.callback_number == "3471000003" and record.refused_numbers == []
    assert record.hung_up_by == HungUpBy.ENGINE and not record.heard_operator  # nobody on the first leg
    (leg,) = record.callback_legs
    assert leg.number == "3471000003" and leg.answered and leg.heard_notice and not leg.busy
    assert (leg.heard_operator, leg.operator, leg.survey_keys) == (True, "anna", ["5", "2"])
    assert leg.hung_up_by == HungUpBy.ENGINE and leg.ended_at is not None and leg.ended_at >= leg.rang_at
    assert record.survey_keys == ["5", "2"]  # the call's questionnaire, answered on the callback


async def test_a_caller_hung_up_on_after_confirming_still_answers_the_dial_back(tmp_path: Path) -> None:
    """Full run 8, ticket 4963: the line booked the callback and hung up; the caller's ear did
    not make out "booked", forgot the number, and the citizen's phone rejected every try as a
    ring nobody expected. A citizen who confirmed a number answers it when it rings."""

    async def line(call: FakeCall, caller: str | None) -> None:
        await queue_offer(call)
        call.read_back(caller or "")
        assert await call.key() == "1"
        await call.hangup()  # whatever it said last, the caller's ear did not make it out
        await asyncio.sleep(1.0)
        ring = carrier.ring(caller or "")
        await asyncio.wait_for(ring.channel.answered.wait(), 10)
        await ring.heard_by_citizen("callback_citizen_notice", ANNA)
        await asyncio.sleep(0.5)
        await ring.hangup()

    carrier = FakeCarrier(tmp_path, line)
    kit = kit_for(tmp_path, carrier)
    journey = Journey(name="callback/citizens/it", goal=Goal.CALLBACK, at_s=0, caller="3471000011",
                      menu_keys=["1"], topic="citizens")  # fmt: skip
    record = await run(kit, journey)
    await carrier.close()
    assert not record.callback_requested and record.callback_number == "3471000011"
    assert record.hung_up_by == HungUpBy.ENGINE and not record.callback_unsaid
    (leg,) = record.callback_legs
    assert leg.answered and leg.heard_notice and leg.heard_operator


async def test_a_typed_number_refused_then_another_and_a_second_ring_while_talking(tmp_path: Path) -> None:
    typed: list[str] = []

    async def line(call: FakeCall, caller: str | None) -> None:
        await queue_offer(call, "en:")
        call.read_back(caller or "", "en:")  # the caller id read back
        assert await call.key() == "2"  # another number
        for _ in range(2):
            call.play("en:vm_callback_enter")
            typed.append(await call.typed())
            if typed[-1].startswith("899"):
                call.play("en:vm_callback_invalid")
        call.read_back(typed[-1], "en:")
        assert await call.key() == "1"
        call.play("en:queue_callback_booked")
        await call.hangup()
        first = carrier.ring(typed[-1])
        await asyncio.wait_for(first.channel.answered.wait(), 10)
        second = carrier.ring(typed[-1])  # the same number again while the first leg is up
        await asyncio.wait_for(second.channel.gone.wait(), 10)
        await first.heard_by_citizen("en:callback_citizen_notice", ANNA)
        await asyncio.sleep(1.0)
        await first.hangup()

    carrier = FakeCarrier(tmp_path, line)
    journey = Journey(name="callback/citizens/en", goal=Goal.CALLBACK, at_s=0, caller="3471000004",
                      language="en", language_key="9", menu_keys=["1"], topic="citizens",
                      typed_numbers=["899123456", "3479990004"])  # fmt: skip

    async def english_line(call: FakeCall, caller: str | None) -> None:
        call.play("welcome", "en:language_offer")
        assert await call.key(2.0) == "9"
        await line(call, caller)

    carrier.script = english_line
    record = await run(kit_for(tmp_path, carrier), journey)
    await carrier.close()
    assert typed == ["899123456", "3479990004"]
    assert record.language_heard == "en" and record.callback_requested
    assert record.refused_numbers == ["899123456"] and record.callback_number == "3479990004"
    talked, rang = record.callback_legs
    assert talked.answered and talked.heard_notice and talked.heard_operator and not talked.busy
    assert rang.busy and not rang.answered and talked.rang_at <= rang.rang_at
    assert talked.ended_at is not None and rang.rang_at <= talked.ended_at  # two legs at once, as seen


async def test_a_callback_that_never_comes_and_a_ring_after_the_citizen_stopped_waiting(tmp_path: Path) -> None:
    async def line(call: FakeCall, caller: str | None) -> None:
        await queue_offer(call)
        call.read_back(caller or "")
        assert await call.key() == "1"
        call.play("queue_callback_booked")

    carrier = FakeCarrier(tmp_path, line)
    kit = kit_for(tmp_path, carrier, callback_wait_s=1.0)
    journey = Journey(name="callback/citizens/it", goal=Goal.CALLBACK, at_s=0, caller="3471000005",
                      menu_keys=["1"], topic="citizens")  # fmt: skip
    record = await run(kit, journey)
    assert record.callback_requested and record.callback_legs == [] and record.callback_waited_s >= 1.0
    late = carrier.ring("3471000005")
    await asyncio.wait_for(late.channel.gone.wait(), 5)  # hung up: nobody waits on that phone any more
    assert kit.phones is not None and [n for n, _ in kit.phones.late_rings] == ["3471000005"]
    await carrier.close()


async def test_the_key_not_taken_the_caller_waits_on_and_reaches_an_operator(tmp_path: Path) -> None:
    async def line(call: FakeCall, caller: str | None) -> None:
        await queue_offer(call)  # the line ignores the key (an operator was being rung)
        call.play(ANNA)
        await asyncio.sleep(1.0)

    carrier = FakeCarrier(tmp_path, line)
    journey = Journey(name="callback/citizens/it", goal=Goal.CALLBACK, at_s=0, caller="3471000006",
                      menu_keys=["1"], topic="citizens")  # fmt: skip
    record = await run(kit_for(tmp_path, carrier), journey)
    await carrier.close()
    assert record.callback_offered and not record.callback_requested and record.heard_operator
    assert record.callback_legs == [] and record.callback_number is None


async def test_a_callback_the_line_could_not_book_is_heard_as_such_and_the_caller_waits_on(tmp_path: Path) -> None:
    async def line(call: FakeCall, caller: str | None) -> None:
        await queue_offer(call)
        call.read_back(caller or "")
        assert await call.key() == "1"
        call.play("queue_callback_not_booked")  # the store away: the place kept, nothing booked
        await asyncio.sleep(0.5)
        call.play(ANNA)
        await asyncio.sleep(1.0)

    carrier = FakeCarrier(tmp_path, line)
    journey = Journey(name="callback/citizens/it", goal=Goal.CALLBACK, at_s=0, caller="3471000007",
                      menu_keys=["1"], topic="citizens")  # fmt: skip
    record = await run(kit_for(tmp_path, carrier), journey)
    await carrier.close()
    assert record.callback_not_booked and not record.callback_unsaid and not record.callback_requested
    assert record.heard_operator and record.callback_number is None and record.callback_legs == []


async def test_a_caller_id_with_the_country_code_is_dialled_back_in_national_form(tmp_path: Path) -> None:
    carrier = FakeCarrier(tmp_path, lambda call, caller: asyncio.sleep(0))
    phones = CallbackPhones.install(cast(LabCarrier, carrier))
    box = phones.expect("+393938354405")
    ring = carrier.ring("3938354405")
    assert box.get_nowait() is ring and phones.inner.empty()
    assert national("00393331234567") == "3331234567" and national("3331234567") == "3331234567"


def test_the_recordings_of_a_citizens_legs_are_found_again_by_the_number(tmp_path: Path) -> None:
    """Kept beside the report when a check names the citizen: the carrier's recordings go with
    the lab's Asterisk at the end of the run."""
    for name in ("citizen-3331234567-aa", "citizen-3331234567-bb", "citizen-3339999999-cc", "0a1b2c"):
        (tmp_path / f"{name}.wav").write_bytes(b"")
    found = [p.name for p in leg_recordings(tmp_path, "+393331234567")]
    assert found == ["citizen-3331234567-aa.wav", "citizen-3331234567-bb.wav"]


async def test_a_language_key_taken_at_the_notice_begun_after_it_is_followed_by_ear(tmp_path: Path) -> None:
    """Full run 8's ticket 5298: the caller pressed 9 during the welcome; the key reached the line
    only once it had begun the Italian notice (after the press, as the caller's recording read),
    and the line asked again in English. The caller took the line for Italian at that notice and
    never heard the English replay: the ticket said English, the caller's record Italian."""

    async def line(call: FakeCall, caller: str | None) -> None:
        call.play("welcome", "en:language_offer")
        while not call.pressed:  # noqa: ASYNC110 - the fake phone has no event; the key is on its way...
            await asyncio.sleep(0.05)
        call.play("consent_notice")  # ...and the line begins its notice before it arrives
        assert await call.key() == "9"  # taken at the notice: the offer's late window
        call.play("en:consent_notice")
        assert await call.key() == "1"
        call.play("en:menu_main")
        await call.key()

    carrier = FakeCarrier(tmp_path, line)
    journey = Journey(name="silent/en", goal=Goal.SILENT, at_s=0, caller="3471000010", language="en",
                      language_key="9", consent_key="1")  # fmt: skip
    record = await run(kit_for(tmp_path, carrier), journey)
    await carrier.close()
    assert carrier.calls[0].pressed == ["9", "1"]
    assert (record.language_heard, record.consent_key) == ("en", "1")
    consent = record.consent_press
    assert consent is not None and consent.prompt == "en:consent_notice"


async def test_a_late_language_key_is_judged_by_what_the_line_said_after_it(tmp_path: Path) -> None:
    """Full run 6 (tickets 446, 609, 1436): the caller's ear fell behind, its 9 came while the
    Italian notice (or menu) played, the line switched and said it again in English; the caller
    took the line for Italian by the notice begun before its key, answered it, and never knew the
    English menu. What began before the key tells nothing of the language the line speaks now;
    the press is written with how late it came and the line's window for it."""

    async def line(call: FakeCall, caller: str | None) -> None:
        call.play("welcome", "en:language_offer", "consent_notice")  # all said before the key
        assert await call.key() == "9"
        call.play("en:consent_notice")  # switched: the notice again, in English
        assert await call.key() == "1"
        call.play("en:menu_main")
        await call.key()

    carrier = FakeCarrier(tmp_path, line)
    kit = kit_for(tmp_path, carrier, windows={"welcome": 14.6, "en:consent_notice": 11.7})
    journey = Journey(name="silent/en", goal=Goal.SILENT, at_s=0, caller="3471000009", language="en",
                      language_key="9", consent_key="1")  # fmt: skip
    record = await run(kit, journey)
    await carrier.close()
    assert carrier.calls[0].pressed == ["9", "1"]
    assert (record.language_heard, record.consent_key) == ("en", "1")
    language, consent = record.language_press, record.consent_press
    assert language is not None and consent is not None
    assert (language.key, language.prompt, language.window_s) == ("9", "welcome", 14.6)
    assert (consent.key, consent.prompt, consent.window_s) == ("1", "en:consent_notice", 11.7)
    # The line here says everything at once: the welcome was played at least the length of what
    # followed it in the recording before the key (three prompts of 1.7 s).
    assert 3 * 1.7 - 0.1 <= language.at_least_s <= language.at_most_s
    assert 0 <= consent.at_least_s <= consent.at_most_s


async def test_a_number_read_back_wrong_is_refused_and_typed_again(tmp_path: Path) -> None:
    """Full run 11: a key lost on the way (3271324564 read back as 3271324) and one doubled
    (3310427603 as 33104276003); the callers confirmed without listening and the checker found
    the store keeping a number the citizen never gave. A citizen says no and types it again; a
    number the line refused once as it arrived and then read back right is not a refused one."""
    typed: list[str] = []
    number = "3310427603"

    async def line(call: FakeCall, caller: str | None) -> None:
        await queue_offer(call)
        call.read_back(caller or "")
        assert await call.key() == "2"  # another number
        call.play("vm_callback_enter")
        typed.append(await call.typed())
        call.play("vm_callback_invalid")  # refused as it arrived (a key lost): "3310427"
        call.play("vm_callback_enter")
        typed.append(await call.typed())
        call.read_back("33104276003")  # a key doubled on the way
        assert await call.key() == "2"  # "no, that is not my number"
        call.play("vm_callback_enter")
        typed.append(await call.typed())
        call.read_back(number)
        assert await call.key() == "1"
        call.play("queue_callback_booked")
        await call.hangup()

    carrier = FakeCarrier(tmp_path, line)
    journey = Journey(name="callback/citizens/it", goal=Goal.CALLBACK, at_s=0, caller="3471000006",
                      menu_keys=["1"], topic="citizens", typed_numbers=[number, number])  # fmt: skip
    record = await run(kit_for(tmp_path, carrier, callback_wait_s=1.0), journey)
    await carrier.close()
    assert typed == [number, number, number]
    assert record.misread_numbers == [number] and record.refused_numbers == []
    assert record.callback_requested and record.callback_number == number
