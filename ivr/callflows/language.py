"""The `play` node, and the language offer after the welcome.

With `languages: true` the node says its prompt, then each other language offers itself in its
own words ("For English, press 9"). The key counts whether pressed during the welcome or the
offer, or a moment after, so a caller who knows the line need not wait, and one who does not
needs only a second. The choice switches the whole call: every later prompt, digits and counts
read back, the operator (one with that language among their skills), the ticket and statistics.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from ivr.callflows.model import PlayNode
from ivr.callflows.session import CallContext
from ivr.prompts.library import PromptLibrary
from ivr.tickets import events

GRACE_S = 1.0  # after the offer, how long a key is still waited for


@dataclass(frozen=True)
class Language:
    code: str
    key: str
    prompts: PromptLibrary


class PlayStep:
    def __init__(self, languages: Mapping[str, Language], grace_s: float = GRACE_S) -> None:
        self.languages = dict(languages)
        self.grace_s = grace_s

    async def __call__(self, ctx: CallContext, node: PlayNode) -> str | None:
        await ctx.say(node.prompt, interruptible=node.interruptible)
        if not node.languages or not self.languages or ctx.language is not None:
            return node.next
        offers = list(self.languages.values())
        names = ["language_offer"] * len(offers)
        await ctx.play_media([lang.prompts.media("language_offer") for lang in offers], names)
        chosen = await self._chosen(ctx)
        if chosen is not None:
            ctx.language, ctx.prompts = chosen.code, chosen.prompts
            await ctx.store.update(ctx.ticket_id, language=chosen.code)
            await ctx.event(events.language(chosen.code))
            await ctx.say(node.prompt)  # the welcome again, now in the caller's language
        return node.next

    async def _chosen(self, ctx: CallContext) -> Language | None:
        by_key = {lang.key: lang for lang in self.languages.values()}
        while (key := await ctx.channel.next_digit(0)) is not None:  # pressed during the prompts
            if key in by_key:
                return by_key[key]
        key = await ctx.channel.next_digit(self.grace_s)
        return by_key.get(key) if key is not None else None
