"""The guard every action outside the database asks (ivr.ha.guard), on a fake monotonic clock."""

from __future__ import annotations

import pytest

from ivr.ha.guard import Fenced, LineGuard
from ivr.tickets.writer import Fenced as WriterFenced


class FakeMonotonic:
    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


def test_no_lease_always_allows() -> None:
    clock = FakeMonotonic()
    guard = LineGuard(monotonic=clock)
    clock.t += 1e9
    assert guard.allowed()
    guard.check("GET /ari/channels")


def test_a_renewal_older_than_the_term_refuses_without_being_told() -> None:
    clock = FakeMonotonic()
    guard = LineGuard(monotonic=clock)
    guard.hold(clock.t, 2.4)  # taken now, valid 3 s less a 0.6 s margin
    clock.t += 2.3
    guard.check("POST /ari/channels")  # still within the term
    guard.hold(clock.t - 0.1, 2.4)  # a renewal sent 0.1 s ago
    clock.t += 2.299
    assert guard.allowed()
    clock.t += 0.001  # the process was frozen, or the renewals stopped answering
    assert not guard.allowed()
    with pytest.raises(Fenced, match=r"POST /ari/channels: refused.*last known valid 0\.0 s ago"):
        guard.check("POST /ari/channels")


def test_an_old_renewal_answered_late_does_not_shorten_the_term() -> None:
    clock = FakeMonotonic()
    guard = LineGuard(monotonic=clock)
    guard.hold(clock.t, 2.0)
    guard.hold(clock.t - 1.0, 2.0)
    clock.t += 1.5
    assert guard.allowed()


def test_a_lost_lease_refuses_at_once_and_for_good() -> None:
    clock = FakeMonotonic()
    guard = LineGuard(monotonic=clock)
    guard.hold(clock.t, 10.0)
    guard.lose("taken by another engine")
    with pytest.raises(Fenced, match=r"send e-mail: refused.*lost \(taken by another engine\)"):
        guard.check("send e-mail")
    guard.hold(clock.t, 10.0)  # a renewal answered after the loss changes nothing
    assert not guard.allowed()


def test_a_term_that_is_not_positive_is_a_clear_error() -> None:
    with pytest.raises(ValueError, match=r"ha\.lease_ttl_s"):
        LineGuard().hold(0.0, 0.0)


def test_the_writers_fenced_is_the_guards_fenced() -> None:
    """A caller that lets a database outage pass still stops on the writer's Fenced."""
    assert issubclass(WriterFenced, Fenced)


def test_past_the_lease_asterisks_fresh_word_lets_the_engine_act_and_nothing_else_does() -> None:
    """Riding a store outage (ha.keep_calls_on_store_loss): a ping Asterisk answered lets the
    engine act for app_proof_s after the ping was sent; opening the event socket stays refused."""
    clock = FakeMonotonic()
    guard = LineGuard(monotonic=clock, app_proof_s=2.0)
    guard.hold(clock.t, 2.4)
    clock.t += 3.0  # the lease is stale: no renewal came back
    assert not guard.allowed()  # no word from Asterisk yet
    guard.app_owned(clock.t - 0.2)
    guard.check("POST /ari/channels")
    assert guard.connect_refusal() is not None  # reconnecting could take the app from a new active
    guard.app_owned(clock.t - 1.0)  # a late pong of an older ping proves nothing newer
    clock.t += 1.79
    assert guard.allowed()
    clock.t += 0.01  # 2 s after the last ping answered: a frozen process wakes here refused
    with pytest.raises(Fenced, match="Asterisk has not confirmed its app since"):
        guard.check("POST /ari/channels")


def test_the_app_replaced_past_the_lease_fences_for_good_within_it_does_not() -> None:
    clock = FakeMonotonic()
    guard = LineGuard(monotonic=clock, app_proof_s=2.0)
    guard.hold(clock.t, 2.4)
    guard.app_owned(clock.t)
    guard.app_replaced()  # some tool took the app while the lease is ours: the app watch takes it back
    assert guard.lost is None and guard.allowed() and guard.connect_refusal() is None
    clock.t += 3.0
    guard.app_owned(clock.t)
    guard.app_replaced()  # past the lease: only the engine that took the lease over does this
    assert guard.lost is not None and "another engine" in guard.lost
    guard.app_owned(clock.t)
    guard.hold(clock.t, 2.4)
    assert not guard.allowed()


def test_without_app_proofs_asterisks_word_counts_for_nothing() -> None:
    clock = FakeMonotonic()
    guard = LineGuard(monotonic=clock)
    guard.hold(clock.t, 2.4)
    clock.t += 3.0
    guard.app_owned(clock.t)
    assert not guard.allowed()
    with pytest.raises(ValueError, match=r"ha\.app_proof_s"):
        LineGuard(app_proof_s=0.0)


def test_a_refusal_while_the_lease_is_only_stale_is_remembered_for_the_runner() -> None:
    """What a stale guard refuses is left to nobody (the runner then gives the line up); refusals
    of an engine that knows it lost the lease, and actions allowed on Asterisk's word, are not."""
    clock = FakeMonotonic()
    guard = LineGuard(monotonic=clock, app_proof_s=2.0)
    guard.hold(clock.t, 2.4)
    guard.check("POST /ari/channels")
    clock.t += 3.0
    guard.app_owned(clock.t - 0.1)
    assert guard.allowed("StasisStart") and guard.stale_refused is None  # riding: allowed, nothing left
    clock.t += 2.0
    assert not guard.allowed("StasisStart")
    with pytest.raises(Fenced):
        guard.check("GET /ari/playbacks/p1")
    assert guard.stale_refused is not None and guard.stale_refused.startswith("StasisStart refused: its lease")

    lost = LineGuard(monotonic=clock, app_proof_s=2.0)
    lost.hold(clock.t, 2.4)
    lost.lose("taken by another engine")
    clock.t += 3.0
    assert not lost.allowed() and lost.stale_refused is None
