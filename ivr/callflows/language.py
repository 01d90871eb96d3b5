"""The `play` node, and the language offer within the welcome.

With `languages: true` the node says its prompt, then each other language offers itself in its
own words ("For English, press 9"), and the call goes straight on: the offer has no wait of its
own (the menu came 12 s after answering with one). The key counts from the welcome's first word,
and for `LATE_S` after the offer at the next question (the consent notice, the menu), where it
means nothing else. The choice switches the whole call: every later prompt, digits and counts
read back, the operator (one with that language among their skills), the ticket and statistics.
Other keys pressed during the welcome are kept for a menu with `type_ahead` (`CallFacts.typed_ahead`):
a caller who knows the line need not wait for it.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from ivr.callflows.model import PlayNode
from ivr.callflows.session import CallContext
from ivr.prompts.library import PromptLibrary
from ivr.tickets import events

GRACE_S = 0.0  # after the offer, how long the call waits for its key before going on
# After the offer, a language key is still taken at the next question (the consent notice, the
# menu) for this long, where it means nothing else: the question is asked again in that language.
LATE_S = 8.0


class SpokenNotice(Protocol):
    """A service notice in force (ivr.hours.notices.Notice): its id and what Asterisk plays."""

    @property
    def id(self) -> int: ...

    @property
    def media(self) -> str: ...


NoticesNow = Callable[[datetime], Awaitable[Sequence[SpokenNotice]]]


@dataclass(frozen=True)
class Language:
    code: str
    key: str
    prompts: PromptLibrary


class PlayStep:
    def __init__(
        self,
        languages: Mapping[str, Language],
        grace_s: float = GRACE_S,
        late_s: float = LATE_S,
        notices: NoticesNow | None = None,
    ) -> None:
        """`notices`: the service notices in force, said after a node with `notices: true`."""
        self.languages = dict(languages)
        self.grace_s = grace_s
        self.late_s = late_s
        self.notices = notices

    async def __call__(self, ctx: CallContext, node: PlayNode) -> str | None:
        following = await self._play(ctx, node)
        if node.notices and self.notices is not None:
            await self._say_notices(ctx, self.notices)
        return following

    async def _say_notices(self, ctx: CallContext, notices: NoticesNow) -> None:
        """After the welcome (and the language chosen), every notice in force, in the order set;
        on the timeline once said to the end (a caller who hung up during one heard no notice)."""
        current = list(await notices(ctx.clock.now()))
        if not current:
            return
        await ctx.play_media([n.media for n in current], ["notice"] * len(current))
        await ctx.event(events.notice_played([n.id for n in current]))

    async def _play(self, ctx: CallContext, node: PlayNode) -> str | None:
        await ctx.say(node.prompt, interruptible=node.interruptible)
        if not node.languages or not self.languages or ctx.language is not None:
            return node.next
        offers = list(self.languages.values())
        names = ["language_offer"] * len(offers)
        await ctx.play_media([lang.prompts.media("language_offer") for lang in offers], names)
        chosen, typed = await self._chosen(ctx)
        if chosen is not None:
            await _switch(ctx, chosen)
            await ctx.say(node.prompt)  # the welcome again, now in the caller's language
        else:
            ctx.facts.late_key = self._late(ctx)
            ctx.facts.typed_ahead = typed
        return node.next

    def _late(self, ctx: CallContext) -> Callable[[str], Awaitable[bool]]:
        """The offer's key, pressed a moment too late, at the next question: the caller who
        reacts slowly (or whose phone sends keys late) still gets the language they chose."""
        by_key = {lang.key: lang for lang in self.languages.values()}
        deadline = ctx.clock.monotonic() + self.late_s

        async def late(key: str) -> bool:
            chosen = by_key.get(key)
            if chosen is None or ctx.clock.monotonic() > deadline:
                return False
            await _switch(ctx, chosen)
            return True

        return late

    async def _chosen(self, ctx: CallContext) -> tuple[Language | None, str]:
        """The language chosen during the welcome and offers (or the grace after them), and the
        other keys pressed meanwhile, in order."""
        by_key = {lang.key: lang for lang in self.languages.values()}
        typed = ""
        while (key := await ctx.channel.next_digit(0)) is not None:  # pressed during the prompts
            if key in by_key:
                return by_key[key], ""
            typed += key
        if self.grace_s > 0 and not typed:
            key = await ctx.channel.next_digit(self.grace_s)
            if key is not None and key in by_key:
                return by_key[key], ""
            typed = key or ""
        return None, typed


async def _switch(ctx: CallContext, chosen: Language) -> None:
    ctx.language, ctx.prompts = chosen.code, chosen.prompts
    await ctx.store.update(ctx.ticket_id, language=chosen.code)
    await ctx.event(events.language(chosen.code))


async def keys_before(ctx: CallContext) -> None:
    """Drop the keys pressed before a question began (the rest of an earlier answer), except the
    language offer's pressed just after it: that one still switches the call (a key in the moment
    between the offer and the question was lost so)."""
    while (key := await ctx.channel.next_digit(0)) is not None:
        late = ctx.facts.late_key
        if late is not None and await late(key):  # other keys leave its one chance untouched
            ctx.facts.late_key = None
            break
    ctx.channel.clear_digits()


async def late_language(ctx: CallContext, key: str | None) -> bool:
    """Was `key`, wrong at this question, the language offer's, pressed late? Then the language
    is switched and the question should be asked again. One chance: the first wrong key after
    the offer."""
    late, ctx.facts.late_key = ctx.facts.late_key, None
    return late is not None and key is not None and await late(key)
