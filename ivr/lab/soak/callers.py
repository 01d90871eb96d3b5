"""A soak caller: runs one `Journey` on the lab carrier and writes what the caller went through.

The engine is another process (another machine, in production), so the caller acts only on what
reaches it: the line's prompts, an operator's voice and the voicemail beep, recognised as they
are heard (`Ear`). The `CallRecord` it returns is made of those observations only, never of the
engine's store: it is the witness the soak's checker holds the store against.

A caller of another language presses its key when the line offers it at the welcome, and knows
the prompts of both languages until one is heard (the record says which). A caller asking for a
queued callback presses the key when the queue offers it, confirms the number read back or types
another (a refused one is typed again), hears it booked, and then waits as the citizen for the
line to dial back (`ivr.lab.soak.citizen`): each ring of the citizen's phone is a leg of the record.
"""

import asyncio
import contextlib
import logging
from datetime import UTC, datetime

from ivr.lab.carrier import CallNotAnswered, LabCall
from ivr.lab.soak.caller_services import SPOKEN_S, CallerServices
from ivr.lab.soak.caller_state import _Hangup, _HangupLater
from ivr.lab.soak.citizen import OPERATOR
from ivr.lab.soak.ear import Ear, Heard
from ivr.lab.soak.journal import CallRecord, HungUpBy
from ivr.lab.soak.kit import BEEP, CallerKit, LinePrompts, language_of, named
from ivr.lab.soak.model import Goal, Journey
from ivr.telephony.errors import AriError, AriUnavailable, CallerHungUp

# How long a caller who pressed a language key listens for the line's question asked again in
# that language, after hearing it in the line's own (the key taken late: ivr.callflows.language).
REPLAY_WAIT_S = 5.0

__all__ = ["SPOKEN_S", "CallerKit", "LinePrompts", "SoakCaller", "language_of", "named", "run_journeys"]
log = logging.getLogger(__name__)


