"""Statistics reports over a million generated tickets: the time of each report on SQLite and, when
given one, on PostgreSQL, and the figures they show (no assertion: the tests check the figures).

Every report runs as the engine runs it: its three statements side by side on their own
connections (`EngineReader`), best of --repeat runs, wall time and the CPU time of this process
(SQLite works inside it; PostgreSQL's work is in the server's processes).

    .venv/bin/python bench/stats.py                                    # SQLite, 1,000,000 tickets in one year
    .venv/bin/python bench/stats.py --start-postgres                   # and a throwaway PostgreSQL, like the tests
    .venv/bin/python bench/stats.py --postgres postgresql+psycopg://u@host/db   # an existing, empty database
    .venv/bin/python bench/stats.py --per-year 150000                  # the charter's volume: ~7 years of calls
    .venv/bin/python bench/stats.py --reuse --extra-index              # same data, plus a covering index

Data are generated once per backend into var/bench/stats-<tickets>-<per-year>.db (SQLite; --reuse
keeps it between runs) and into the given PostgreSQL database.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sqlalchemy import Engine, Index, func, select

from bench.common import REPO, loadavg, machine, tree_state, wait_quiet
from ivr.schema.tickets import Ticket
from ivr.stats.formats import flat
from ivr.stats.queries import Scope
from ivr.stats.report import EngineReader, Report, build_report, default_range
from ivr.stats.synthetic import generate
from ivr.tickets.db import make_engine, upgrade
from ivr.tickets.periods import ROME

# A covering index for the tickets statement, in the order of its GROUP BY keys (local_day, topic,
# operator): measured with --extra-index, not part of the schema.
EXTRA_INDEX = Index(
    "ix_tickets_stats_cover",
    Ticket.local_day, Ticket.topic, Ticket.operator_id, Ticket.channel, Ticket.line_state, Ticket.queue_result,
    Ticket.queued_at, Ticket.wait_s, Ticket.handle_s, Ticket.survey_status, Ticket.sla_kind, Ticket.callback_due,
    Ticket.sla_met_at, Ticket.local_week, Ticket.local_month,
)  # fmt: skip


@dataclass(frozen=True)
class Case:
    name: str
    start: date
    end: date
    period: str
    by: str | None


def cases(first: date, last: date) -> list[Case]:
    out = [
        Case(f"all, per {period}{', by ' + by if by else ''}", first, last, period, by)
        for period in ("day", "week", "month")
        for by in (None, "topic", "operator")
    ]
    out.append(Case("last 12 months per month (public page)", *default_range("month", last), "month", None))
    out.append(Case("last 30 days per day (ivr stats)", *default_range("day", last), "day", None))
    out.append(Case("last 30 days per day, by operator", *default_range("day", last), "day", "operator"))
    return out


def fill(engine: Engine, tickets: int, per_year: int, last_year: int) -> int:
    """Generate the tickets year by year, ending with `last_year`; returns how many there are."""
    with engine.connect() as conn:
        have = conn.scalar(select(func.count()).select_from(Ticket)) or 0
    if have:
        print(f"  reusing {have:,} tickets already there", flush=True)
        return int(have)
    years = max(1, -(-tickets // per_year))
    left = tickets
    for i, year in enumerate(range(last_year - years + 1, last_year + 1)):
        n = left // (years - i)
        started = time.perf_counter()
        truth = generate(engine, tickets=n, year=year, seed=year, force=True)
        print(f"  {year}: {truth.tickets:,} tickets in {time.perf_counter() - started:.0f} s", flush=True)
        left -= n
    return tickets


async def measure(engine: Engine, case: Case, now: datetime, repeat: int) -> tuple[float, float, Report]:
    reader = EngineReader(engine)
    scope = Scope(case.start, case.end, case.period, case.by, now)  # type: ignore[arg-type]
    best_wall = best_cpu = float("inf")
    report: Report | None = None
    try:
        for _ in range(repeat):
            cpu, wall = time.process_time(), time.perf_counter()
            report = await build_report(reader, scope)
            best_wall = min(best_wall, time.perf_counter() - wall)
            best_cpu = min(best_cpu, time.process_time() - cpu)
    finally:
        reader.close()
    assert report is not None
    return best_wall, best_cpu, report


def run_backend(name: str, url: str, args: argparse.Namespace) -> dict[str, Any]:
    print(f"\n{name}: {url.split('@')[-1]}", flush=True)
    engine = make_engine(url)
    upgrade(engine)
    count = fill(engine, args.tickets, args.per_year, args.year)
    if args.extra_index:
        started = time.perf_counter()
        EXTRA_INDEX.create(engine, checkfirst=True)
        print(f"  extra index ready in {time.perf_counter() - started:.0f} s", flush=True)
    if engine.dialect.name == "postgresql":
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.exec_driver_sql("VACUUM ANALYZE")
    with engine.connect() as conn:
        first, last = conn.execute(select(func.min(Ticket.local_day), func.max(Ticket.local_day))).one()
    now = datetime.combine(last, datetime.min.time(), tzinfo=ROME) + timedelta(hours=12)
    if args.wait_quiet:
        print(f"  load {wait_quiet()}", flush=True)
    results: dict[str, Any] = {"tickets": count, "times": {}, "totals": None}
    for case in cases(first, last):
        wall, cpu, report = asyncio.run(measure(engine, case, now, args.repeat))
        rows = len(report.rows) + len(report.groups) + 1
        results["times"][case.name] = (wall, cpu, rows)
        print(f"  {case.name:44} {rows:6} rows {1000 * wall:8.0f} ms wall {1000 * cpu:8.0f} ms cpu", flush=True)
        if case.name == "all, per month":
            results["totals"] = flat(report.total, report.reasons, report.questions)
    engine.dispose()
    return results


def start_postgres() -> tuple[Any, str]:
    sys.path.insert(0, str(REPO))
    from tests.harness.postgres import PostgresServer

    server = PostgresServer()
    server.start()
    return server, server.create_database("stats_bench")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tickets", type=int, default=1_000_000)
    parser.add_argument("--per-year", type=int, help="tickets per year (default: all in one year)")
    parser.add_argument("--year", type=int, default=2026, help="the last year of data")
    parser.add_argument("--sqlite", type=Path, help="SQLite file (default under var/bench/)")
    parser.add_argument("--reuse", action="store_true", help="keep the SQLite file if it is there")
    parser.add_argument("--postgres", help="URL of an empty PostgreSQL database")
    parser.add_argument("--start-postgres", action="store_true", help="start a throwaway PostgreSQL server")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--extra-index", action="store_true", help="create the covering index first")
    parser.add_argument("--wait-quiet", action="store_true", help="wait for a quiet machine before timing")
    args = parser.parse_args()
    args.per_year = args.per_year or args.tickets
    sqlite = args.sqlite or REPO / "var" / "bench" / f"stats-{args.tickets}-{args.per_year}.db"
    if not args.reuse:
        for suffix in ("", "-wal", "-shm"):
            Path(f"{sqlite}{suffix}").unlink(missing_ok=True)
    info = machine()
    print(f"{info['cores']} cores, {info['cpu']}, {info['ram_gib']} GiB; load {loadavg()}; {tree_state()}")
    print(f"{args.tickets:,} tickets, {args.per_year:,} a year, up to {args.year}")
    results = {"SQLite": run_backend("SQLite", f"sqlite:///{sqlite}", args)}
    server = None
    url = args.postgres
    if args.start_postgres:
        server, url = start_postgres()
    try:
        if url:
            results["PostgreSQL"] = run_backend("PostgreSQL", url, args)
    finally:
        if server is not None:
            server.stop()
    print_tables(results)


def print_tables(results: dict[str, dict[str, Any]]) -> None:
    names = list(results)
    print("\nreport".ljust(46) + "".join(f"{n + ' ms':>16}" for n in names) + "   rows")
    first = results[names[0]]["times"]
    for case in first:
        cells = "".join(f"{1000 * results[n]['times'][case][0]:16.0f}" for n in names)
        print(f"{case:45}{cells}   {first[case][2]}")
    print("\nfigures over all the tickets".ljust(46) + "".join(f"{n:>16}" for n in names))
    totals = [results[n]["totals"] or {} for n in names]
    for key in totals[0]:
        cells = "".join(f"{_show(t.get(key)):>16}" for t in totals)
        print(f"{key:45}{cells}")


def _show(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4f}" if value < 10 else f"{value:.1f}"
    return "-" if value is None else f"{value:,}" if isinstance(value, int) else str(value)


if __name__ == "__main__":
    main()
