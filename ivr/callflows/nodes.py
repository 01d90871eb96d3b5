"""Handlers of the basic node types. Feature packages (queue, voicemail...) add their own."""

from __future__ import annotations

from ivr.callflows.model import HangupNode, PlayNode, QueueNode, StubNode, VoicemailNode
from ivr.callflows.session import CallContext, NodeHandler
from ivr.schema.tickets import CallOutcome
from ivr.tickets import events


async def play(ctx: CallContext, node: PlayNode) -> str | None:
    await ctx.say(node.prompt, interruptible=node.interruptible)
    return node.next


async def hangup(ctx: CallContext, node: HangupNode) -> str | None:
    if node.prompt:
        await ctx.say(node.prompt)
    await ctx.channel.hangup()
    return None


async def stub(ctx: CallContext, node: StubNode) -> str | None:
    """A route to something not built yet: visible on the ticket, never a silent success."""
    ctx.destination = f"{node.destination}(stub)"
    ctx.outcome = CallOutcome.STUB
    ctx.end_reason = f"stub:{node.destination}"
    await ctx.event(events.stub_reached(node.destination))
    if node.prompt:
        await ctx.say(node.prompt)
    return node.next


def route_stub(destination: str) -> NodeHandler:
    """A route (queue, voicemail) that is not built yet: the caller is told the service is not
    available and the ticket says `stub`, with the topic and reason that led there."""

    async def handler(ctx: CallContext, node: QueueNode | VoicemailNode) -> str | None:
        reason = ctx.facts.voicemail_reason or getattr(node, "reason", None)
        detail = f"{destination}:{reason}" if isinstance(node, VoicemailNode) else destination
        ctx.destination = f"{destination}(stub)"
        ctx.outcome = CallOutcome.STUB
        ctx.end_reason = f"stub:{detail}"
        await ctx.event(events.route_stub_reached(detail, ctx.topic))
        await ctx.say("route_unavailable")
        return None

    return handler


BASIC_HANDLERS: dict[str, NodeHandler] = {
    "play": play,
    "hangup": hangup,
    "stub": stub,
}
