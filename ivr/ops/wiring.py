"""Builds the engine's operations side from its parts (`ivr.app` calls this): the metrics' sources
read the dispatcher, the queue, the cap and the store; the timed ARI/AMI clients feed latency."""

from __future__ import annotations

from ivr.acd.agents import AgentState
from ivr.acd.cap import DailyCap
from ivr.acd.distributor import Distributor
from ivr.alerts.rules import KINDS
from ivr.alerts.watch import AlertWatch
from ivr.callflows.dispatcher import CallDispatcher
from ivr.callflows.states import CallState
from ivr.clock import Clock
from ivr.ops.figures import OpsFigures
from ivr.ops.metrics import Metrics, Sources, count
from ivr.ops.runtime import Operations
from ivr.schema.tickets import CallOutcome
from ivr.settings import Settings
from ivr.telephony.timing import TimedAmiMonitor, TimedAriClient
from ivr.tickets.store import SqlTicketStore


def make_operations(
    s: Settings,
    clock: Clock,
    store: SqlTicketStore,
    dispatcher: CallDispatcher,
    d: Distributor,
    cap: DailyCap,
    ari: TimedAriClient,
    ami: TimedAmiMonitor,
    *,
    version: str,
    alerts: AlertWatch | None = None,
) -> Operations:
    figures = OpsFigures(store)
    outbox = store.writer.outbox
    sources = Sources(
        calls_by_state=lambda: count([str(x.state) for x in dispatcher.sessions.values()]),
        queue_waits=lambda: [clock.monotonic() - c.since for c in d.waiting],
        operators_by_state=lambda: count([str(a.state) for a in d.agents.values()]),
        cap_used=lambda: cap.count(clock.now()),
        cap_limit=cap.limit,
        outbox_backlog=lambda: outbox.count() if outbox is not None else 0,
        outbox_rejected=lambda: outbox.rejected_count() if outbox is not None else 0,
        store_degraded=lambda: store.degraded,
        figures=lambda: figures.figures(clock.now().astimezone(s.service.tz).date(), s.stats.service_level_s),
        ari_up=ari.connected.is_set,
        ami_up=ami.logged_in.is_set,
        db_connections=store.connections_open,
        call_states=[str(x) for x in CallState if x is not CallState.ENDED],
        operator_states=[str(x) for x in AgentState],
        outcomes=[str(x) for x in CallOutcome],
        alerts=alerts.counts if alerts is not None else None,
        alerts_raised=(lambda: alerts.raised) if alerts is not None else None,
        alert_kinds=KINDS if alerts is not None else (),
    )
    metrics = Metrics(sources, version)
    ari.observe, ami.observe = metrics.observe_ari, metrics.observe_ami

    def status() -> str:
        ari_state = "up" if ari.connected.is_set() else "down"
        return f"{dispatcher.active} calls, {len(d.waiting)} waiting, ARI {ari_state}"

    return Operations(s, metrics, figures.administrators, status)
