"""The `consent` node: the recording notice of a quality campaign, and the caller's answer.

The charter: calls may be recorded during quality campaigns, always announced beforehand. The
answer, its time and the exact notice heard (prompt name, text version and a hash of the audio)
are stored on the ticket as evidence. No campaign, no notice, and nothing may be recorded.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from functools import partial
from typing import Protocol
from zoneinfo import ZoneInfo

from ivr.callflows.keys import answer, settle
from ivr.callflows.language import keys_before, late_language
from ivr.callflows.model import ConsentNode
from ivr.callflows.session import CallContext
from ivr.hours.config import CampaignConfig
from ivr.prompts.library import PromptLibrary
from ivr.tickets import events
from ivr.tickets.status import Consent

ACCEPTED, REFUSED, NO_ANSWER = Consent.ACCEPTED, Consent.REFUSED, Consent.NO_ANSWER


class CampaignSource(Protocol):
    """Campaigns set at run time (the console), beside the configured ones."""

    async def active(self, day: date) -> CampaignConfig | None: ...


class ConsentStep:
    def __init__(
        self,
        campaigns: Sequence[CampaignConfig],
        tz: ZoneInfo,
        prompts: PromptLibrary,
        runtime: CampaignSource | None = None,
    ) -> None:
        self.campaigns = list(campaigns)
        self.tz = tz
        self.prompts = prompts
        self.runtime = runtime

    def active(self, ctx: CallContext) -> CampaignConfig | None:
        today = ctx.clock.now().astimezone(self.tz).date()
        return next((c for c in self.campaigns if c.active_on(today)), None)

    async def __call__(self, ctx: CallContext, node: ConsentNode) -> str:
        if ctx.facts.resumed and ctx.consent is not None:
            # Answered before a takeover (full run 11, ticket 491): asked again, a caller who had
            # said yes kept quiet and the ticket ended "no answer". The stored answer stands.
            return node.next
        campaign = self.active(ctx)
        if campaign is None and self.runtime is not None:
            campaign = await self.runtime.active(ctx.clock.now().astimezone(self.tz).date())
        if campaign is None:
            return node.next
        evidence = self.prompts.evidence(campaign.notice_prompt)
        ctx.facts.campaign = campaign.id
        await ctx.store.update(ctx.ticket_id, campaign=campaign.id, consent_prompt=evidence)
        ctx.facts.take_typed_ahead()  # the answer to the notice comes after hearing it
        await keys_before(ctx)
        choice: Consent = NO_ANSWER
        key: str | None = None
        for attempt in range(1, node.attempts + 1):
            key = await answer(
                ctx.channel,
                partial(ctx.say, campaign.notice_prompt, interruptible=True),
                node.timeout_s,
                ctx.clock.monotonic,
            )
            if key is None:
                break  # no answer counts as a refusal: nothing will be recorded
            if key == node.accept_key:
                choice = ACCEPTED
                break
            if key == node.refuse_key:
                choice = REFUSED
                break
            if await late_language(ctx, key):
                return await self(ctx, node)  # the notice again, in the language just chosen
            await ctx.event(events.consent_invalid(key, attempt))
            if attempt < node.attempts and node.invalid_prompt:
                await ctx.say(node.invalid_prompt)
            await settle(ctx.channel)  # the rest of a burst of keys does not answer the next notice
        ctx.consent = choice
        answered_at = ctx.clock.now()
        await ctx.store.update(ctx.ticket_id, consent=choice, consent_at=answered_at)
        await ctx.event(events.consent(choice, key, campaign.id, evidence))
        reply = node.accepted_prompt if choice == ACCEPTED else node.refused_prompt
        if reply:
            await ctx.say(reply)
        return node.next
