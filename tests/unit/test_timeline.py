"""Each fault's RTO, from synthetic user-path samples: a write and its read-back every 50 ms."""

from __future__ import annotations

import pytest

from drillkit.measure.samples import FaultEvent
from tests.unit.synthetic import STEP, fault, run, slot, user_path

T0 = 100.0


def outage(down: float, up: float, end: float, **kwargs) -> list:
    return user_path(0, down) + user_path(down, up, ok=False, **kwargs) + user_path(up, end)


def test_an_outage_of_known_length_lies_within_the_rto_bounds():
    measured = run(outage(T0, T0 + 8, T0 + 30), faults=[fault(T0)], ended=T0 + 30)
    line = measured.timelines[0]
    assert line.status == "measured"
    assert line.rto.lower <= 8.0 <= line.rto.upper
    assert line.rto.upper - line.rto.lower <= 2 * STEP
    assert line.detect_after_t0 == pytest.approx(0.01, abs=0.001)


def test_the_rto_lower_bound_is_the_send_time_of_the_last_bad_request():
    measured = run(outage(T0, T0 + 8, T0 + 30), faults=[fault(T0)], ended=T0 + 30)
    last_bad_sent = T0 + 8 - STEP
    assert measured.timelines[0].rto.lower == pytest.approx(last_bad_sent - T0, abs=1e-6)
    assert measured.incidents[0].recovery.lower == pytest.approx(last_bad_sent, abs=1e-6)


def test_no_samples_after_t0_is_not_measured():
    measured = run(user_path(0, T0), faults=[fault(T0)], ended=T0 + 40)
    line = measured.timelines[0]
    assert line.status == "not measured"
    assert line.rto is None and "observed" in line.reason


def test_no_samples_at_all_is_not_measured():
    measured = run([], faults=[fault(T0)], ended=T0 + 40)
    assert measured.timelines[0].status == "not measured"
    assert measured.user_path.status == "not measured"
    assert measured.incidents == []


def test_one_good_answer_then_silence_is_not_stable():
    samples = user_path(0, T0) + user_path(T0, T0 + 5, ok=False) + slot(1000 + T0 + 5)
    measured = run(samples, faults=[fault(T0)], ended=T0 + 40)
    line = measured.timelines[0]
    assert line.rto.upper is None
    assert line.status in ("not measured", "not recovered")
    assert measured.incidents[0].end is None


def test_a_prober_that_dies_during_an_outage_leaves_the_rto_not_measured():
    samples = user_path(0, T0) + user_path(T0, T0 + 5, ok=False)
    line = run(samples, faults=[fault(T0)], ended=T0 + 40).timelines[0]
    assert line.status == "not measured" and "stopped" in line.reason


def test_an_outage_that_outlasts_the_session_is_not_recovered():
    line = run(outage(T0, T0 + 40, T0 + 40), faults=[fault(T0)], ended=T0 + 40).timelines[0]
    assert line.status == "not recovered"
    assert line.rto.upper is None and line.rto.lower == pytest.approx(40 - STEP, abs=1e-6)


def test_a_three_second_gap_widens_the_recovery_bounds():
    samples = user_path(0, T0) + user_path(T0, T0 + 5, ok=False) + user_path(T0 + 8, T0 + 30)
    line = run(samples, faults=[fault(T0)], ended=T0 + 30).timelines[0]
    assert line.status == "measured"
    assert line.rto.lower == pytest.approx(5 - STEP, abs=1e-6)
    assert line.rto.upper == pytest.approx(8.01, abs=1e-6)


def test_t0_interval_widens_the_rto_bounds():
    samples = outage(T0, T0 + 8, T0 + 30)
    instant = run(samples, faults=[fault(T0)], ended=T0 + 30).timelines[0].rto
    interval = run(samples, faults=[fault(T0, issued_before=1.5)], ended=T0 + 30).timelines[0].rto
    assert interval.lower == pytest.approx(instant.lower)
    assert interval.upper == pytest.approx(instant.upper + 1.5)


def test_one_slow_answer_after_recovery_does_not_move_the_rto():
    samples = user_path(0, T0) + user_path(T0, T0 + 5, ok=False) + user_path(T0 + 5, T0 + 14)
    samples += slot(1000 + T0 + 14, latency=0.6) + user_path(T0 + 14 + STEP, T0 + 30)
    line = run(samples, faults=[fault(T0)], ended=T0 + 30).timelines[0]
    assert line.rto.upper == pytest.approx(5.01, abs=1e-6)


def test_one_lone_error_is_never_an_incident():
    samples = user_path(0, 50) + slot(1000 + 50, ok=False) + user_path(50 + STEP, 100)
    measured = run(samples, ended=100)
    assert measured.incidents == []
    assert any(point.state == "bad" for point in measured.series)


def test_harmless_fault_with_a_late_slow_answer_has_no_impact():
    samples = user_path(0, T0 + 40) + slot(1000 + T0 + 40, latency=0.6) + user_path(T0 + 40 + STEP, T0 + 60)
    line = run(samples, faults=[fault(T0, name="isolate_replica")], ended=T0 + 60).timelines[0]
    assert line.status == "no impact"
    assert line.rto is None


