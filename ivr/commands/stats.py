"""`ivr stats ...`: reports for supervisors, the open-data export, synthetic data for demos."""

from __future__ import annotations

import argparse
import asyncio
from collections.abc import Callable, Coroutine
from datetime import date
from typing import Any, TypeVar

from sqlalchemy import Engine

from ivr.clock import Clock
from ivr.errors import UsageError
from ivr.settings import Settings
from ivr.stats.queries import BREAKDOWNS, PERIODS, Scope
from ivr.stats.report import Reader

T = TypeVar("T")


def _day(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a date (YYYY-MM-DD): {text!r}") from None


def _engine(settings: Settings) -> Engine:
    from ivr.tickets.db import make_engine, upgrade

    engine = make_engine(settings.database_url)
    upgrade(engine)
    return engine


def _clock(settings: Settings) -> Clock:
    from ivr.assembly import Assembly

    return Assembly(settings).clock


def cmd_stats(args: argparse.Namespace, settings: Settings) -> int:
    from ivr.stats.formats import to_csv, to_json, to_table
    from ivr.stats.report import EngineReader, build_report, default_range

    now = _clock(settings).now()
    today = now.astimezone(settings.service.tz).date()
    start, end = default_range(args.period, args.to or today)
    start = args.start or start
    end = args.to or end
    if start > end:
        raise UsageError(f"--from {start} is after --to {end}")
    scope = Scope(start, end, args.period, args.by, now, settings.stats.service_level_s)
    engine = _engine(settings)
    reader = EngineReader(engine)
    try:
        report = asyncio.run(build_report(reader, scope))
    finally:
        reader.close()
        engine.dispose()
    print({"table": to_table, "csv": to_csv, "json": to_json}[args.format](report))
    return 0


def cmd_export(args: argparse.Namespace, settings: Settings) -> int:
    from ivr.stats.export import StatsExporter
    from ivr.stats.report import EngineReader

    engine = _engine(settings)
    reader = EngineReader(engine)
    directory = settings.stats.opendata_path(settings.paths.data_dir)
    exporter = StatsExporter(
        reader, settings.stats, directory, _clock(settings), settings.service.tz, reasons=settings.reasons
    )
    try:
        done = asyncio.run(exporter.export(args.day))
    finally:
        reader.close()
        engine.dispose()
    print(f"open data for {done.day} written:")
    for path in done.files:
        print(f"  {path}")
    return 0


def cmd_generate(args: argparse.Namespace, settings: Settings) -> int:
    from ivr.stats.synthetic import generate

    engine = _engine(settings)
    try:
        truth = generate(
            engine,
            tickets=args.tickets,
            year=args.year,
            seed=args.seed,
            daily_cap=settings.queue.daily_cap,
            service_level_s=settings.stats.service_level_s,
            force=args.force,
        )
    finally:
        engine.dispose()
    days = truth.days()
    span = f"{days[0]} .. {days[-1]}" if days else "no days"
    print(f"{truth.tickets} synthetic tickets written ({span}, {len(truth.operator_logins)} operators)")
    return 0


def cmd_referrals(args: argparse.Namespace, settings: Settings) -> int:
    """Referrals per destination (kind of office, office) for the same ranges as `ivr stats`."""
    from ivr.stats import referrals

    report = _ranged(args, settings, lambda read, start, end: referrals.referral_report(read, start, end, args.period))
    print({"table": referrals.to_table, "csv": referrals.to_csv, "json": referrals.to_json}[args.format](report))
    return 0


def cmd_reasons(args: argparse.Namespace, settings: Settings) -> int:
    """Filed calls per reason (`reasons.options`), answered at the first level or passed on."""
    from ivr.stats import reasons

    def build(read: Reader, start: date, end: date) -> Coroutine[Any, Any, reasons.ReasonReport]:
        return reasons.reason_report(read, start, end, args.period, settings.reasons)

    report = _ranged(args, settings, build)
    print({"table": reasons.to_table, "csv": reasons.to_csv, "json": reasons.to_json}[args.format](report))
    return 0


def _ranged(
    args: argparse.Namespace, settings: Settings, build: Callable[[Reader, date, date], Coroutine[Any, Any, T]]
) -> T:
    """A report over `--from`..`--to` (by default the period's usual range up to today)."""
    from ivr.stats.report import EngineReader, default_range

    today = _clock(settings).now().astimezone(settings.service.tz).date()
    start, end = default_range(args.period, args.to or today)
    start, end = args.start or start, args.to or end
    if start > end:
        raise UsageError(f"--from {start} is after --to {end}")
    engine = _engine(settings)
    reader = EngineReader(engine)
    try:
        return asyncio.run(build(reader, start, end))
    finally:
        reader.close()
        engine.dispose()


def cmd_operator_time(args: argparse.Namespace, settings: Settings) -> int:
    """Each operator's time per local day: logged in, talking, wrap-up, paused by reason, on hold,
    offers answered and missed, average handling time (ivr.stats.operator_time)."""
    from sqlalchemy.orm import Session

    from ivr.stats.operator_time import operator_days, to_csv, to_json, to_table

    now = _clock(settings).now()
    tz = settings.service.tz
    last = args.to or now.astimezone(tz).date()
    first = args.start or last
    if first > last:
        raise UsageError(f"--from {first} is after --to {last}")
    engine = _engine(settings)
    try:
        with Session(engine) as session:
            rows = operator_days(session, first, last, tz, now)
    finally:
        engine.dispose()
    print({"table": to_table, "csv": to_csv, "json": to_json}[args.format](rows))
    return 0


def add_stats_commands(sub: Any, add: Any) -> None:
    stats = add("stats", cmd_stats, "statistics: calls, queue, voicemail, commitments, survey")
    stats.add_argument("--period", choices=PERIODS, default="day", help="rows per day, week or month")
    stats.add_argument(
        "--from",
        dest="start",
        type=_day,
        metavar="YYYY-MM-DD",
        help="first local day (default: 30 days, 12 weeks or 12 months before --to)",
    )
    stats.add_argument("--to", type=_day, metavar="YYYY-MM-DD", help="last local day, inclusive (default today)")
    stats.add_argument("--by", choices=BREAKDOWNS, help="break down by topic or by operator (internal use)")
    stats.add_argument("--format", choices=("table", "csv", "json"), default="table", help="default: table")
    more = stats.add_subparsers(dest="what", required=False)
    export = add("export", cmd_export, "write the open-data files (CSV, JSON) for a day and cumulative", more)
    export.add_argument("--day", type=_day, metavar="YYYY-MM-DD", help="local day to export (default yesterday)")
    for name, cmd, what in (
        ("referrals", cmd_referrals, "referrals to other offices per kind of office and office"),
        ("reasons", cmd_reasons, "filed calls per reason for the call (reasons.options)"),
    ):
        ranged = add(name, cmd, what, more)
        ranged.add_argument("--period", choices=PERIODS, default="month", help="rows per day, week or month")
        ranged.add_argument("--from", dest="start", type=_day, metavar="YYYY-MM-DD", help="first local day")
        ranged.add_argument("--to", type=_day, metavar="YYYY-MM-DD", help="last local day, inclusive (default today)")
        ranged.add_argument("--format", choices=("table", "csv", "json"), default="table", help="default: table")
    ops = add("operator-time", cmd_operator_time, "each operator's time per day: logged in, talking, paused...", more)
    ops.add_argument("--from", dest="start", type=_day, metavar="YYYY-MM-DD", help="first local day (default --to)")
    ops.add_argument("--to", type=_day, metavar="YYYY-MM-DD", help="last local day, inclusive (default today)")
    ops.add_argument("--format", choices=("table", "csv", "json"), default="table", help="default: table")
    gen = add("generate", cmd_generate, "fill the store with a year of synthetic tickets (demos, benchmarks)", more)
    gen.add_argument("--tickets", type=int, default=100_000, help="how many (phone calls and web requests)")
    gen.add_argument("--year", type=int, default=date.today().year - 1, help="the calendar year they fall in")
    gen.add_argument("--seed", type=int, default=1, help="the same seed writes the same tickets")
    gen.add_argument("--force", action="store_true", help="write even if the store already has tickets")
