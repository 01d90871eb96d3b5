"""Check 31: the live alerts. Whenever the soak read the active engine's `/metrics`, the wait
alert it showed is held against the store's own record of who was waiting then: a caller in the
queue past the threshold must have raised it, and it must not stand when nobody waited anywhere
near that long. The waits are the store's (admitted at `queued_at`, out of the queue `wait_s`
later), the alert the engine's: two records of one moment, kept by different code."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from ivr.lab.soak.checks_calls import ORDER_EXEMPT
from ivr.lab.soak.evidence import ResourceSample, SoakEvidence
from ivr.lab.soak.store_view import StoreView
from ivr.lab.soak.verdict import CheckResult

# Checked every 2 s (alerts.check_every_s), read by a scrape, the admission written a moment
# before the call joins the queue: a wait this far past the threshold must show, one this far
# short of it need not.
SLACK_S = 6.0
# An operator's confirm-with-1 ends the wait in the store after the queue gave the call away.
HANDOVER_S = 10.0
SETTLE_S = 60.0  # after a fault began or ended: the engine now active rebuilds its queue


@dataclass(frozen=True)
class Stay:
    ticket_id: int
    start: datetime
    end: datetime


def stays(view: StoreView) -> tuple[list[Stay], list[Stay]]:
    """Each call's time in the queue, and the calls moved by a transfer or a takeover, whose
    `wait_s` counts from the move while the queue keeps their first place (and wait): those may
    have stood in the queue at any moment from their admission to their end, so they can excuse
    an alert but are owed none."""
    known, moved = [], []
    for t in view.tickets.values():
        if t.queued_at is None:
            continue
        if view.kinds(t.id) & ORDER_EXEMPT:
            moved.append(Stay(t.id, t.queued_at, t.ended_at or t.queued_at + timedelta(days=1)))
        elif t.wait_s is not None:
            known.append(Stay(t.id, t.queued_at, t.queued_at + timedelta(seconds=t.wait_s)))
    return known, moved


def judge(sample: ResourceSample, waits: list[Stay], threshold_s: float, moved: Sequence[Stay] = ()) -> str | None:
    """What is wrong with the wait alert of one sample, or None."""
    t = sample.engine_at
    assert t is not None
    shown = "longest_wait" in sample.alerts
    late = [s for s in waits if s.start <= t - timedelta(seconds=threshold_s + SLACK_S)]
    owed = [s for s in late if s.end >= t + timedelta(seconds=HANDOVER_S)]
    if owed and not shown:
        s = max(owed, key=lambda x: t - x.start)
        waited = (t - s.start).total_seconds()
        return f"ticket {s.ticket_id} had waited {waited:.0f} s (threshold {threshold_s:g} s); no wait alert shown"
    near = [
        s
        for s in [*waits, *moved]
        if s.start <= t - timedelta(seconds=threshold_s - SLACK_S) and s.end >= t - timedelta(seconds=SLACK_S)
    ]
    if shown and not near:
        return f"a wait alert shown while nobody had waited near {threshold_s:g} s"
    return None


def check_alerts(ev: SoakEvidence, view: StoreView) -> CheckResult:
    r = CheckResult("alerts", "the wallboard's wait alert stands iff a caller waits past its threshold")
    if ev.alert_wait_s is None:
        r.notes.append("the line's wait alert is not set: not judged")
        return r
    waits, moved = stays(view)
    judged = shown = unsettled = 0
    settle = timedelta(seconds=SETTLE_S)
    for sample in ev.resources:
        if sample.engine_at is None or not sample.alerts_known:
            continue
        if any(f.at <= sample.at <= f.at + settle for f in ev.faults):
            unsettled += 1
            continue
        judged += 1
        shown += "longest_wait" in sample.alerts
        wrong = judge(sample, waits, ev.alert_wait_s, moved)
        if wrong is not None:
            r.fail(f"at {sample.engine_at:%Y-%m-%d %H:%M:%S}: {wrong}")
    r.notes.append(f"{judged} samples judged, the wait alert shown in {shown}; {unsettled} within a fault's settling")
    if not judged:
        r.fail("no sample of the engine's alerts to judge (the sampler read none)")
    return r
