"""Check 31 broken on purpose: a caller past the wait threshold with no alert shown, an alert
shown with nobody waiting near it; moments inside a fault's settling and calls moved by a
transfer are not judged; the sampler reads the alerts from the engine's exposition text."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from ivr.lab.soak.checks_alerts import check_alerts
from ivr.lab.soak.evidence import Fault, ResourceSample, SoakEvidence
from ivr.lab.soak.sampler import parse
from ivr.lab.soak.store_view import StoreView
from ivr.schema.tickets import Ticket, TicketEvent

T0 = datetime(2027, 3, 1, 9, 0, tzinfo=UTC)
WALL = datetime(2026, 12, 7, 19, 0, tzinfo=UTC)  # the soak's own clock: the engines' runs ahead


def sample(second: float, *alerts: str) -> ResourceSample:
    return ResourceSample(at=WALL + timedelta(seconds=second), engine_at=T0 + timedelta(seconds=second),
                          rss_bytes=1, open_files=1, db_connections=1, asyncio_tasks=1, alerts_known=True,
                          alerts={kind: "amber" for kind in alerts})  # fmt: skip


def store(*waits: tuple[int, float, float], moved: int | None = None) -> StoreView:
    """(ticket, admitted at second, waited seconds)."""
    view = StoreView()
    for tid, start, waited in waits:
        view.tickets[tid] = Ticket(id=tid, channel="phone", queued_at=T0 + timedelta(seconds=start), wait_s=waited)
    if moved is not None:
        view.events[moved].append(TicketEvent(ticket_id=moved, at=T0, kind="transferred"))
    return view


def evidence(*samples: ResourceSample, faults: list[Fault] | None = None) -> SoakEvidence:
    return SoakEvidence(journal=[], db_url="", voicemail_dir=Path("."), recordings_dir=Path("."), daily_cap=400,
                        ended_at=T0, resources=list(samples), faults=faults or [], alert_wait_s=30.0)  # fmt: skip


def test_a_long_wait_must_show_and_a_shown_alert_must_have_a_long_wait() -> None:
    view = store((1, 0, 70), (2, 50, 5))  # ticket 1 waits from 0 s to 70 s
    right = evidence(sample(10), sample(40, "longest_wait"), sample(55, "longest_wait"), sample(90))
    result = check_alerts(right, view)
    assert result.passed and "4 samples judged, the wait alert shown in 2" in result.notes[0]
    missing = check_alerts(evidence(sample(40)), view)
    assert [v.detail for v in missing.violations] == [
        "at 2027-03-01 09:00:40: ticket 1 had waited 40 s (threshold 30 s); no wait alert shown"
    ]
    stray = check_alerts(evidence(sample(10, "longest_wait"), sample(90, "longest_wait")), view)
    assert len(stray.violations) == 2 and "nobody had waited near 30 s" in stray.violations[0].detail


def test_the_margins_the_watch_and_the_handover_need_are_not_judged() -> None:
    view = store((1, 0, 70))
    # 32 s: past the threshold by less than a check and a scrape; 65 s: the operator is confirming
    assert check_alerts(evidence(sample(32), sample(65), sample(28, "longest_wait")), view).passed


def test_a_faults_settling_and_a_moved_call_are_not_judged() -> None:
    fault = Fault(at=WALL + timedelta(seconds=20), name="engine_kill")
    result = check_alerts(
        evidence(sample(40), sample(75, "longest_wait"), sample(95), faults=[fault]), store((1, 0, 70))
    )
    assert (
        result.passed and "1 samples judged, the wait alert shown in 0; 2 within a fault's settling" in result.notes[0]
    )
    assert check_alerts(evidence(sample(40)), store((1, 0, 70), moved=1)).passed
    # moved, it kept its first place and wait in the queue until it ended: an alert it stands for
    assert check_alerts(evidence(sample(90, "longest_wait")), store((1, 0, 70), moved=1)).passed


def test_no_sample_to_judge_is_a_violation_and_an_unset_alert_a_note() -> None:
    assert not check_alerts(evidence(), store()).passed
    unset = evidence(sample(40))
    unset.alert_wait_s = None
    result = check_alerts(unset, store((1, 0, 70)))
    assert result.passed and "not set" in result.notes[0]


def test_the_sampler_reads_the_worst_level_of_each_kind() -> None:
    text = "\n".join([
        "process_resident_memory_bytes 1", "process_open_fds 2", "nul_db_connections 3", "nul_asyncio_tasks 4",
        'nul_alerts{kind="longest_wait",level="amber"} 0.0', 'nul_alerts{kind="longest_wait",level="red"} 1.0',
        'nul_alerts{kind="paused",level="amber"} 2.0', 'nul_alerts{kind="paused",level="red"} 0.0',
        'nul_alerts{kind="cap",level="amber"} 0.0',
    ]) + "\n"  # fmt: skip
    got = parse(text, WALL, T0)
    assert got.alerts_known and got.alerts == {"longest_wait": "red", "paused": "amber"} and got.engine_at == T0
    quiet = parse(
        "process_resident_memory_bytes 1\nprocess_open_fds 2\nnul_db_connections 3\nnul_asyncio_tasks 4\n", WALL
    )
    assert not quiet.alerts_known and quiet.engine_at is None
