"""The recovery timeline on hand-built samples: one probe every 50 ms, T0 at 100 s."""

from __future__ import annotations

import pytest

from drillkit.measure.samples import Sample
from drillkit.measure.timeline import FaultEvent, TimelineSettings, compute

STEP = 0.05
SETTINGS = TimelineSettings(interval=STEP, stable_window=5.0, max_recovery=60.0, latency_threshold=0.5)
T0 = 100.0


def probes(start: float, end: float, *, ok: bool = True, latency: float = 0.01) -> list[Sample]:
    count = round((end - start) / STEP)
    status = 200 if ok else 0
    return [Sample("global", "write", start + n * STEP, latency, status, "" if ok else "connect")
            for n in range(count)]


def test_an_outage_of_known_length_is_measured_within_one_probe_interval():
    samples = probes(90, T0) + probes(T0, T0 + 8, ok=False) + probes(T0 + 8, T0 + 30)
    line = compute(samples, [FaultEvent("kill_primary", T0)], SETTINGS, observed_until=T0 + 30)
    assert line.rto.bounded
    assert line.rto.upper - line.rto.lower <= STEP + 1e-9
    assert line.rto.lower <= 8.0 + 0.01 <= line.rto.upper + 1e-9
    assert line.offsets()["detect"] == pytest.approx(0.01, abs=0.001)
    assert line.flaps == 0


def test_rto_is_unbounded_when_recovery_never_stabilises():
    samples = probes(90, T0) + probes(T0, T0 + 40, ok=False)
    line = compute(samples, [FaultEvent("fail_region", T0)], SETTINGS, observed_until=T0 + 40)
    assert not line.rto.bounded
    assert line.rto.seconds is None and line.rto.upper is None
    assert line.rto.lower == pytest.approx(40.0)
    assert line.stable is None and line.first_ok is None


def test_a_recovery_shorter_than_the_stable_window_is_a_flap_not_a_recovery():
    samples = (probes(90, T0) + probes(T0, T0 + 5, ok=False) + probes(T0 + 5, T0 + 7)
               + probes(T0 + 7, T0 + 9, ok=False) + probes(T0 + 9, T0 + 30))
    line = compute(samples, [FaultEvent("kill_primary", T0)], SETTINGS, observed_until=T0 + 30)
    assert line.offsets()["first_ok"] == pytest.approx(5.01, abs=0.001)
    assert line.flaps == 1
    assert line.rto.upper == pytest.approx(9.01, abs=0.001)


def test_a_fault_without_user_impact_has_a_zero_rto():
    line = compute(probes(90, 130), [FaultEvent("isolate_replica", T0)], SETTINGS, observed_until=130)
    assert not line.impact
    assert (line.rto.seconds, line.rto.lower, line.rto.upper) == (0.0, 0.0, 0.0)


def test_slow_answers_count_as_an_outage_and_recovery_is_when_answers_arrive():
    # A frozen server holds requests and releases them all at T0 + 3: the late ones are too slow.
    held = [Sample("global", "write", T0 + n * STEP, (T0 + 3) - (T0 + n * STEP), 200, "")
            for n in range(round(3 / STEP))]
    samples = probes(90, T0) + held + probes(T0 + 3, T0 + 20)
    line = compute(samples, [FaultEvent("pause_app", T0)], SETTINGS, observed_until=T0 + 20)
    assert line.offsets()["detect"] == pytest.approx(0.5, abs=0.001)  # known bad after 500 ms
    assert line.rto.upper == pytest.approx(3.0, abs=STEP)


def test_t0_is_the_last_fault_before_users_noticed():
    samples = probes(90, T0 + 30) + probes(T0 + 30, T0 + 35, ok=False) + probes(T0 + 35, T0 + 60)
    faults = [FaultEvent("isolate_replica", T0), FaultEvent("kill_primary", T0 + 30)]
    line = compute(samples, faults, SETTINGS, observed_until=T0 + 60)
    assert line.t0 == T0 + 30
    assert line.rto.upper == pytest.approx(5.01, abs=0.001)


def test_promotion_is_the_first_new_leader_after_t0():
    samples = probes(90, T0) + probes(T0, T0 + 25, ok=False) + probes(T0 + 25, T0 + 40)
    leaders = [(95.0, "pg-a"), (T0 + 5, ""), (T0 + 21, "pg-b"), (T0 + 22, "pg-b")]
    line = compute(samples, [FaultEvent("kill_primary", T0)], SETTINGS, T0 + 40, leaders)
    assert line.offsets()["promoted"] == 21.0


def test_a_timeline_needs_a_fault():
    with pytest.raises(ValueError):
        compute(probes(90, 100), [], SETTINGS, observed_until=100)
