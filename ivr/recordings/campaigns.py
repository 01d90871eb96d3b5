"""Quality campaigns set at run time (from the console), beside those in config/nul.yaml.

The consent step asks on every call, so the answer is cached for a few seconds: a campaign
started in the console applies to the next calls, and a burst of calls is not a burst of queries.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Callable
from datetime import date, datetime, timedelta

from sqlalchemy import select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from ivr.hours.config import CampaignConfig
from ivr.schema.console import CampaignRow
from ivr.tickets.repository import Database, Repository

log = logging.getLogger(__name__)
CAMPAIGN_ID = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")


class CampaignError(ValueError):
    pass


class RuntimeCampaigns(Repository):
    """The run-time campaigns aggregate, on the ticket store's readers and writer."""

    refusals = (CampaignError,)

    def __init__(self, db: Database, *, ttl_s: float = 3.0, monotonic: Callable[[], float] | None = None) -> None:
        super().__init__(db)
        self._ttl = ttl_s
        self._monotonic = monotonic or (lambda: asyncio.get_running_loop().time())
        self._cached: tuple[float, date, CampaignConfig | None] | None = None
        self._known: CampaignConfig | None = None  # the last campaign found, for an outage

    async def add(
        self,
        campaign_id: str,
        name: str,
        first: date,
        last: date,
        now: datetime,
        *,
        notice_prompt: str = "consent_notice",
        by: str | None = None,
    ) -> CampaignConfig:
        if not CAMPAIGN_ID.match(campaign_id):
            raise CampaignError("sigla: lettere minuscole, cifre, - e _")
        if last < first:
            raise CampaignError("l'ultimo giorno non può precedere il primo")

        def op(session: Session) -> CampaignConfig:
            if session.get(CampaignRow, campaign_id) is not None:
                raise CampaignError(f"la campagna {campaign_id!r} esiste già")
            row = CampaignRow(
                id=campaign_id,
                name=name,
                starts_on=first,
                ends_on=last,
                notice_prompt=notice_prompt,
                created_at=now,
                created_by=by,
            )
            session.add(row)
            session.flush()
            return _config(row)

        config = await self._write(op)
        self._cached = None
        return config

    async def end(self, campaign_id: str, today: date) -> None:
        """End it: yesterday becomes its last day (or it never starts, if still to come)."""

        def op(session: Session) -> None:
            row = session.get(CampaignRow, campaign_id)
            if row is None:
                raise CampaignError(f"nessuna campagna {campaign_id!r}")
            row.ends_on = max(row.starts_on - timedelta(days=1), min(row.ends_on, today - timedelta(days=1)))

        await self._write(op)
        self._cached = self._known = None

    async def all(self) -> list[CampaignConfig]:
        def fn(session: Session) -> list[CampaignConfig]:
            return [_config(r) for r in session.scalars(select(CampaignRow).order_by(CampaignRow.starts_on))]

        return await self._read(fn)

    async def on(self, day: date) -> CampaignConfig | None:
        def fn(session: Session) -> CampaignConfig | None:
            row = session.scalar(
                select(CampaignRow)
                .where(CampaignRow.starts_on <= day, CampaignRow.ends_on >= day)
                .order_by(CampaignRow.starts_on)
                .limit(1)
            )
            return None if row is None else _config(row)

        return await self._read(fn)

    async def active(self, day: date) -> CampaignConfig | None:
        stamp = self._monotonic()
        if self._cached is not None and self._cached[1] == day and stamp - self._cached[0] < self._ttl:
            return self._cached[2]
        try:
            found = await self.on(day)
        except SQLAlchemyError as exc:
            # The database is away (the full soak: 40 calls failed at the consent step): the last
            # campaign known holds for the days it covers; knowing none, nothing is recorded.
            last = self._known
            log.warning("recording campaigns not readable (%s); using the last known", type(exc).__name__)
            return last if last is not None and last.active_on(day) else None
        self._cached = (stamp, day, found)
        if found is not None:
            self._known = found
        return found


def _config(row: CampaignRow) -> CampaignConfig:
    return CampaignConfig.model_validate(
        {"id": row.id, "name": row.name, "from": row.starts_on, "to": row.ends_on, "notice_prompt": row.notice_prompt}
    )
