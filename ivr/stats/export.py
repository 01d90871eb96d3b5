"""Open data: the statistics as CSV and JSON files, per day and cumulative, written every night.

Files (in `stats.opendata_dir`):
  giorni/AAAA-MM-GG.csv|json       one day, per topic and in total
  statistiche-giornaliere.csv|json every day from the first ticket to the exported day
  statistiche-mensili.csv|json     every month, the same span
  invii-mensili.csv|json           referrals to other offices per month, kind and office, same span
  giorni/AAAA-MM-GG-invii.csv|json referrals of one day
  richiamate.csv|json              queued callbacks (offered, asked, done) and calls per language, same span
  giorni/AAAA-MM-GG-richiamate.csv|json  the same for one day

They hold only what the public page shows (no operator breakdown, no caller). Each file is
written to a temporary name and renamed, so a reader never sees half a file; commitments are
judged at the moment of the export, so a late callback shows up in the next night's files.
"""

from __future__ import annotations

import asyncio
import logging
import os
import tempfile
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from ivr import jobs
from ivr.clock import Clock
from ivr.ha.guard import UNLEASED, LineGuard
from ivr.schema.tickets import Ticket
from ivr.stats import citizens_public
from ivr.stats.citizens import callback_figures
from ivr.stats.config import StatsSettings
from ivr.stats.formats import to_csv, to_json
from ivr.stats.queries import Period, Scope
from ivr.stats.reasons import reason_report
from ivr.stats.reasons import to_csv as reasons_csv
from ivr.stats.reasons import to_json as reasons_json
from ivr.stats.referrals import ReferralReport, referral_report
from ivr.stats.referrals import to_csv as referrals_csv
from ivr.stats.referrals import to_json as referrals_json
from ivr.stats.report import Reader, Report, build_report
from ivr.tickets.config import ReasonSettings
from ivr.tickets.periods import ROME

log = logging.getLogger(__name__)

DAILY, MONTHLY, DAYS_DIR = "statistiche-giornaliere", "statistiche-mensili", "giorni"
REFERRALS_MONTHLY, REFERRALS_DAY = "invii-mensili", "invii"
CALLBACKS, CALLBACKS_DAY = "richiamate", "richiamate"
REASONS_MONTHLY, REASONS_DAY = "motivi-mensili", "motivi"


def write_atomic(path: Path, text: str) -> None:
    """Replace `path` with `text` in one step: a temporary file in the same folder, then rename."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as out:
            out.write(text)
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _first_day(session: Session) -> date | None:
    return session.scalar(select(func.min(Ticket.local_day)))


@dataclass(frozen=True)
class Exported:
    day: date
    files: list[Path]


class StatsExporter:
    """What the nightly job runs (registered as `jobs.register("stats", exporter)`)."""

    def __init__(
        self,
        read: Reader,
        settings: StatsSettings,
        directory: Path,
        clock: Clock,
        tz: ZoneInfo = ROME,
        guard: LineGuard = UNLEASED,
        reasons: ReasonSettings | None = None,
    ):
        """`guard`: a fenced engine writes no open-data file (the active one does). `reasons`:
        the list of reasons for the call; with one, the calls per reason are published too."""
        self.read, self.settings, self.directory, self.clock, self.tz = read, settings, directory, clock, tz
        self.guard = guard
        self.reasons = reasons

    async def export(self, day: date | None = None) -> Exported:
        """Write `day` (default: yesterday, local) and the cumulative files up to it."""
        self.guard.check("write open-data files")  # and again before each file
        now = self.clock.now()
        day = day or now.astimezone(self.tz).date() - timedelta(days=1)
        first = await self.read(_first_day)
        start = min(first or day, day)
        sl = self.settings.service_level_s
        one_day = await build_report(self.read, Scope(day, day, "day", "topic", now, sl))
        daily = await build_report(self.read, Scope(start, day, "day", None, now, sl))
        monthly = await build_report(self.read, Scope(start, day, "month", None, now, sl))
        day_stem = self.directory / DAYS_DIR / f"{day.isoformat()}-{REFERRALS_DAY}"
        referrals = [
            (day_stem, await referral_report(self.read, day, day, "day")),
            (self.directory / REFERRALS_MONTHLY, await referral_report(self.read, start, day, "month")),
        ]
        citizens = [
            (self.directory / DAYS_DIR / f"{day.isoformat()}-{CALLBACKS_DAY}", day, day),
            (self.directory / CALLBACKS, start, day),
        ]
        extra: list[tuple[Path, str]] = []
        for stem, first_day, last_day in citizens:
            figures = await callback_figures(self.read, first_day, last_day)
            extra += [
                (stem.with_suffix(".csv"), citizens_public.to_csv(figures, first_day, last_day)),
                (stem.with_suffix(".json"), citizens_public.to_json(figures, first_day, last_day)),
            ]
        if self.reasons is not None and self.reasons.asked:
            why: list[tuple[Path, date, Period]] = [
                (self.directory / DAYS_DIR / f"{day.isoformat()}-{REASONS_DAY}", day, "day"),
                (self.directory / REASONS_MONTHLY, start, "month"),
            ]
            for stem, first_day, period in why:
                counts = await reason_report(self.read, first_day, day, period, self.reasons)
                extra += [
                    (stem.with_suffix(".csv"), reasons_csv(counts)),
                    (stem.with_suffix(".json"), reasons_json(counts)),
                ]
        files = await _write_all(self.directory, day, one_day, daily, monthly, referrals, self.guard, extra)
        return Exported(day, files)


async def _write_all(
    directory: Path,
    day: date,
    one_day: Report,
    daily: Report,
    monthly: Report,
    referrals: list[tuple[Path, ReferralReport]],
    guard: LineGuard,
    extra: list[tuple[Path, str]],
) -> list[Path]:
    outputs: list[tuple[Path, str]] = list(extra)
    for stem, counts in referrals:
        outputs += [
            (stem.with_suffix(".csv"), referrals_csv(counts)),
            (stem.with_suffix(".json"), referrals_json(counts)),
        ]
    stems = (
        (directory / DAYS_DIR / day.isoformat(), one_day),
        (directory / DAILY, daily),
        (directory / MONTHLY, monthly),
    )
    for stem, report in stems:
        outputs += [(stem.with_suffix(".csv"), to_csv(report)), (stem.with_suffix(".json"), to_json(report))]

    def write() -> list[Path]:
        for path, text in outputs:
            guard.check(f"write {path.name}")
            write_atomic(path, text)
        return [path for path, _ in outputs]

    return await asyncio.to_thread(write)


async def daily_export() -> None:
    """The scheduled job: yesterday's open data, when the engine runs an exporter."""
    exporter: Any = jobs.running("stats")
    if exporter is None:
        return
    done = await exporter.export()
    log.info("open data for %s written: %d files", done.day, len(done.files))


def schedule_daily_export(scheduler: Any, hour: int) -> None:
    """Every day at `hour`:05 in the scheduler's time zone (the service's)."""
    scheduler.add_job(daily_export, "cron", hour=hour, minute=5, id="stats-export", replace_existing=True)
