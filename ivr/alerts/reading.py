"""One reading of the line for the alerts: the distributor's live view (waits, operators) and a
single trip to the store (the last hour's service level, the commitments at risk, the oldest
message nobody has heard)."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Coroutine, Mapping
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import String, and_, cast, exists, func, or_, select
from sqlalchemy.orm import Session

from ivr.alerts.rules import OperatorNow, Reading, Unheard
from ivr.schema.console import AuditEntry
from ivr.schema.tickets import Ticket, Voicemail
from ivr.tickets.config import SlaSettings
from ivr.tickets.repository import Repository
from ivr.tickets.sla import at_risk

UNHEARD_WINDOW = timedelta(days=30)  # older messages belong to the retention and second-level reports
LISTENED = ("voicemail_listen", "voicemail_download")


def hour_level(session: Session, now: datetime, days: tuple[date, date], level_s: float) -> tuple[int, int]:
    """Calls admitted in the hour before `now` whose wait is over, or has already outlasted the
    service level's seconds (a wait still going past the target is a miss already), and those
    answered within it."""
    since = now - timedelta(hours=1)
    judged = or_(Ticket.queue_result.is_not(None), Ticket.queued_at <= now - timedelta(seconds=level_s))
    in_level = and_(Ticket.queue_result == "answered", Ticket.wait_s <= level_s)
    admitted, answered = session.execute(
        select(func.count(), func.count().filter(in_level)).where(
            Ticket.local_day.in_(days), Ticket.queued_at >= since, Ticket.queued_at <= now, judged
        )
    ).one()
    return int(admitted), int(answered)


def oldest_unheard(session: Session, now: datetime) -> Unheard | None:
    """The oldest message with audio whose ticket nobody has taken and nobody has listened to."""
    heard = exists().where(
        AuditEntry.object_kind == "voicemail",
        AuditEntry.object_id == cast(Voicemail.id, String),
        AuditEntry.action.in_(LISTENED),
    )
    row = session.execute(
        select(Voicemail.ticket_id, Voicemail.created_at)
        .join(Ticket, Ticket.id == Voicemail.ticket_id)
        .where(
            Voicemail.created_at >= now - UNHEARD_WINDOW,
            Voicemail.recording_id.is_not(None),
            Voicemail.empty.is_(False),
            or_(Ticket.status.is_(None), Ticket.status == "new"),
            ~heard,
        )
        .order_by(Voicemail.created_at)
        .limit(1)
    ).first()
    if row is None:
        return None
    return Unheard(int(row[0]), max(0.0, (now - row[1]).total_seconds()))


class AlertFigures(Repository):
    async def read(
        self, now: datetime, days: tuple[date, date], level_s: float, sla: SlaSettings
    ) -> tuple[tuple[int, int], dict[str, tuple[int, int]], Unheard | None]:
        def fn(session: Session) -> tuple[tuple[int, int], dict[str, tuple[int, int]], Unheard | None]:
            return hour_level(session, now, days, level_s), at_risk(session, now, sla), oldest_unheard(session, now)

        return await self._read(fn)


StoreShare = tuple[int, tuple[int, int], dict[str, tuple[int, int]], Unheard | None]
STORE_EVERY_S = 10.0  # the store's figures move slowly: read this often, beside the live ones


def reader(
    figures: AlertFigures,
    snapshot: Callable[[], Mapping[str, Any]],
    admitted: Callable[[datetime], Awaitable[int]],
    cap: int,
    now: Callable[[], datetime],
    local_day: Callable[[datetime], date],
    level_s: float,
    sla: SlaSettings,
    *,
    spawn: Callable[[Coroutine[Any, Any, None]], object] | None = None,
    monotonic: Callable[[], float] = time.monotonic,
    store_every_s: float = STORE_EVERY_S,
) -> Callable[[], Awaitable[Reading]]:
    """The watch's reading, from the parts the wiring hands over (`ivr.factories`). The live
    share (waits, operators) is read at every check; the store's share (the cap's count, the last
    hour's service level, commitments, the oldest unheard message) every `store_every_s`, in the
    background (`spawn`; awaited when not given), so a slow or absent database never delays a
    wait alert: its last figures stand meanwhile, marked stale while it fails."""
    state: dict[str, Any] = {"share": None, "at": None, "busy": False, "stale": None}

    async def fetch() -> None:
        at = now()
        days = (local_day(at - timedelta(hours=1)), local_day(at))
        try:
            count = await admitted(at)
            level, risk, unheard = await figures.read(at, days, level_s, sla)
            state["share"], state["stale"] = (count, level, risk, unheard), None
        except Exception as exc:  # the database away: the live figures go on, the stored ones wait
            state["stale"] = str(exc) or type(exc).__name__
        finally:
            state["at"], state["busy"] = monotonic(), False

    async def read() -> Reading:
        due = state["at"] is None or monotonic() - state["at"] >= store_every_s
        if due and not state["busy"]:
            state["busy"] = True
            if spawn is None or state["share"] is None:  # the first reading waits for its figures
                await fetch()
            else:
                spawn(fetch())
        at = now()
        snap = snapshot()
        share: StoreShare = state["share"] or (0, (0, 0), {}, None)
        count, (hour_admitted, hour_in_level), risk, unheard = share
        return Reading(
            at=at,
            longest_wait_s=float(snap.get("longest_wait_s", 0.0)),
            operators=[
                OperatorNow(o["login"], o.get("name") or "", o["state"], float(o["since_s"]), o.get("reason"))
                for o in snap.get("operators", [])
            ],
            admitted=count,
            cap=cap,
            hour_admitted=hour_admitted,
            hour_in_level=hour_in_level,
            commitments=risk,
            unheard=unheard,
            store_stale=state["stale"],
        )

    return read