def test_a_harmless_fault_observed_too_briefly_is_not_measured():
    line = run(user_path(0, T0 + 5), faults=[fault(T0)], ended=T0 + 5).timelines[0]
    assert line.status == "not measured"


def test_a_blip_after_the_first_fault_does_not_move_the_second_faults_t0():
    samples = (user_path(0, T0 + 1) + slot(1000 + T0 + 1, ok=False) + user_path(T0 + 1 + STEP, T0 + 60)
               + user_path(T0 + 60, T0 + 65, ok=False) + user_path(T0 + 65, T0 + 90))
    faults = [fault(T0, name="isolate_replica"), fault(T0 + 60, name="kill_primary")]
    first, second = run(samples, faults=faults, ended=T0 + 90).timelines
    assert first.status == "no impact"
    assert second.status == "measured" and second.fault.confirmed == pytest.approx(T0 + 60)
    assert second.rto.lower <= 5.0 <= second.rto.upper


def test_an_incident_after_two_faults_is_attributed_to_the_latest_and_says_why():
    samples = user_path(0, T0 + 10) + user_path(T0 + 10, T0 + 15, ok=False) + user_path(T0 + 15, T0 + 40)
    faults = [fault(T0, name="isolate_replica"), fault(T0 + 5, name="kill_primary")]
    measured = run(samples, faults=faults, ended=T0 + 50)
    assert measured.incidents[0].attributed_to == "kill_primary"
    assert "isolate_replica" in measured.incidents[0].attribution
    assert [line.incident for line in measured.timelines] == [None, 0]
    first = measured.timelines[0]  # silent until the next fault: its window ends where kill_primary began
    assert first.status == "no impact" and "until the next fault" in first.reason


def test_an_incident_long_after_the_fault_is_not_attributed_to_it():
    samples = outage(T0 + 40, T0 + 45, T0 + 60)
    measured = run(samples, faults=[fault(T0)], ended=T0 + 60)
    assert measured.incidents[0].attributed_to is None
    assert measured.timelines[0].status == "no impact"


def test_a_fault_that_was_not_injected_is_not_measured():
    measured = run(user_path(0, 60), faults=[FaultEvent("partition_region", "cut", 1010.0, None, "iptables")],
                   ended=60)
    line = measured.timelines[0]
    assert line.status == "not measured" and "iptables" in line.reason


def test_recovery_before_rollbacks_is_automated_failover():
    measured = run(outage(T0, T0 + 5, T0 + 40), faults=[fault(T0)], ended=T0 + 40, rollbacks=(T0 + 20, T0 + 25))
    line = measured.timelines[0]
    assert line.recovery_mode == "before rollbacks"
    assert line.rollbacks_started_after_t0 == 20.0 and line.rollbacks_ended_after_t0 == 25.0


def test_recovery_after_rollbacks_belongs_to_the_rollbacks():
    measured = run(outage(T0, T0 + 28, T0 + 50), faults=[fault(T0)], ended=T0 + 50, rollbacks=(T0 + 20, T0 + 25))
    line = measured.timelines[0]
    assert line.recovery_mode == "after rollbacks"


def test_recovery_bounds_that_straddle_the_rollbacks_are_ambiguous():
    samples = user_path(0, T0) + user_path(T0, T0 + 19, ok=False) + user_path(T0 + 22, T0 + 50)
    line = run(samples, faults=[fault(T0)], ended=T0 + 50, rollbacks=(T0 + 20, T0 + 21)).timelines[0]
    assert line.recovery_mode == "during rollbacks"


def test_promotion_is_the_first_new_leader_after_t0():
    leaders = [(95.0, "pg-a"), (T0 + 5, ""), (T0 + 21, "pg-b"), (T0 + 22, "pg-b")]
    line = run(outage(T0, T0 + 25, T0 + 40), faults=[fault(T0)], ended=T0 + 40, leaders=leaders).timelines[0]
    assert line.promoted_after_t0 == 21.0


def test_a_recovery_shorter_than_the_stable_window_is_a_flap_not_a_recovery():
    samples = (user_path(0, T0) + user_path(T0, T0 + 5, ok=False) + user_path(T0 + 5, T0 + 7)
               + user_path(T0 + 7, T0 + 9, ok=False) + user_path(T0 + 9, T0 + 30))
    measured = run(samples, faults=[fault(T0)], ended=T0 + 30)
    line = measured.timelines[0]
    assert line.first_ok_after_t0 == pytest.approx(5.01, abs=1e-6)
    assert measured.incidents[0].flaps == 1
    assert line.rto.upper == pytest.approx(9.01, abs=1e-6)


def test_slow_answers_are_an_outage_and_recovery_is_when_answers_arrive():
    # A frozen server holds requests and releases them all at T0 + 3: the late ones are too slow.
    held = []
    for n in range(round(3 / STEP)):
        intended = 1000 + T0 + n * STEP
        held += slot(intended, latency=(1000 + T0 + 3) - intended)
    samples = user_path(0, T0) + held + user_path(T0 + 3, T0 + 20)
    line = run(samples, faults=[fault(T0, name="pause_app")], ended=T0 + 20).timelines[0]
    assert line.detect_after_t0 == pytest.approx(0.5, abs=0.001)  # known bad 500 ms after it was sent
    assert line.rto.lower <= 3.0 <= line.rto.upper
