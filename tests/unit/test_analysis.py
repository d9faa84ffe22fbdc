"""The analysis beyond RTO: incidents whoever caused them, the instrument's own health, per-second
states, the error budget, and the live session's cheap checks."""

from __future__ import annotations

import pytest

from drillkit.measure.analysis import current_incidents, recovered
from drillkit.measure.ledger import Write
from drillkit.measure.samples import Sample
from drillkit.model.measurements import Measurements
from tests.unit.synthetic import OBJECTIVES, ORIGIN, SETTINGS, STEP, at, fault, run, slot, slot_times, user_path


def test_sustained_badness_without_a_fault_is_an_incident():
    samples = user_path(0, 50) + user_path(50, 53, ok=False) + user_path(53, 80)
    measured = run(samples, ended=80)
    [incident] = measured.incidents
    assert incident.attributed_to is None and "no fault" in incident.attribution
    assert incident.recovery.lower == pytest.approx(53 - STEP, abs=1e-6)
    assert incident.recovery.upper == pytest.approx(53.01, abs=1e-6)
    assert incident.phase == "before faults"


def test_badness_shorter_than_the_sustain_time_is_not_an_incident():
    samples = user_path(0, 50) + user_path(50, 51, ok=False) + user_path(51, 80)
    assert run(samples, ended=80).incidents == []


def test_a_stable_window_needs_the_slis_not_perfection():
    # After the outage one answer a second is slow: 2.5 % slow, within the 95 % latency SLI.
    samples = user_path(0, 50) + user_path(50, 55, ok=False)
    for second in range(55, 80):
        samples += slot(at(second), latency=0.7) + user_path(second + STEP, second + 1)
    [incident] = run(samples, ended=80).incidents
    assert incident.recovery.lower == pytest.approx(55 - STEP, abs=1e-6)
    assert incident.recovery.upper == pytest.approx(55.06, abs=1e-6)  # the slow answer at 55.7 was not good


def test_instrument_lag_is_degraded_not_an_outage():
    # The prober's loop stalled: every write of 100–102 s left a second late (and so answered late);
    # each read-back left as soon as its write was answered, but the pair was the instrument's.
    samples = user_path(0, 100) + user_path(100, 102, lag=1.0) + user_path(102, 130)
    measured = run(samples, ended=130)
    assert measured.incidents == []
    assert {p.t: p.state for p in measured.series if 100 <= p.t < 102} == {100: "degraded", 101: "degraded"}
    assert measured.instrument.degraded[0].start == pytest.approx(100.0)
    assert measured.user_path.excluded >= 40  # the late writes; each read-back left on time after its write
    assert measured.user_path.availability == 1.0 and measured.user_path.latency_sli == 1.0


def test_a_gap_in_the_schedule_is_degraded_not_an_outage():
    samples = user_path(0, 100) + user_path(103, 130)
    measured = run(samples, ended=130)
    assert measured.incidents == []
    [span] = measured.instrument.degraded
    assert (span.start, span.end) == (pytest.approx(100.0), pytest.approx(103.0))
    assert "missing slots" in span.reason
    assert measured.instrument.degraded_s == pytest.approx(3.0)


def test_degraded_seconds_are_never_bad_nor_good():
    samples = user_path(0, 50) + user_path(50, 53, ok=False, lag=0.2) + user_path(53, 80)
    measured = run(samples, ended=80)
    assert measured.incidents == []
    assert measured.budget.availability == 0.0


def test_a_silent_prober_leaves_its_seconds_thin_not_good():
    measured = run(user_path(0, 50), ended=80)
    states = {p.t: p.state for p in measured.series}
    assert states[49] == "good" and states[60] == "degraded"
    assert "no samples" in measured.instrument.degraded[-1].reason


def test_instrument_health_counts_every_prober_apart():
    samples = user_path(0, 10)
    samples += [Sample("global/read", "global", "read", t, t + 0.002, 0.012, 200, "") for t in slot_times(0, 10)]
    samples.append(Sample("global/read", "global", "read", at(10), None, 0.0, 0, "instrument"))
    measured = run(samples, ended=10.0)
    health = {p.name: p for p in measured.instrument.probers}
    assert health["global/write_read"].scheduled == 400
    assert health["global/write_read"].sent == 400 and health["global/write_read"].answered == 400
    reader = health["global/read"]
    assert (reader.scheduled, reader.sent, reader.answered, reader.send_errors) == (201, 200, 200, 1)
    assert reader.lag_p50_ms == pytest.approx(2.0) and reader.lag_max_ms == pytest.approx(2.0)
    assert measured.endpoints["global/read"].excluded == 1


def test_a_read_back_that_could_not_be_sent_is_a_failed_user_request():
    measured = run(user_path(0, 10) + user_path(10, 11, ok=False, error="http"), ended=11)
    sli = measured.user_path
    assert sli.requests == 440 and sli.succeeded == 400
    assert sli.error_rate == pytest.approx(40 / 440, abs=1e-6)


