"""Ledger reconciliation, the Jepsen way, on hand-built writes: T0 at 100 s."""

from __future__ import annotations

from drillkit.measure.ledger import Write, reconcile

T0 = 100.0


def acked(seq: int, at: float, writer: str = "w") -> Write:
    return Write(writer, seq, at - 0.01, at)


def timed_out(seq: int, at: float, writer: str = "w") -> Write:
    return Write(writer, seq, at, None)


def test_nothing_lost_means_an_rpo_of_zero():
    writes = [acked(n, 90 + n) for n in range(10)]
    outcome = reconcile(writes, {"w": set(range(10))}, T0)
    assert (outcome.lost_count, outcome.rpo_seconds, outcome.acknowledged) == (0, 0.0, 10)


def test_acknowledged_writes_missing_after_recovery_are_lost_and_set_the_rpo():
    writes = [acked(n, 90 + n) for n in range(10)]  # acked at 90 … 99
    stored = {"w": {0, 1, 2, 3, 4, 5, 6}}           # 7, 8, 9 (acked at 97 … 99) never reached the replica
    outcome = reconcile(writes, stored, T0)
    assert outcome.lost == [("w", 7), ("w", 8), ("w", 9)]
    assert outcome.rpo_seconds == 4.0               # T0 − 96, the newest write with nothing lost before it
    assert (outcome.first_lost_at, outcome.last_lost_at) == (-3.0, -1.0)


def test_a_write_that_timed_out_is_never_lost():
    writes = [timed_out(n, 95 + n) for n in range(5)]
    outcome = reconcile(writes, {"w": {1, 3}}, T0)
    assert outcome.lost_count == 0
    assert outcome.recovered == [("w", 1), ("w", 3)]
    assert outcome.acknowledged == 0 and outcome.rpo_seconds == 0.0


def test_rows_nobody_sent_are_unexpected():
    outcome = reconcile([acked(1, 99)], {"w": {1, 42}, "ghost": {7}}, T0)
    assert outcome.unexpected == [("ghost", 7), ("w", 42)]


def test_writers_are_reconciled_separately():
    writes = [acked(1, 98, "a"), acked(1, 99, "b")]
    outcome = reconcile(writes, {"a": {1}, "b": set()}, T0)
    assert outcome.lost == [("b", 1)]
    assert outcome.rpo_seconds == 2.0


def test_losses_after_t0_make_the_rpo_the_span_of_lost_data():
    # A partitioned primary acknowledged writes after the fault, then lost them when it demoted itself.
    writes = [acked(n, 95 + n) for n in range(10)]  # acked at 95 … 104
    outcome = reconcile(writes, {"w": set(range(7))}, T0)
    assert outcome.lost_count == 3
    assert outcome.rpo_seconds == 3.0               # 104 (newest lost) − 101 (newest safe)
    assert (outcome.first_lost_at, outcome.last_lost_at) == (2.0, 4.0)
