"""Handlers of the basic node types. Feature packages (queue, voicemail...) add their own.

The naming rule (ARCHITECTURE.md): a node type's handler is named for it, `<type>_step` when it
is a function that needs only the call, `<Type>Step` when it is a class the wiring builds once
with its collaborators; both are called as `handler(ctx, node)`."""

from __future__ import annotations

from ivr.callflows.language import PlayStep
from ivr.callflows.model import HangupNode, QueueNode, StubNode, VoicemailNode
from ivr.callflows.session import CallContext, NodeHandler
from ivr.schema.tickets import CallOutcome
from ivr.tickets import events


async def hangup_step(ctx: CallContext, node: HangupNode) -> str | None:
    if node.prompt:
        await ctx.say(node.prompt)
    await ctx.channel.hangup()
    return None


async def stub_step(ctx: CallContext, node: StubNode) -> str | None:
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


# A line without other languages: the wiring builds "play" with the line's languages instead.
BASIC_HANDLERS: dict[str, NodeHandler] = {
    "play": PlayStep({}),
    "hangup": hangup_step,
    "stub": stub_step,
}