def test_budget_counts_bad_seconds_against_the_periods_allowed_downtime():
    samples = user_path(0, 50) + user_path(50, 60, ok=False) + user_path(60, 100)
    measured = run(samples, ended=100)
    allowed_downtime = 30 * 86400 * (1 - OBJECTIVES.availability)
    assert measured.budget.availability == pytest.approx(10 / allowed_downtime, rel=1e-4)
    assert measured.incidents[0].budget.availability == pytest.approx(10 / allowed_downtime, rel=1e-4)
    # 400 failed of 4000 requests in 100 s: 40 requests/s over the month at 0.1 % allowed errors.
    assert measured.budget.errors == pytest.approx(400 / (0.001 * 40 * 30 * 86400), rel=1e-4)


def test_the_series_has_one_point_per_second_with_its_state():
    samples = user_path(0, 20) + user_path(20, 23, ok=False) + user_path(23, 40)
    series = run(samples, ended=40).series
    assert [p.t for p in series] == list(range(40))
    assert series[21].state == "bad" and series[21].ok == 0.0 and series[21].p95_ms is None
    assert series[5].scheduled == 20 and series[5].answered == 20 and series[5].p95_ms == pytest.approx(10.0)


def test_a_slow_writes_read_back_in_the_next_second_leaves_its_slots_second_judged():
    # Packets dropped for a second: each write's connection retries after 1 s, so the writes of second 20
    # answer slowly and their read-backs are sent in second 21, yet belong to their slot: second 20 is
    # bad, not thin, and second 21 judges only its own slots.
    samples = user_path(0, 20) + user_path(20, 21, latency=1.0) + user_path(21, 40)
    series = run(samples, ended=40).series
    assert series[20].state == "bad" and series[20].answered == series[20].scheduled == 20
    assert series[21].state == "good"


def test_times_are_seconds_since_the_origin():
    measured = run(user_path(0, 20), ended=20)
    assert measured.origin_monotonic == ORIGIN and measured.duration_s == 20.0
    assert measured.settings["latency_threshold_s"] == 0.5 and measured.settings["sustain_s"] == 2.0


def test_current_incidents_sees_an_open_incident_before_it_ends():
    samples = user_path(0, 50) + user_path(50, 60, ok=False)
    [incident] = current_incidents(samples, settings=SETTINGS, objectives=OBJECTIVES, origin=ORIGIN, now=at(62))
    assert incident.end is None and incident.start == pytest.approx(50.01, abs=1e-6)


def test_recovered_needs_a_whole_stable_window_after_since():
    samples = user_path(0, 50) + user_path(50, 60, ok=False) + user_path(60, 70)
    def check(now: float, since: float = 55) -> bool:
        return recovered(samples, settings=SETTINGS, objectives=OBJECTIVES, origin=ORIGIN, now=at(now), since=at(since))
    assert not check(64)          # 60–62 good, but the window is 5 s
    assert check(67.5)            # 60–65 good and concluded (2 s timeout)
    assert not check(67.5, since=61)
    assert not check(80)          # silence since 70 is not stability


def test_a_ledger_writer_that_stalls_is_listed_as_degraded_too():
    writes = [Write("w0", n, at(n * 0.1), at(n * 0.1), at(n * 0.1 + 0.01)) for n in range(100)]
    writes += [Write("w0", 100 + n, at(15 + n * 0.1), at(15 + n * 0.1), at(15 + n * 0.1 + 0.01)) for n in range(50)]
    measured = run(user_path(0, 20), writes=writes, stored={"w0": set(range(150))}, ended=20)
    [span] = measured.instrument.degraded
    assert span.reason == "ledger/w0: missing slots" and span.start == pytest.approx(10.0)
    health = {p.name: p for p in measured.instrument.probers}["ledger/w0"]
    assert (health.scheduled, health.sent, health.answered) == (200, 150, 150)


def test_answers_noticed_only_when_the_instrument_woke_up_leave_their_second_thin_not_an_outage():
    # The prober's loop froze from 100 to 103 s: no slot of those seconds left, and the answers to the
    # requests it had sent in the 0.4 s before were read only when it woke up: their verdict is unknown.
    held = []
    for intended in slot_times(99.6, 100):
        held += slot(intended, latency=at(103.01) - intended)
    measured = run(user_path(0, 99.6) + held + user_path(103.05, 130), ended=130)
    assert measured.incidents == []
    assert {p.t: p.state for p in measured.series if 99 <= p.t < 103} == {
        99: "thin", 100: "degraded", 101: "degraded", 102: "degraded"}  # 8 of 20 slots held
    assert measured.user_path.excluded == 8  # the held writes (their read-backs left after the stall)


