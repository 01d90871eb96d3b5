"""The `menu` node: who is calling, by key; re-prompts, repeats and a default route.

No caller is stuck in it: one whose keys never arrive (a rotary phone, a line that drops DTMF, a
caller in a car) is put through after `silent_attempts` rounds of silence and told so, and
`operator_key` reaches an operator from any menu that has one. With `type_ahead`, a choice typed
during the welcome (`CallFacts.typed_ahead`, a caller who knows the line) is taken without the
menu; without it (the shipped flow) a key pressed before the menu was offered is no choice.
"""

from __future__ import annotations

from ivr.callflows.keys import collect, is_complete_choice, settle
from ivr.callflows.language import keys_before, late_language
from ivr.callflows.model import MenuNode, MenuOption
from ivr.callflows.session import CallContext
from ivr.tickets import events
from ivr.tickets.events import EventKind


async def menu_step(ctx: CallContext, node: MenuNode) -> str:
    typed = ctx.facts.take_typed_ahead()
    if not node.type_ahead:  # a key pressed before the menu was offered is no choice
        typed = ""
        await keys_before(ctx)
    keys = list(node.options) + [k for k in (node.repeat_key, node.operator_key) if k]
    if typed and (routed := _routed_by(node, typed)) is not None:
        return await _chosen(ctx, routed, typed, EventKind.MENU_CHOICE)
    complete = is_complete_choice(keys)
    max_len = max(len(k) for k in keys)
    failures = silences = repeats = 0
    prompt = node.prompt
    while True:
        # Barge-in: a key stops the prompt (and any key already typed skips it).
        if prompt != node.prompt:
            await ctx.say(prompt, node.prompt, interruptible=True)
        else:
            await ctx.say(prompt, interruptible=True)
        entry = await collect(
            ctx.channel,
            max_len=max_len,
            first_timeout=node.first_digit_timeout_s,
            inter_timeout=node.inter_digit_timeout_s,
            total_timeout=node.total_timeout_s,
            complete=complete,
            monotonic=ctx.clock.monotonic,
        )
        if entry is not None and (routed := _routed_by(node, entry)) is not None:
            return await _chosen(ctx, routed, entry, EventKind.MENU_CHOICE)
        if entry is not None and entry == node.repeat_key:
            repeats += 1
            await ctx.event(events.menu_repeat(repeats))
            if repeats > node.max_repeats:
                return await _default(ctx, node, "too many repeats")
            prompt = node.prompt
            continue
        if await late_language(ctx, entry):
            prompt = node.prompt  # the menu again, in the language just chosen
            continue
        failures += 1
        silences += entry is None
        failed = events.menu_failed(entry, failures)
        await ctx.event(failed)
        if failures >= node.max_attempts or (entry is None and silences >= (node.silent_attempts or failures + 1)):
            return await _default(ctx, node, failed.kind)
        if entry is None:
            prompt = node.timeout_prompt
            continue
        await ctx.say(node.invalid_prompt)  # heard whole: it explains why the menu comes again
        await settle(ctx.channel)
        prompt = node.prompt


def _routed_by(node: MenuNode, entry: str) -> MenuOption | None:
    if entry in node.options:
        return node.options[entry]
    if node.operator_key is not None and entry == node.operator_key:
        return node.operator or node.default
    return None


async def _default(ctx: CallContext, node: MenuNode, why: str) -> str:
    if node.default_prompt:
        await ctx.say(node.default_prompt)  # the caller who gave no choice hears where they go
    return await _chosen(ctx, node.default, None, EventKind.MENU_DEFAULT, why=why)


async def _chosen(
    ctx: CallContext, option: MenuOption, key: str | None, kind: EventKind, why: str | None = None
) -> str:
    if option.topic:
        ctx.topic = option.topic
        await ctx.store.update(ctx.ticket_id, topic=option.topic)
    await ctx.event(events.menu_routed(kind, option.next, key=key, topic=option.topic, why=why))
    return option.next
