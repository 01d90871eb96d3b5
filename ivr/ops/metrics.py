"""Prometheus metrics of the running line (`GET /metrics`).

Live values (calls in progress, the queue, operators) are read at scrape time from the engine's
parts; the store's figures (today's calls, service level, commitments, transcription backlog, the
last purge) in one read per scrape; counters (calls ended, ticket events) from the call bus; ARI
and AMI latency from the timed clients. Each engine has its own registry, so several engines in
one test process do not mix their figures.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import platform
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, Info, ProcessCollector, generate_latest

from ivr.callflows.bus import CallBus
from ivr.ops.figures import StoreFigures
from ivr.tasks import OTHER, tasks_by_coroutine, top_coroutines

log = logging.getLogger(__name__)

LATENCY_BUCKETS = (0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
TOP_COROUTINES = 12  # labels per scrape: a leak of hundreds ranks high, the tail is summed
ALERT_LEVELS = ("amber", "red")
LIVE_NOTES = frozenset({"playing", "played", "state", "ended", "queue_announce"})  # not ticket events


@dataclass(frozen=True)
class Sources:
    """Where each figure comes from; `ivr.app` wires them."""

    calls_by_state: Callable[[], Mapping[str, int]]
    queue_waits: Callable[[], Sequence[float]]  # seconds each waiting call has waited
    operators_by_state: Callable[[], Mapping[str, int]]
    cap_used: Callable[[], Awaitable[int]]
    cap_limit: int
    outbox_backlog: Callable[[], int]
    outbox_rejected: Callable[[], int]
    store_degraded: Callable[[], bool]
    figures: Callable[[], Awaitable[StoreFigures]]
    ari_up: Callable[[], bool]
    ami_up: Callable[[], bool]
    db_connections: Callable[[], int] | None = None  # None: not known (no gauge value)
    call_states: Sequence[str] = ()  # label values always present (0 when none)
    operator_states: Sequence[str] = ()
    outcomes: Sequence[str] = ()
    alerts: Callable[[], Mapping[tuple[str, str], int]] | None = None  # (kind, level) -> in force now
    alerts_raised: Callable[[], Mapping[tuple[str, str], int]] | None = None  # (kind, level) -> raised so far
    alert_kinds: Sequence[str] = ()


class Metrics:
    def __init__(self, sources: Sources, version: str) -> None:
        self.sources = sources
        r = self.registry = CollectorRegistry()
        Info("nul_build", "the engine's release", registry=r).info(
            {"version": version, "python": platform.python_version()}
        )
        self.ari_latency = Histogram(
            "nul_ari_request_seconds", "ARI REST round trips", ["method"], buckets=LATENCY_BUCKETS, registry=r
        )
        self.ami_latency = Histogram(
            "nul_ami_action_seconds", "AMI action round trips", ["action"], buckets=LATENCY_BUCKETS, registry=r
        )
        self.calls_ended = Counter("nul_calls_ended", "calls ended since the engine started", ["outcome"], registry=r)
        self.call_events = Counter(
            "nul_call_events", "ticket events of calls since the engine started", ["kind"], registry=r
        )
        for outcome in sources.outcomes:
            self.calls_ended.labels(outcome)
        self.in_progress = Gauge("nul_calls_in_progress", "calls in progress by state", ["state"], registry=r)
        self.waiting = Gauge("nul_queue_waiting_calls", "callers waiting for an operator", registry=r)
        self.longest = Gauge("nul_queue_longest_wait_seconds", "the longest current wait", registry=r)
        self.operators = Gauge("nul_operators", "operators by state", ["state"], registry=r)
        self.cap_used = Gauge("nul_daily_cap_used", "calls admitted to the queue today", registry=r)
        self.cap_limit = Gauge("nul_daily_cap_limit", "calls that may be admitted per day", registry=r)
        self.calls_today = Gauge("nul_calls_today", "phone tickets opened today by outcome", ["outcome"], registry=r)
        self.service_level = Gauge(
            "nul_service_level_ratio", "share of today's admitted calls answered within the target", registry=r
        )
        self.outbox = Gauge("nul_outbox_backlog_writes", "ticket writes waiting for the database", registry=r)
        self.outbox_rejected = Gauge(
            "nul_outbox_rejected_writes", "ticket writes the database would not take, kept for a person", registry=r
        )
        self.degraded = Gauge("nul_store_degraded", "1 while the ticket database is away", registry=r)
        self.transcriptions = Gauge(
            "nul_transcription_backlog_messages", "voicemails waiting for a transcript", registry=r
        )
        self.commitments = Gauge(
            "nul_commitments_flagged", "open commitments flagged near or past due", ["kind", "flag"], registry=r
        )
        self.purge_items = Gauge("nul_purge_last_items", "items removed by the last purge", ["kind"], registry=r)
        self.purge_failed = Gauge("nul_purge_last_files_failed", "files the last purge could not delete", registry=r)
        self.purge_time = Gauge(
            "nul_purge_last_finished_timestamp_seconds", "when the last purge finished (Unix time)", registry=r
        )
        # What a slow leak shows in over weeks: the process's memory and open files (Linux /proc),
        # its asyncio tasks and its database connections.
        ProcessCollector(registry=r)
        self.tasks = Gauge("nul_asyncio_tasks", "asyncio tasks alive in the engine's loop", registry=r)
        # Which coroutines those tasks run, the commonest few: a count that grew names its cause.
        self.tasks_by_coroutine = Gauge(
            "nul_asyncio_tasks_by_coroutine",
            f"asyncio tasks alive per coroutine, the {TOP_COROUTINES} commonest and the rest as {OTHER!r}",
            ["coroutine"],
            registry=r,
        )
        self.db_connections = Gauge(
            "nul_db_connections", "connections held to the ticket database, in use and pooled", registry=r
        )
        self.ari_up = Gauge("nul_ari_connected", "1 while the ARI event socket is connected", registry=r)
        self.ami_up = Gauge("nul_ami_logged_in", "1 while logged in to AMI", registry=r)
        self.administrators = Gauge("nul_console_administrators", "active console administrators", registry=r)
        self.alerts = Gauge("nul_alerts", "live alerts in force by kind and level", ["kind", "level"], registry=r)
        self.alerts_raised = Counter(
            "nul_alerts_raised", "live alerts raised since the engine started", ["kind", "level"], registry=r
        )
        self._raised_seen: dict[tuple[str, str], int] = {}
        for kind in sources.alert_kinds:
            for level in ALERT_LEVELS:
                self.alerts.labels(kind, level).set(0)
                self.alerts_raised.labels(kind, level)
        self.scrape_errors = Counter(
            "nul_metrics_store_errors", "scrapes whose store figures could not be read", registry=r
        )

    def observe_ari(self, method: str, seconds: float) -> None:
        self.ari_latency.labels(method).observe(seconds)

    def observe_ami(self, action: str, seconds: float) -> None:
        self.ami_latency.labels(action).observe(seconds)

    async def render(self) -> bytes:
        """The exposition text, with every live and stored figure read now."""
        await self.refresh()
        return generate_latest(self.registry)

    async def refresh(self) -> None:
        s = self.sources
        _set_all(self.in_progress, s.call_states, s.calls_by_state())
        _set_all(self.operators, s.operator_states, s.operators_by_state())
        waits = list(s.queue_waits())
        self.waiting.set(len(waits))
        self.longest.set(max(waits, default=0.0))
        self.cap_limit.set(s.cap_limit)
        self.outbox.set(await asyncio.to_thread(s.outbox_backlog))
        self.outbox_rejected.set(await asyncio.to_thread(s.outbox_rejected))
        self.degraded.set(1 if s.store_degraded() else 0)
        self.ari_up.set(1 if s.ari_up() else 0)
        self.ami_up.set(1 if s.ami_up() else 0)
        tasks = asyncio.all_tasks()
        self.tasks.set(len(tasks))
        self.tasks_by_coroutine.clear()
        for name, n in top_coroutines(tasks_by_coroutine(tasks), TOP_COROUTINES).items():
            self.tasks_by_coroutine.labels(name).set(n)
        if s.db_connections is not None:
            self.db_connections.set(s.db_connections())
        self._alerts()
        if s.store_degraded():
            return  # the store's figures keep their last values while the database is away
        try:
            self.cap_used.set(await s.cap_used())
            self._stored(await s.figures())
        except Exception as exc:  # a scrape must answer even when the database does not
            self.scrape_errors.inc()
            log.warning("metrics: store figures not read: %s", exc)

    def _alerts(self) -> None:
        s = self.sources
        if s.alerts is None or s.alerts_raised is None:
            return
        now = s.alerts()
        for kind in {*s.alert_kinds, *(k for k, _ in now)}:
            for level in ALERT_LEVELS:
                self.alerts.labels(kind, level).set(now.get((kind, level), 0))
        for key, total in s.alerts_raised().items():
            grown = total - self._raised_seen.get(key, 0)
            if grown > 0:
                self.alerts_raised.labels(*key).inc(grown)
                self._raised_seen[key] = total

    def _stored(self, f: StoreFigures) -> None:
        _set_all(self.calls_today, self.sources.outcomes, f.calls_today)
        self.service_level.set(f.service_level if f.service_level is not None else float("nan"))
        self.transcriptions.set(f.transcription_backlog)
        self.commitments.clear()
        for (kind, flag), count in f.commitments.items():
            self.commitments.labels(kind, flag).set(count)
        self.purge_items.clear()
        for kind, count in f.purge_items.items():
            self.purge_items.labels(kind).set(count)
        self.purge_failed.set(f.purge_files_failed)
        if f.purge_finished_at is not None:
            self.purge_time.set(f.purge_finished_at.timestamp())
        self.administrators.set(f.administrators)

    async def watch(self, bus: CallBus) -> None:
        """Count calls ended and ticket events from the call bus, until cancelled."""
        with bus.watch() as notes:
            while True:
                note = await notes.get()
                if note.kind == "ended":
                    self.calls_ended.labels(str(note.detail.get("outcome", "unknown"))).inc()
                elif note.kind not in LIVE_NOTES:
                    self.call_events.labels(note.kind).inc()


def _set_all(gauge: Gauge, known: Sequence[str], values: Mapping[str, int]) -> None:
    gauge.clear()
    for label in known:
        gauge.labels(label).set(0)
    for label, value in values.items():
        gauge.labels(label).set(value)


def count(values: Sequence[str]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for v in values:
        counts[v] = counts.get(v, 0) + 1
    return counts


async def stop_task(task: asyncio.Task[None] | None) -> None:
    if task is not None:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