def test_requests_already_slow_when_the_instrument_stalled_keep_their_verdict():
    # The load balancer froze from 50 to 53 s; when it resumed, the burst of answers made the prober
    # send 0.1 s late. Requests unanswered for longer than the objective before that were bad whatever
    # the instrument did afterwards: the freeze is an incident, not the instrument's.
    frozen = []
    for intended in slot_times(50, 53):
        frozen += slot(intended, latency=at(53.01) - intended)
    late = user_path(53.05, 53.15, lag=0.1)
    measured = run(user_path(0, 50) + frozen + late + user_path(53.15, 80), ended=80)
    [incident] = measured.incidents
    assert incident.recovery.lower <= 53.0 <= incident.recovery.upper


def test_measurements_survive_their_json_round_trip_and_name_the_headline_fault():
    samples = user_path(0, 100) + user_path(100, 105, ok=False) + user_path(105, 140)
    measured = run(samples, faults=[fault(70, name="isolate_replica"), fault(100)], ended=140,
                   writes=[Write("w0", 1, at(99), at(99), at(99.01))], stored={"w0": set()})
    again = Measurements.model_validate_json(measured.model_dump_json(by_alias=True))
    assert again == measured
    assert measured.headline().fault.fault == "kill_primary"
    # data loss is read against the first fault: a write acknowledged after it, then lost, is a split-brain loss
    assert measured.rpo.split_brain.count == 1 and measured.rpo.lost == 0
    assert measured.rpo.status == "not measured" and "before the fault" in measured.rpo.reason


def test_the_retried_writes_of_a_packet_drop_do_not_push_recovery_past_the_outage():
    # Packets to the load balancer dropped from 20 s to 23 s: a write's SYN is retried after 1 s, then
    # 3 s, so each write sent then answers at its first retry past 23 s, slowly; its read-back leaves
    # then and answers at once. Recovery lies at the outage's end, not where the last retry answered.
    samples = user_path(0, 20)
    for intended in slot_times(20, 23):
        retry = intended + 1 if intended + 1 >= at(23) else intended + 3
        samples += slot(intended, latency=retry - intended)
    [incident] = run(samples + user_path(23, 60), ended=60).incidents
    assert incident.recovery.lower <= 23.0 <= incident.recovery.upper


def test_a_read_back_sent_late_marks_the_instrument_degraded_when_it_was_due_not_at_its_slot():
    # The load balancer froze from 50 to 53 s; at the resume the burst of answers kept the prober busy,
    # so each read-back left 0.1 s after its write answered. That lateness is the instrument's, at 53 s:
    # the frozen seconds themselves stay judged, and the freeze is an incident.
    rows = []
    for intended in slot_times(50, 53):
        write = Sample("global/write_read", "global", "write", intended, intended, at(53.01) - intended, 201, "")
        rows += [write, Sample("global/write_read", "global", "read_back", write.completed, write.completed + 0.1,
                               0.105, 200, "")]
    measured = run(user_path(0, 50) + rows + user_path(53, 80), ended=80)
    assert all(span.start >= 53.0 for span in measured.instrument.degraded)
    [incident] = measured.incidents
    assert incident.recovery.lower <= 53.0 <= incident.recovery.upper


def test_a_second_too_thin_to_judge_is_still_bad_when_its_observed_requests_fail_whatever_is_missing():
    # The load balancer froze from 50 to 52 s; its answers came in a burst at 52.3 s, while the prober
    # sent 0.2 s behind (from 52.1 s). The slots of 51.6-51.8 s, answered during that stall, could have
    # been good: left out. Second 51 has 16 of 20 slots, too few to judge, yet 12 of them were already
    # slower than the objective: bad whatever the other 4 were, and the freeze is an incident.
    frozen = []
    for intended in slot_times(50, 52):
        frozen += slot(intended, latency=at(52.3) - intended)
    samples = (user_path(0, 50) + frozen + user_path(52, 52.1) + user_path(52.1, 52.3, lag=0.2)
               + user_path(52.3, 80))
    measured = run(samples, ended=80)
    second = {p.t: p for p in measured.series}[51]
    assert (second.answered, second.state) == (16, "bad")
    assert len(measured.incidents) == 1


def test_on_a_target_without_a_write_probe_the_users_path_is_its_reads():
    def read(intended: float, ok: bool) -> Sample:
        return Sample("global/write_read", "global", "read", intended, intended, 0.01, 200 if ok else 0,
                      "" if ok else "connect")

    samples = [read(t, ok=not 30 <= t - ORIGIN < 34) for t in slot_times(0, 60)]
    [incident] = run(samples, ended=60).incidents
    assert incident.recovery.lower == pytest.approx(34 - STEP, abs=1e-6)


def test_a_user_path_of_reads_only_says_so_and_one_with_writes_says_nothing():
    def row(kind: str, intended: float) -> Sample:
        return Sample("global/write_read", "global", kind, intended, intended, 0.01, 200, "")

    reads_only = run([row("read", t) for t in slot_times(0, 20)], ended=20).user_path
    assert reads_only.status == "measured" and "reads only" in reads_only.note
    writes = run([row(kind, t) for t in slot_times(0, 20) for kind in ("write", "read_back")], ended=20).user_path
    assert writes.note == ""
