"""What to do with each call found alive after an engine restart: decided from facts alone.

The planner reads the call's ticket (its last state, queue result, timeline) and what the PBX
shows (the bridge the caller is in, the operators' legs found in the app) and says what the
executor (ivr.callflows.recovery) must do: serve it as a new call, hang up a call whose end was
already recorded, let a conversation go on in its bridge, resume the call at a node with the
facts that node needs, or close its ticket as lost. No I/O here, so every case is a table row
in tests/unit/test_recovery.py.
"""

from __future__ import annotations

import enum
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass

from ivr.callflows.facts import CallFacts
from ivr.callflows.model import Flow, QueueNode, VoicemailNode
from ivr.callflows.session import Resume
from ivr.callflows.states import CallState
from ivr.telephony.ports import BridgeInfo
from ivr.tickets.events import MESSAGE_ENDS, RECORDING_ENDS, EventKind
from ivr.tickets.status import QueueResult, VoicemailReason, not_served_reason
from ivr.tickets.store import TicketView

LOST_ON_RESTART = "lost_on_restart"  # alive, but nowhere to go on from: closed as a failure
LOST_WHILE_DOWN = "lost_while_engine_down"  # ended while no engine watched
OUR_BRIDGES = "call-"  # the name prefix of the bridges the engine makes for conversations
SUPERVISION_BRIDGES = "supervise-"  # and for a supervisor on a conversation (ivr.supervision)
BRIDGE_NAME_MAX = 60  # kept short: Asterisk shows it in every listing


def conversation_bridge(call_id: str) -> str:
    """The name of the bridge a call talks in: it says whose it is, so a sweep for leftovers
    can tell a conversation being set up (no channel in it yet) from one left behind."""
    return f"{OUR_BRIDGES}{call_id}"[:BRIDGE_NAME_MAX]


def supervision_bridge(ticket_id: int, session: int) -> str:
    """A supervisor's phone and their snoop talk here; never a served call's, so a sweep after a
    restart removes it once its channels are gone."""
    return f"{SUPERVISION_BRIDGES}{ticket_id}-{session}"


class Action(enum.StrEnum):
    NEW_CALL = "new_call"  # no ticket: it entered the app while nobody listened
    HANG_UP = "hang_up"  # its end was recorded, only the hangup was missed
    REJOIN = "rejoin"  # still talking with the operator, in the same bridge
    RESUME = "resume"  # goes on from a node of the flow
    CLOSE_LOST = "close_lost"  # nowhere to go on from: hung up, ticket closed as a failure


@dataclass(frozen=True)
class RejoinTarget:
    """The conversation to go on with: its bridge, the operator's legs found in it (the first
    one still free is taken), who the operator is, and the recording running on the bridge."""

    bridge_id: str
    leg_ids: tuple[str, ...]
    operator_id: int
    recording: str | None


@dataclass(frozen=True)
class CallPlan:
    action: Action
    resume: Resume | None = None  # RESUME: where and with which facts
    rejoin: RejoinTarget | None = None  # REJOIN
    otherwise: CallPlan | None = None  # REJOIN: what to do if the operator cannot be taken back
    leave_bridge: str | None = None  # the bridge to take the caller out of first (its operator left)
    reason: str | None = None  # CLOSE_LOST: the ticket's end reason


def plan_call(
    flow: Flow,
    channel_id: str,
    ticket: TicketView | None,
    bridge: BridgeInfo | None,
    operator_legs: Collection[str],
) -> CallPlan:
    """What to do with the caller's channel `channel_id`, found alive after a restart.

    `bridge`: the bridge the channel is in, if any; `operator_legs`: ids of the operators'
    legs found in the app (a conversation goes on only if one of them is in the same bridge)."""
    if ticket is None:
        return CallPlan(Action.NEW_CALL)
    if not ticket.open:
        return CallPlan(Action.HANG_UP)
    state, _, node = (ticket.last_state or "").partition(":")
    leave = bridge.id if bridge is not None else None
    resume = resume_point(flow, ticket, state, node)
    if resume is None:
        fallback = CallPlan(Action.CLOSE_LOST, leave_bridge=leave, reason=LOST_ON_RESTART)
    else:
        fallback = CallPlan(Action.RESUME, resume=resume, leave_bridge=leave)
    target = _rejoin_target(flow, ticket, node, bridge, channel_id, operator_legs)
    if target is not None:
        return CallPlan(Action.REJOIN, rejoin=target, otherwise=fallback)
    return fallback


def _rejoin_target(
    flow: Flow,
    ticket: TicketView,
    node: str,
    bridge: BridgeInfo | None,
    channel_id: str,
    operator_legs: Collection[str],
) -> RejoinTarget | None:
    if bridge is None or ticket.operator_id is None or not isinstance(flow.nodes.get(node), QueueNode):
        return None
    legs = tuple(c for c in bridge.channels if c != channel_id and c in operator_legs)
    if not legs:
        return None
    return RejoinTarget(bridge.id, legs, ticket.operator_id, recording_left(ticket))


def recording_left(ticket: TicketView) -> str | None:
    """The conversation recording started on the ticket and neither kept nor failed: a call that
    does not rejoin its conversation never reaches the step that keeps it, so recovery must."""
    return pending(ticket, EventKind.RECORDING_STARTED, RECORDING_ENDS)