class SoakCaller(CallerServices):
    """The script: the welcome, the consent notice and the menu, then the queue, as the journey
    says (the state and the record are `ivr.lab.soak.caller_state`'s; voicemail, the callback
    and the survey `ivr.lab.soak.caller_services`')."""

    async def run(self) -> CallRecord:
        placed = datetime.now(UTC)
        number = self.j.caller or None
        try:
            self.call = await self.kit.carrier.call(self.kit.did, caller_number=number, answer_timeout=15)
        except CallNotAnswered:
            return CallRecord(
                caller=self.j.caller,
                carrier_channel="",
                journey=self.j.name,
                placed_at=placed,
                ended_at=datetime.now(UTC),
                language=self.j.language,
                hung_up_by=HungUpBy.NETWORK,
            )
        call = self.call
        self._answered = asyncio.get_running_loop().time()
        self._answered_after_s = (datetime.now(UTC) - placed).total_seconds()
        self.ear = Ear(
            call.heard_path,
            self.kit.references(self._prompts()),
            {BEEP: 0.85},
            gone=lambda: call.ended,
            spectra=self.kit.spectra,
        )
        self.ear.start()
        try:  # whatever escapes, the ear stops (one left reading held its call's audio for good)
            hung_up_by, where = await self._follow_line(call)
            ended = datetime.now(UTC)
            with contextlib.suppress(FileNotFoundError):
                await call.heard(timeout=10)
        finally:
            await self.ear.stop()
        if self.callback_requested or self.perhaps_booked:
            await self._wait_callback()
        return self._record(placed, ended, hung_up_by, where)

    async def _follow_line(self, call: LabCall) -> tuple[HungUpBy, str | None]:
        """Act on what is heard until the line ends the call or the caller does; who hung up, and
        where the caller did."""
        hung_up_by, where = HungUpBy.ENGINE, None
        try:
            await asyncio.wait_for(self._until_line_ends(), self.kit.max_call_s)
            if not call.ended:
                await call.wait_ended(self.kit.max_call_s)
        except _Hangup as stop:
            hung_up_by, where = HungUpBy.CALLER, stop.state
        except CallerHungUp:
            pass  # the line ended the call while the caller was acting
        except TimeoutError:
            hung_up_by, where = HungUpBy.CALLER, f"{self.state}:gave-up"
        if hung_up_by == HungUpBy.CALLER and not call.ended:
            try:
                await call.hangup()
            except CallerHungUp:
                pass
            except (AriError, AriUnavailable) as exc:  # the carrier's own ARI, slow under load:
                # the call ends when the line ends it (full run 4: one such timeout, uncaught, ended
                # the whole two-hour soak without a report)
                log.warning("journey %s: the carrier could not hang up (%s)", self.j.name, exc)
        return hung_up_by, where

    # --- the script ----------------------------------------------------------------------------

    async def _until_line_ends(self) -> None:
        """The script, cut short when the line ends the call (a caller waiting to hear something
        stops waiting then: nothing more will come)."""
        assert self.call is not None
        script = asyncio.ensure_future(self._script())
        gone = asyncio.ensure_future(self.call.channel.wait_gone())
        try:
            await asyncio.wait([script, gone], return_when=asyncio.FIRST_COMPLETED)
            if not script.done() and self.ear is not None:
                # The line hung up: what it said last may not be recognised yet (the ear reads
                # every 0.15 s, later on a busy machine): a last read and a moment to react.
                await self.ear.read()
                await asyncio.wait([script], timeout=1.0)
        finally:
            for task in (script, gone):
                if not task.done():
                    task.cancel()
                    with contextlib.suppress(asyncio.CancelledError):
                        await task
                elif not task.cancelled():
                    task.exception()  # seen here when this caller is cancelled with it (run 6's log)
        if not script.cancelled():
            script.result()  # the caller's own hangup (_Hangup) and errors go on up

    async def _script(self) -> None:
        try:
            await self._steps()
        except _HangupLater as later:
            await asyncio.sleep(self.j.hangup_after_s)
            raise _Hangup(later.state) from None

    async def _steps(self) -> None:
        assert self.ear is not None and self.call is not None
        ear, line, j = self.ear, self.kit.line, self.j
        since = 0  # prompts that began before this sample were said before any key of the caller's
        if j.language_key and j.language != self.service:
            # The key works during the welcome and the offers, and only a moment after them
            # (ivr.callflows.language): pressed as soon as the welcome (or one's own offer) is
            # heard, so a recording read late does not put it past that moment.
            offer = named(j.language, line.language_offer, self.service)
            heard = await ear.wait({line.welcome, offer}, timeout=30)
            if heard is not None:
                since = len(ear.audio)
                self.language_press = await self._press(j.language_key, heard)
                self.language_key = j.language_key
        first = await self._first_after(self._all(line.consent) | self._all(line.menu) | {BEEP}, since)
        if first is None:
            return  # no menu: the line said something else; listen to the end
        if first.name == BEEP:  # closed: the line takes a message straight away
            await self._voicemail(beeped=True)
            return
        if self.language_key and language_of(first.name, self.service) != j.language:
            first = await self._asked_again(first)
        self._heard_language(first.name)
        if first.name == self._n(line.consent):
            self.consent_asked = True
            self._enter("consent")
            # Asked again, answered again, as a person does: a standby that resumed the call at
            # the notice lost the key pressed before the takeover and plays the notice anew.
            while first is not None and first.name == self._n(line.consent):
                if j.consent_key:
                    await asyncio.sleep(0.3)
                    self.consent_press = await self._press(j.consent_key, first)
                    self.consent_key = j.consent_key
                first = await ear.wait({self._n(line.menu), self._n(line.consent)}, after=len(ear.heard), timeout=30)
            if first is None:
                return
        self._enter("menu")
        await self._menu()
        await self._after_menu()

    async def _asked_again(self, first: Heard) -> Heard:
        """The line's first question in its own language after the caller's language key: the
        key may reach the line only now, taken at this question (its late window,
        ivr.callflows.language), and the question is then asked again in the chosen language.
        Full run 8's ticket 5298: the caller's ear read the notice as begun after its key (the
        recording read late), took the line for Italian and never heard the English replay the
        line then said; the ticket said English, the caller Italian. The caller listens on for
        the replay a moment before following the line's language."""
        assert self.ear is not None
        base = first.name.partition(":")[2] or first.name
        again = await self.ear.wait(
            named(self.j.language, base, self.service), after=self.ear.heard.index(first) + 1, timeout=REPLAY_WAIT_S
        )
        return again or first

    async def _menu(self) -> None:
        """One key each time the menu is heard: a wrong key brings the menu back (after the
        line says the choice is not valid), and the next key answers that."""
        assert self.ear is not None and self.call is not None
        for n, key in enumerate(self.j.menu_keys):
            if n:
                again = await self.ear.wait(self._n(self.kit.line.menu), after=self._mark, timeout=30)
                if again is None:
                    return
            self._mark = len(self.ear.heard)
            await asyncio.sleep(0.3)  # a person reacts once the menu has begun (barge-in takes it)
            await self.call.press(key)
        if self.j.menu_keys:
            self.topic = self.j.topic

    async def _after_menu(self) -> None:
        assert self.ear is not None and self.call is not None
        ear, line, j = self.ear, self.kit.line, self.j
        operators = {n for n in ear.refs if n.startswith(OPERATOR)}
        patience = j.patience_s
        mark = len(ear.heard)
        queue = self._n(line.queue)
        if j.goal == Goal.VOICEMAIL:
            queued = await ear.wait(queue, after=mark, timeout=patience)
            if queued is None:
                return
            self._enter("queue")
            await asyncio.sleep(0.3)
            await self.call.press(line.leave_key)
            await self._voicemail()
            return
        # Waiting: an operator's voice, the queue's notice, the beep (the line sent the caller
        # to voicemail: nobody there, the cap), the callback offer, or the end of the call.
        loop = asyncio.get_running_loop()
        deadline = loop.time() + (patience if j.goal == Goal.ABANDON else self.kit.max_call_s)
        offer = self._n(line.callback_offer)
        while True:
            left = deadline - loop.time()
            if left <= 0:
                raise _Hangup(self.state)  # patience ran out: the caller gives up
            wanted = {queue, BEEP, *operators}
            if j.goal == Goal.CALLBACK:
                wanted.add(offer)
            heard = await ear.wait(wanted, after=mark, timeout=left)
            if heard is None:
                if self.call.ended:
                    # The line ended the call (an Asterisk restart ends them all): the ear says
                    # so at once, without yielding, and asking it again spun the soak's whole
                    # event loop until this caller's patience ran out (finding 10: 3 minutes).
                    return
                continue
            mark = ear.heard.index(heard) + 1
            if heard.name == queue:
                self._enter("queue")
            elif heard.name == offer:
                self.callback_offered = True
                self._enter("queue")
                await asyncio.sleep(0.3)
                await self.call.press(line.callback_key)
                booked, mark = await self._give_number(mark, {queue, BEEP, *operators})
                if booked:
                    return  # the line says so and hangs up
            elif heard.name == BEEP:
                await self._voicemail(beeped=True)
                return
            else:
                break
        self._enter("operator")
        questions = (self._n(q) for q in line.survey_questions)
        survey = await ear.wait({self._n(line.survey_intro), *questions}, after=mark, timeout=self.kit.max_call_s)
        if survey is None:
            return
        self._enter("survey")
        if j.survey_hangup:
            raise _Hangup("survey")
        await self._survey(survey if survey.name == self._n(line.survey_intro) else None)


async def run_journeys(kit: CallerKit, journeys: list[Journey]) -> list[CallRecord]:
    """Each journey placed at its `at_s` after now, all running at once; records in plan order."""

    async def one(j: Journey) -> CallRecord:
        await asyncio.sleep(j.at_s)
        return await SoakCaller(kit, j).run()

    return list(await asyncio.gather(*(one(j) for j in journeys)))
