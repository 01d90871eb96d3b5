"""Quality campaigns set at run time (from the console), beside those in config/nul.yaml.

The consent step asks on every call, so the answer is cached for a few seconds: a campaign
started in the console applies to the next calls, and a burst of calls is not a burst of queries.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Callable
from datetime import date, datetime, timedelta

from sqlalchemy import Engine, select
from sqlalchemy.orm import sessionmaker

from ivr.console.models import CampaignRow
from ivr.hours.config import CampaignConfig

CAMPAIGN_ID = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")


class CampaignError(ValueError):
    pass


class RuntimeCampaigns:
    def __init__(self, engine: Engine, *, ttl_s: float = 3.0, monotonic: Callable[[], float] | None = None) -> None:
        self._sessions = sessionmaker(engine, expire_on_commit=False)
        self._ttl = ttl_s
        self._monotonic = monotonic or (lambda: asyncio.get_running_loop().time())
        self._cached: tuple[float, date, CampaignConfig | None] | None = None

    def add(
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
        with self._sessions.begin() as session:
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
        self._cached = None
        return _config(row)

    def end(self, campaign_id: str, today: date) -> None:
        """End it: yesterday becomes its last day (or it never starts, if still to come)."""
        with self._sessions.begin() as session:
            row = session.get(CampaignRow, campaign_id)
            if row is None:
                raise CampaignError(f"nessuna campagna {campaign_id!r}")
            row.ends_on = max(row.starts_on - timedelta(days=1), min(row.ends_on, today - timedelta(days=1)))
        self._cached = None

    def all(self) -> list[CampaignConfig]:
        with self._sessions() as session:
            return [_config(r) for r in session.scalars(select(CampaignRow).order_by(CampaignRow.starts_on))]

    def on(self, day: date) -> CampaignConfig | None:
        with self._sessions() as session:
            row = session.scalar(
                select(CampaignRow)
                .where(CampaignRow.starts_on <= day, CampaignRow.ends_on >= day)
                .order_by(CampaignRow.starts_on)
                .limit(1)
            )
            return None if row is None else _config(row)

    async def active(self, day: date) -> CampaignConfig | None:
        stamp = self._monotonic()
        if self._cached is not None and self._cached[1] == day and stamp - self._cached[0] < self._ttl:
            return self._cached[2]
        found = await asyncio.to_thread(self.on, day)
        self._cached = (stamp, day, found)
        return found


def _config(row: CampaignRow) -> CampaignConfig:
    return CampaignConfig.model_validate(
        {"id": row.id, "name": row.name, "from": row.starts_on, "to": row.ends_on, "notice_prompt": row.notice_prompt}
    )