def resume_point(flow: Flow, ticket: TicketView, state: str, node: str) -> Resume | None:
    """The node to go on from, and what it must know. Why a caller leaves a message is read
    back from the ticket's queue result, whether the engine died in the queue or in the
    voicemail node after it."""
    if state in ("", CallState.STARTED):
        # Opened, perhaps answered, before the flow's first step (full run 7: an engine frozen or
        # killed within a second of answering): the caller has heard nothing yet, so the call is
        # served from the start rather than hung up on; the session answers it if need be.
        return Resume(ticket, flow.start, CallFacts())
    current = flow.nodes.get(node)
    reason = not_served_reason(ticket.queue_result)
    if isinstance(current, QueueNode):
        if ticket.queue_result == QueueResult.WAITING:
            return Resume(ticket, node, CallFacts(resumed=True, admitted=True))
        if ticket.queue_result == QueueResult.ANSWERED:  # the operator left while nobody watched
            target = current.next or current.fallback
            return Resume(ticket, target, CallFacts(resumed=True, operator_id=ticket.operator_id))
        return Resume(ticket, current.fallback, CallFacts(resumed=True, voicemail_reason=reason))
    if state == CallState.VOICEMAIL and current is not None:
        facts = CallFacts(
            resumed=True,
            voicemail_reason=reason,
            resume_message=saved_message(ticket),
            resume_recording=pending(ticket, EventKind.VOICEMAIL_RECORDING, MESSAGE_ENDS),
        )
        return Resume(ticket, node, facts)
    if state == CallState.SURVEY and current is not None:
        return Resume(ticket, node, CallFacts(resumed=True, operator_id=ticket.operator_id))
    if current is not None and state not in (CallState.HANGUP, CallState.STUB, CallState.ENDED):
        return Resume(ticket, node, CallFacts(resumed=True))
    return None


def idle_bridges(bridges: Iterable[BridgeInfo], in_use: Collection[str]) -> list[str]:
    """Bridges are not destroyed by the PBX on their own: the engine's with fewer than two
    channels, none of them a call this process is serving, are leftovers. A bridge named for a
    call served here is that call's own (it may be empty for a moment while being set up)."""
    served = set(in_use)
    theirs = {conversation_bridge(call) for call in served}
    return [
        b.id
        for b in bridges
        if b.name.startswith((OUR_BRIDGES, SUPERVISION_BRIDGES))
        and b.name not in theirs
        and len(b.channels) < 2
        and not set(b.channels) & served
    ]


def lost_tickets(open_calls: Sequence[TicketView], live: Collection[str], serving: Collection[str]) -> list[TicketView]:
    """Open call tickets whose channel is neither alive in the PBX nor served here: the call
    ended while no engine watched."""
    return [t for t in open_calls if t.call_uid not in live and t.call_uid not in serving]


@dataclass(frozen=True)
class LostMessage:
    """A message being recorded when the engine died, its caller gone before another engine
    watched: Asterisk finished the recording when the caller hung up (or pressed #)."""

    name: str
    box: str
    reason: VoicemailReason


def message_left_while_down(flow: Flow, ticket: TicketView, found: str | None = None) -> LostMessage | None:
    """The message of a call that ended while no engine watched: the one its ticket names, or
    `found`, one Asterisk holds under the ticket's name when the store never heard of it."""
    name = pending(ticket, EventKind.VOICEMAIL_RECORDING, MESSAGE_ENDS) or found
    if name is None:
        return None
    node = flow.nodes.get((ticket.last_state or "").partition(":")[2])
    reason = not_served_reason(ticket.queue_result) or (
        node.reason if isinstance(node, VoicemailNode) else VoicemailReason.CALLER_CHOICE
    )
    return LostMessage(name, ticket.topic or "general", reason)


def in_voicemail(ticket: TicketView) -> bool:
    """The call was last in a voicemail node, with no message saved for it yet."""
    saved = any(e.kind == EventKind.VOICEMAIL_LEFT for e in ticket.events)
    return (ticket.last_state or "").startswith("voicemail:") and not saved


def unnamed_message(ticket_id: int, stored: Iterable[str]) -> str | None:
    """A message Asterisk holds for the ticket whose name never reached the store (full run 11,
    ticket 2658: the engine froze 16 s into the message, its writes went with its lease, and the
    caller's 8 s were left on Asterisk while the ticket closed as lost). Messages are named
    `vm-<ticket>-<random>`; the last in name order when there are several (one call, one box)."""
    mine = sorted(n for n in stored if n.startswith(f"vm-{ticket_id}-"))
    return mine[-1] if mine else None


def pending(ticket: TicketView, started: EventKind, finished: Collection[EventKind]) -> str | None:
    """The name in the last `started` event when no `finished` event after it says the work ended."""
    name: str | None = None
    for event in ticket.events:
        if event.kind == started and event.detail and isinstance(event.detail.get("name"), str):
            name = event.detail["name"]
        elif event.kind in finished:
            name = None
    return name


def saved_message(ticket: TicketView) -> int | None:
    """The message already saved for this call whose callback number is still to be asked."""
    message: int | None = None
    for event in ticket.events:
        if event.kind == EventKind.VOICEMAIL_LEFT and event.detail and isinstance(event.detail.get("message"), int):
            message = event.detail["message"]
        elif event.kind == EventKind.CALLBACK_NUMBER:
            message = None
    return message
