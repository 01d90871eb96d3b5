"""The `menu` node: who is calling, by key; re-prompts, repeats and a default route."""

from __future__ import annotations

from ivr.callflows.keys import collect, is_complete_choice, settle
from ivr.callflows.language import late_language
from ivr.callflows.model import MenuNode, MenuOption
from ivr.callflows.session import CallContext
from ivr.tickets import events
from ivr.tickets.events import EventKind


async def menu_step(ctx: CallContext, node: MenuNode) -> str:
    if not node.type_ahead:
        ctx.channel.clear_digits()
    keys = list(node.options) + ([node.repeat_key] if node.repeat_key else [])
    complete = is_complete_choice(keys)
    max_len = max(len(k) for k in keys)
    failures = repeats = 0
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
        if entry is not None and entry in node.options:
            return await _chosen(ctx, node.options[entry], entry, EventKind.MENU_CHOICE)
        if entry is not None and entry == node.repeat_key:
            repeats += 1
            await ctx.event(events.menu_repeat(repeats))
            if repeats > node.max_repeats:
                return await _chosen(ctx, node.default, None, EventKind.MENU_DEFAULT, why="too many repeats")
            prompt = node.prompt
            continue
        if await late_language(ctx, entry):
            prompt = node.prompt  # the menu again, in the language just chosen
            continue
        failures += 1
        failed = events.menu_failed(entry, failures)
        await ctx.event(failed)
        if failures >= node.max_attempts:
            return await _chosen(ctx, node.default, None, EventKind.MENU_DEFAULT, why=failed.kind)
        if entry is None:
            prompt = node.timeout_prompt
            continue
        await ctx.say(node.invalid_prompt)  # heard whole: it explains why the menu comes again
        await settle(ctx.channel)
        prompt = node.prompt


async def _chosen(
    ctx: CallContext, option: MenuOption, key: str | None, kind: EventKind, why: str | None = None
) -> str:
    if option.topic:
        ctx.topic = option.topic
        await ctx.store.update(ctx.ticket_id, topic=option.topic)
    await ctx.event(events.menu_routed(kind, option.next, key=key, topic=option.topic, why=why))
    return option.next
