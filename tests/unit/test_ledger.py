"""The RPO in parts, the Jepsen way, on hand-built writes: T0 = [100, 100] unless said otherwise."""

from __future__ import annotations

import pytest

from drillkit.measure.ledger import T0, WRITE_FIELDS, Write, rpo
from drillkit.measure.raw import read_writes, write_row
from drillkit.measure.samples import CsvLog

AT_100 = T0(100.0, 100.0)


def acked(seq: int, at: float, writer: str = "w") -> Write:
    return Write(writer, seq, at - 0.01, at - 0.01, at)


def timed_out(seq: int, at: float, writer: str = "w") -> Write:
    return Write(writer, seq, at, at, None, "timeout")


def test_nothing_lost_means_an_rpo_of_zero():
    writes = [acked(n, 90 + n) for n in range(10)]
    outcome = rpo(writes, {"w": set(range(10))}, t0=AT_100)
    assert (outcome.status, outcome.lost, outcome.seconds, outcome.acknowledged) == ("measured", 0, 0.0, 10)


def test_acknowledged_writes_missing_before_t0_are_lost_and_set_the_rpo():
    writes = [acked(n, 90 + n) for n in range(10)]  # acked at 90 … 99
    outcome = rpo(writes, {"w": {0, 1, 2, 3, 4, 5, 6}}, t0=AT_100)  # 7, 8, 9 never reached the replica
    assert outcome.lost == 3 and outcome.lost_sample == [("w", 7), ("w", 8), ("w", 9)]
    assert outcome.seconds == 4.0                   # T0 − 96, the newest write kept before the loss
    assert not outcome.at_least and outcome.split_brain.count == 0


def test_a_write_that_timed_out_is_never_lost():
    writes = [timed_out(n, 95 + n) for n in range(5)]
    outcome = rpo(writes, {"w": {1, 3}}, t0=AT_100)
    assert outcome.lost == 0 and outcome.recovered == 2
    assert outcome.indeterminate == 5 and outcome.acknowledged == 0


def test_rows_nobody_sent_are_unexpected():
    assert rpo([acked(1, 99)], {"w": {1, 42}, "ghost": {7}}, t0=AT_100).unexpected == 2


def test_writers_are_reconciled_separately():
    outcome = rpo([acked(1, 98, "a"), acked(1, 99, "b")], {"a": {1}, "b": set()}, t0=AT_100)
    assert outcome.lost_sample == [("b", 1)]
    assert outcome.seconds == 2.0


def test_rpo_split_brain_loss_is_reported_apart():
    # A partitioned primary acknowledged writes after the fault, then lost them when it demoted itself.
    writes = [acked(n, 95 + n) for n in range(10)]  # acked at 95 … 104
    outcome = rpo(writes, {"w": set(range(7))}, t0=AT_100)
    assert outcome.lost == 0 and outcome.seconds == 0.0
    brain = outcome.split_brain
    assert brain.count == 3 and brain.span_s == 2.0
    assert (brain.first_after_t0, brain.last_after_t0) == (2.0, 4.0)


def test_a_write_acknowledged_within_t0s_interval_counts_before_t0():
    writes = [acked(n, 95 + n) for n in range(10)]  # acked at 95 … 104
    outcome = rpo(writes, {"w": set(range(5))}, t0=T0(99.5, 101.5))  # 100 and 101 lost inside T0
    assert outcome.lost == 2 and outcome.seconds == 2.0  # max(T0_issued, 101) − 99
    assert outcome.split_brain.count == 3


def test_rpo_reaching_the_first_write_is_at_least():
    writes = [acked(n, 90 + n) for n in range(10)]
    outcome = rpo(writes, {"w": set()}, t0=AT_100)
    assert outcome.at_least
    assert outcome.seconds == pytest.approx(100 - 89.99)  # T0 − the ledger's first write


def test_five_lost_writes_are_told_apart_from_five_hundred():
    writes = [acked(n, 50 + n * 0.1) for n in range(500)]  # acked at 50 … 99.9
    few = rpo(writes, {"w": set(range(495))}, t0=AT_100)
    many = rpo(writes, {"w": set()} | {"w": {0}}, t0=AT_100)
    assert (few.lost, many.lost) == (5, 499)
    assert len(many.lost_sample) == 100


def test_an_unreconciled_ledger_is_not_measured_with_its_reason():
    outcome = rpo([acked(1, 99)], None, t0=AT_100, reconcile_error="the ledger of w could not be read back")
    assert outcome.status == "not measured" and "could not be read back" in outcome.reason
    assert outcome.seconds is None and outcome.acknowledged == 1


def test_a_session_without_a_ledger_has_no_rpo():
    assert rpo([], None, t0=AT_100) is None


def test_replication_lag_is_shown_beside_the_rpo():
    assert rpo([acked(1, 99)], {"w": {1}}, t0=AT_100, lags=[0, 4096, 512]).replication_lag_bytes_max == 4096


def test_writes_round_trip_through_the_ledger_csv(tmp_path):
    writes = [acked(1, 99.5), timed_out(2, 99.6), Write("w", 3, 99.7, None, None, "task died")]
    log = CsvLog(tmp_path / "ledger.csv", WRITE_FIELDS)
    for write in writes:
        log.add(write_row(write))
    log.close()
    assert read_writes(tmp_path / "ledger.csv") == writes


def test_a_ledger_with_no_acknowledged_write_is_not_measured_never_an_rpo_of_zero():
    refused = [Write("w", n, 90 + n, 90 + n, None, "sqlstate 42501") for n in range(10)]  # a role that may not INSERT
    outcome = rpo(refused, {"w": set()}, t0=AT_100)
    assert (outcome.status, outcome.seconds, outcome.lost, outcome.indeterminate) == ("not measured", None, 0, 10)
    assert "no ledger write was acknowledged" in outcome.reason and "sqlstate 42501" in outcome.reason
