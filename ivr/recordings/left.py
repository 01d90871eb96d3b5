"""A conversation's recording that no engine kept: the engine recording it died between the
conversation's end and keeping it (or while the operator left unwatched), and the engine that
takes the call over goes on elsewhere in the flow, never reaching the queue step that keeps it.
Asterisk still has the recording (it is removed there only once its row is stored), so the
taking-over engine keeps it; one already kept by the dead engine is found instead (the suite's
three-minute soak: ticket 45's engine killed 16 ms after the operator hung up, the recording
started on the timeline and never kept)."""

from __future__ import annotations

import logging

from ivr.clock import Clock
from ivr.recordings.store import RecordingStore
from ivr.telephony.errors import AriError, AriUnavailable, NotFound
from ivr.tickets.events import Event, recording_failed, recording_kept
from ivr.tickets.store import SqlTicketStore

log = logging.getLogger(__name__)


async def keep_left_recording(
    recordings: RecordingStore, store: SqlTicketStore, clock: Clock, fmt: str, ticket_id: int, name: str
) -> None:
    """Keep `name` for the ticket and say so on its timeline, or say why it could not be."""
    try:
        info = await recordings.keep_or_find(name, fmt, ticket_id=ticket_id, kind="call", at=clock.now())
    except NotFound:
        log.error("ticket %s: call recording %s neither on Asterisk nor kept here", ticket_id, name)
        await _record(store, clock, ticket_id, recording_failed(name, "Asterisk no longer has it"))
        return
    except (AriError, AriUnavailable, OSError) as exc:
        log.error("ticket %s: call recording %s not kept: %s", ticket_id, name, exc)
        await _record(store, clock, ticket_id, recording_failed(name, str(exc)))
        return
    log.warning("ticket %s: call recording %s left by the engine that made it, kept", ticket_id, name)
    await _record(store, clock, ticket_id, recording_kept(info.id, info.sha256, round(info.duration_s, 1)))


async def _record(store: SqlTicketStore, clock: Clock, ticket_id: int, event: Event) -> None:
    await store.record(ticket_id, event.kind, clock.now(), event.detail)
