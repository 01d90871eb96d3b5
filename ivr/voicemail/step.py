"""The `voicemail` node: greeting for the reason, beep, the message, the callback number.

A hangup at any point keeps what was said: the message is saved and the ticket goes to the
second level with a callback due; the number falls back to the caller id.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import replace

from ivr.callflows.dialogues import ask_callback_number, usable
from ivr.callflows.facts import CallbackNumber
from ivr.callflows.model import VoicemailNode
from ivr.callflows.session import CallContext
from ivr.dialout.config import DialoutSettings
from ivr.schema.tickets import CallOutcome
from ivr.telephony.errors import AriError, AriUnavailable, CallerHungUp, NotFound
from ivr.telephony.ports import RecordingResult
from ivr.tickets import events
from ivr.tickets.status import VoicemailReason
from ivr.voicemail.config import VoicemailSettings
from ivr.voicemail.service import Kept, VoicemailService

log = logging.getLogger(__name__)

GREETINGS = {
    VoicemailReason.CLOSED: "vm_greeting_closed",
    VoicemailReason.CAP: "vm_greeting_cap",
    VoicemailReason.CALLER_CHOICE: "vm_greeting_caller_choice",
}


class VoicemailStep:
    def __init__(
        self, service: VoicemailService, settings: VoicemailSettings, dialout: DialoutSettings | None = None
    ) -> None:
        self.service = service
        self.settings = settings
        self.dialout = dialout or DialoutSettings()

    async def __call__(self, ctx: CallContext, node: VoicemailNode) -> str | None:
        reason = ctx.facts.voicemail_reason or node.reason
        box = ctx.topic or "general"
        ctx.destination = f"voicemail:{box}"
        saved = ctx.facts.take_resume_message()
        if saved is not None:  # saved before an engine restart: only the number is missing
            message_id, ended_by = saved, "resumed"
        else:
            name, result = await self._message(ctx, reason)
            message_id, ended_by = await self._save(ctx, name, result, box, reason), result.ended_by
        number = CallbackNumber(usable(ctx.channel.caller.number, self.settings, self.dialout), "caller_id")
        if number.number is None:
            number = CallbackNumber(None, "none")
        if ended_by != "hangup":
            try:
                await ctx.say("vm_saved")
                number = await ask_callback_number(ctx, self.settings, self.dialout)
                await ctx.say("vm_thanks")
            except CallerHungUp:
                number = ctx.facts.callback or number
        await ctx.store.execute(
            "voicemail.set_callback", message_id=message_id, number=number.number, source=number.source
        )
        await ctx.event(events.callback_number(number.source, number.number is not None))
        ctx.outcome, ctx.end_reason = CallOutcome.VOICEMAIL, f"voicemail:{reason}"
        self.service.submit(message_id)
        return node.next

    async def _message(self, ctx: CallContext, reason: VoicemailReason) -> tuple[str, RecordingResult]:
        """Greeting, beep, the caller's message; or, after an engine restart in the middle of
        it, what Asterisk has recorded so far."""
        interrupted = ctx.facts.take_resume_recording()
        if interrupted is None and ctx.facts.resumed:
            interrupted = await self._left_on_channel(ctx)
        if interrupted is not None and await ctx.channel.recording_known(interrupted):
            return interrupted, await ctx.channel.stop_recording(interrupted)
        if interrupted is not None:
            # Named, never started: the engine before was fenced between naming it and starting
            # it (full run 11, ticket 479: the caller spoke 20 s to nobody, the message had no
            # audio). The caller is asked again, into a recording that exists.
            log.warning("ticket %s: message %s was never started; recording a new one", ctx.ticket_id, interrupted)
        if ctx.facts.resumed:
            await ctx.say("call_interrupted")
        await ctx.say(GREETINGS.get(reason, "vm_greeting_busy"), "vm_record_instructions")
        name = f"vm-{ctx.ticket_id}-{uuid.uuid4().hex[:8]}"
        await ctx.event(events.voicemail_recording(name))  # findable after a restart
        ctx.channel.clear_digits()
        started = ctx.clock.monotonic()
        result = await ctx.channel.record(
            name,
            max_s=self.settings.max_message_s,
            max_silence_s=self.settings.max_silence_s,
            terminate_on="#",
            beep=True,
        )
        if result.ended_by == "hangup" and not result.duration_s:  # Asterisk says no length after a hangup
            result = replace(result, duration_s=round(ctx.clock.monotonic() - started, 2))
        return name, result

    async def _left_on_channel(self, ctx: CallContext) -> str | None:
        """A message the engine before started and died before the store heard of it (full run
        7, ticket 6604: killed 0.2 s after the beep, the caller spoke 32 s into a recording the
        next engine did not know of, whose greeting then never started behind it). Asterisk's
        channel names it (under the ticket id it had then, provisional during an outage)."""
        name = await ctx.channel.recording_left()
        if name is None or not name.startswith("vm-"):
            return None
        log.warning("ticket %s: message %s started by the engine before, kept from where it was", ctx.ticket_id, name)
        await ctx.event(events.voicemail_recording(name))
        return name

    async def _save(
        self, ctx: CallContext, name: str, result: RecordingResult, box: str, reason: VoicemailReason
    ) -> int:
        """The message row at once; the audio fetched now if possible, else by the retry job."""
        kept: Kept | None = None
        nothing = False
        try:
            kept = await self.service.keep_audio(name, ctx.ticket_id)
        except NotFound as exc:
            # A caller gone at the beep: Asterisk keeps no file for a recording that short, and the
            # message is empty, not lost (full run 4: nineteen fetched three times, marked lost).
            # Not a line that went away under the caller (an Asterisk restart): that audio is lost.
            gone_at_beep = result.ended_by == "hangup" and not ctx.channel.lost
            nothing = gone_at_beep and 0 < result.duration_s < self.settings.min_message_s
            if not nothing:
                log.error("ticket %s: voicemail %s stays on Asterisk for now: %s", ctx.ticket_id, name, exc)
        except (AriError, AriUnavailable, OSError) as exc:
            log.error("ticket %s: voicemail %s stays on Asterisk for now: %s", ctx.ticket_id, name, exc)
        at = ctx.clock.now()
        message_id: int = await ctx.store.execute(
            "voicemail.new_message",
            ticket_id=ctx.ticket_id,
            box=box,
            reason=reason,
            asterisk_name=name,
            recording_id=kept.recording_id if kept else None,
            duration_s=kept.duration_s if kept else result.duration_s,
            speech_s=kept.speech_s if kept else 0.0,
            empty=kept.empty if kept else nothing,
            ended_by=result.ended_by,
            at=at,
        )
        return message_id
