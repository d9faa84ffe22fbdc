"""Scoring: gates, deductions, objective rows, grade and verdict, each rule pinned by a hand-built run."""

from __future__ import annotations

import pytest

from drillkit.model.measurements import Bounds, Budget, Span, SplitBrain
from drillkit.model.objectives import Objectives
from drillkit.score import score
from drillkit.score.deductions import LOSS_CAP
from tests.unit.drill_runs import (
    baseline,
    drill_run,
    fault,
    incident,
    measurements,
    record,
    rpo,
    series,
    timeline,
    user_path,
)

OBJECTIVES = Objectives()


def scored(*records, **update):
    return score(drill_run(*records, **update), OBJECTIVES, [])


def run_of(report, experiment: str = "db-primary-outage", repetition: int = 1):
    e = next(e for e in report.experiments if e.name == experiment)
    return next(r for r in e.runs if r.repetition == repetition)


def gate(report, name: str, experiment: str = "db-primary-outage"):
    return next(g for g in run_of(report, experiment).gates if g.name == name)


def row(report, name: str):
    return next(r for r in report.objectives if r.name == name)


def test_a_clean_failover_passes_every_gate_and_every_objective():
    report = scored()
    assert report.status == "passed" and report.exit_code() == 0
    assert all(g.verdict == "met" for g in run_of(report).gates)
    assert {r.name: r.verdict for r in report.objectives} == dict.fromkeys(
        ["RTO", "RPO", "availability", "error rate", "latency"], "met")
    assert report.grade == "A"


def test_a_failed_drill_is_never_graded_above_c():
    light_failure = record("app-latency", measurements=measurements(rpo=rpo(unexpected=1)))
    healthy = [record(name) for name in ("db-primary-outage", "region-a-outage", "load-spike")]
    report = scored(*healthy, light_failure, weights={"app-latency": 0.1, "db-primary-outage": 10.0})
    assert report.status == "failed" and report.score >= 90
    assert report.grade_from_score == "A" and report.grade == "C"
    assert "graded C at best" in report.grade_cap


def test_deductions_add_up_to_the_score_shown():
    worse = record(repetition=2, measurements=measurements(rpo=rpo(lost=40, seconds=3.0)))
    report = scored(record(), worse, record("load-spike", measurements=measurements(rpo=rpo(unexpected=2))),
                    weights={"load-spike": 3.0})
    for e in report.experiments:
        assert e.score == round(max(0.0, 100 - sum(d.points for d in e.deductions)), 2)
        for run in e.runs:
            assert run.score == round(max(0.0, 100 - sum(d.points for d in run.deductions)), 2)
    assert report.score == pytest.approx(100 - sum(d.points for d in report.deductions), abs=1e-9)


def test_an_experiment_shows_the_score_and_deductions_of_the_same_run():
    worse = record(repetition=2, measurements=measurements(rpo=rpo(lost=40, seconds=3.0)))
    e = scored(record(), worse).experiments[0]
    assert e.scored_repetition == 2 and e.score == min(r.score for r in e.runs)
    assert e.deductions == run_of(scored(record(), worse), repetition=2).deductions


def lost_points(lost: int) -> float:
    report = scored(record(measurements=measurements(rpo=rpo(lost=lost, seconds=2.0))))
    return next(d.points for d in run_of(report).deductions if "acknowledged writes lost" in d.reason)


def test_five_hundred_lost_writes_cost_more_than_five():
    assert lost_points(500) > lost_points(50) > lost_points(5) > 0
    assert lost_points(10**9) == LOSS_CAP


def test_not_measured_rto_fails_its_gate_and_lowers_the_evidence_not_the_platform():
    unmeasured = timeline(status="not measured", reason="no samples after T0", rto=None)
    report = scored(record(measurements=measurements(timelines=[unmeasured])))
    assert gate(report, "rto").verdict == "not measured"
    assert "no samples after T0" in gate(report, "rto").reason
    assert not any(d.reason.startswith(("RTO", "gate rto")) for d in run_of(report).deductions)
    assert any("RTO: not measured" in why for why in run_of(report).unjudged)
    assert row(report, "RTO").verdict == "not measured"
    assert report.status == "incomplete" and report.evidence.verdict == "incomplete" and not report.passed


def test_a_run_that_measured_nothing_fails_every_gate_but_rollbacks_as_not_measured():
    report = scored(record(measurements=None, status="activity failed"))
    verdicts = {g.name: g.verdict for g in run_of(report).gates}
    assert verdicts.pop("rollbacks") == "met"
    assert set(verdicts.values()) == {"not measured"}
    assert report.experiments[0].score is None and report.experiments[0].status == "incomplete"
    assert report.score is None and report.grade is None and report.evidence.coverage == 0
    assert {r.verdict for r in report.objectives} == {"not measured"}


def test_an_unattributed_incident_fails_the_steady_state_gate():
    freeze = incident(start=5.0, end=8.0, phase="steady state", attributed_to=None,
                      attribution="no fault was injected in this phase", budget=Budget(availability=0, errors=0,
                                                                                      latency=0))
    report = scored(record(measurements=measurements(incidents=[incident(), freeze])))
    assert gate(report, "steady_state").verdict == "not met"
    assert "no injected fault explains" in gate(report, "steady_state").reason
    assert report.status == "failed"


def test_an_incident_still_open_when_measurement_stopped_fails_the_steady_state_gate():
    report = scored(record(measurements=measurements(incidents=[incident(end=None)], stopped="recovery limit")))
    assert gate(report, "steady_state").verdict == "not met"


def test_an_rpo_at_least_x_cannot_pass_the_rpo_gate_nor_its_row():
    report = scored(record(measurements=measurements(rpo=rpo(seconds=1.5, lost=30, at_least=True))))
    assert gate(report, "rpo").verdict == "not met"
    assert row(report, "RPO").verdict == "not met" and row(report, "RPO").measured.startswith("≥")


def test_split_brain_loss_fails_its_own_gate_apart_from_the_rpo():
    loss = SplitBrain(count=7, span_s=2.1, first_after_t0=0.3, last_after_t0=2.4)
    report = scored(record(measurements=measurements(rpo=rpo(split_brain=loss))))
    assert gate(report, "rpo").verdict == "met"
    assert gate(report, "split_brain").verdict == "not met" and "7 writes" in gate(report, "split_brain").reason


def test_no_impact_with_good_coverage_passes_the_rto_gate():
    calm = measurements(timelines=[timeline(status="no impact", rto=None, incident=None)], incidents=[],
                        series=series(bad=()), budget=Budget(availability=0, errors=0, latency=0))
    assert gate(scored(record(measurements=calm)), "rto").verdict == "met"
    blind = calm.model_copy(update={"user_path": user_path(status="not measured", reason="2 answers in 60 s")})
    assert gate(scored(record(measurements=blind)), "rto").verdict == "not measured"


def test_an_rto_that_never_recovered_fails_the_gate_and_the_row():
    stuck = timeline(status="not recovered", rto=Bounds(lower=300.0, upper=None))
    report = scored(record(measurements=measurements(timelines=[stuck])))
    assert gate(report, "rto").verdict == "not met" and row(report, "RTO").verdict == "not met"


def five_minutes_down():
    """300 seconds at 0 % availability: 300 s of the month's 2592 s of allowed downtime (11.6 %)."""
    share = 300 / (30 * 86400 * 0.001)
    outage = incident(start=30.6, end=330.6, bad_requests=3000,
                      budget=Budget(availability=share, errors=share, latency=share))
    return measurements(duration_s=400.0, series=series(bad=range(31, 331), seconds=400), incidents=[outage],
                        budget=outage.budget, timelines=[timeline(rto=Bounds(lower=299.0, upper=301.0))])


def test_five_minutes_down_fails_the_availability_row_under_the_policy():
    report = scored(record(measurements=five_minutes_down()))
    availability = row(report, "availability")
    assert availability.verdict == "not met"
    assert availability.worst_incident_budget == pytest.approx(0.1157, abs=1e-4)
    assert "allows 2% per incident" in availability.reason
    assert row(report, "error rate").verdict == "not met"
    assert report.status == "failed" and report.exit_code() == 1


def test_the_policy_is_read_from_the_objectives_not_hard_coded():
    lenient = Objectives.model_validate({"policy": {"incident_budget_share": 0.5, "drill_budget_share": 0.5}})
    report = score(drill_run(record(measurements=five_minutes_down())), lenient, [])
    assert row(report, "availability").verdict == "met"


def test_error_rate_and_availability_are_distinct_rows():
    report = scored(record(measurements=measurements(user_path=user_path(succeeded=1188, availability=0.99,
                                                                          error_rate=0.01))))
    availability, errors = row(report, "availability"), row(report, "error rate")
    assert availability.value == pytest.approx(95 / 120)   # seconds
    assert errors.value == pytest.approx(12 / 1200)        # requests
    assert "seconds" in availability.context and "requests" in errors.context


def test_a_budget_not_measured_makes_the_row_not_measured_and_is_a_gap_in_the_evidence():
    report = scored(record(measurements=measurements(budget=Budget(availability=None, errors=0.0, latency=0.0))))
    assert row(report, "availability").verdict == "not measured"
    assert not any(d.harm is None for d in run_of(report).deductions)
    assert any("error budget consumed: not measured" in why for why in run_of(report).unjudged)


def test_a_run_whose_user_path_was_not_measured_makes_the_slo_rows_not_measured():
    blind = record(repetition=2, measurements=measurements(user_path=user_path(status="not measured",
                                                                                reason="3 answers in 60 s")))
    report = scored(record(), blind)
    assert {row(report, n).verdict for n in ("availability", "error rate", "latency")} == {"not measured"}


def test_one_run_not_measured_makes_the_rto_row_not_measured_whatever_the_others_say():
    unmeasured = record(repetition=2, measurements=measurements(timelines=[timeline(status="not measured")]))
    assert row(scored(record(), unmeasured), "RTO").verdict == "not measured"


def test_the_rto_row_shows_the_worst_run():
    slow = record(repetition=2, measurements=measurements(timelines=[timeline(rto=Bounds(lower=80, upper=90))]))
    assert row(scored(record(), slow), "RTO").value == 90


def test_a_fault_that_was_never_injected_is_not_measured_with_its_cause():
    failed = fault(activity="partition-region", fault="partition_region", confirmed=None,
                   error="network faults need iptables")
    report = scored(record("region-partition", measurements=measurements(
        faults=[failed], timelines=[timeline(fault=failed, status="not measured", rto=None)])))
    assert gate(report, "rto", "region-partition").verdict == "not measured"
    assert "network faults need iptables" in gate(report, "rto", "region-partition").reason


def test_an_instrument_that_lagged_beyond_the_policy_fails_its_gate():
    lagging = measurements(instrument=measurements().instrument.model_copy(
        update={"degraded_s": 12.0, "degraded": [Span(start=10.0, end=22.0)]}))
    report = scored(record(measurements=lagging))
    assert gate(report, "instrument").verdict == "not met"
    assert gate(scored(), "instrument").verdict == "met"


def test_failed_rollbacks_abort_the_drill_with_exit_3():
    broken = record(status="rollback failed", rollbacks_ok=False, causes=["start_app: app-a did not answer"])
    report = scored(broken)
    assert report.status == "aborted" and report.exit_code() == 3
    assert "app-a did not answer" in report.status_reason


def test_aborted_drill_is_never_passed():
    report = scored(aborted="interrupted by SIGTERM during region-partition")
    assert report.status == "aborted" and report.exit_code() == 3 and report.grade in ("C", "D", "F")
    assert run_of(report).user_path is not None, "what was measured is still reported"


def test_a_baseline_that_already_breaches_an_slo_makes_the_run_invalid():
    breached = baseline(user_path=user_path(requests=200, succeeded=190, availability=0.95, latency_sli=0.99))
    report = scored(baseline=breached)
    assert report.status == "invalid" and report.exit_code() == 3
    assert "baseline availability" in report.status_reason
    assert scored(baseline=None).status == "invalid"


def test_a_sandbox_run_is_marked_as_no_evidence_about_production():
    assert scored().scope_note == "sandbox run: not evidence about production"
    assert scored(target_kind="production").scope_note == ""


def test_a_lower_score_or_a_worse_rto_than_last_time_is_a_regression():
    first = scored()
    earlier = first.trend.runs[-1].model_copy(update={"started_utc": "2026-08-20T10:00:00+00:00",
                                                      "run_dir": "reports/old", "score": 100.0,
                                                      "worst_rto_s": 10.0, "quarter": "2026-Q3"})
    report = score(drill_run(), OBJECTIVES, [earlier])
    assert [r.quarter for r in report.trend.runs] == ["2026-Q3", "2026-Q4"]
    assert any("score fell from 100" in r for r in report.trend.regressions)
    assert any("worst RTO rose from 10 s" in r for r in report.trend.regressions)


def test_scoring_is_a_pure_function_of_its_inputs():
    run = drill_run(record(), record("load-spike", measurements=measurements(rpo=rpo(lost=3, seconds=1.0))))
    before = run.model_dump()
    assert score(run, OBJECTIVES, []) == score(run, OBJECTIVES, [])
    assert run.model_dump() == before


def test_scoring_and_reports_import_neither_the_runner_nor_chaoslib():
    import subprocess
    import sys

    probe = ("import sys, drillkit.score, drillkit.report.build, drillkit.report.render; "
             "print(sorted(m for m in sys.modules if m.startswith(('chaoslib', 'drillkit.drill', "
             "'drillkit.measure', 'drillkit.faults', 'locust'))))")
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_a_run_against_another_target_is_not_in_the_trend():
    first = scored()
    earlier = first.trend.runs[-1].model_copy(update={"started_utc": "2026-08-20T10:00:00+00:00",
                                                      "run_dir": "reports/old", "score": 100.0})
    elsewhere = earlier.model_copy(update={"target": "docker-staging", "target_kind": "staging"})
    report = score(drill_run(), OBJECTIVES, [elsewhere])
    assert len(report.trend.runs) == 1 and report.trend.regressions == []
    from_before_names = earlier.model_copy(update={"target": ""})  # a line written before targets were named
    assert len(score(drill_run(), OBJECTIVES, [from_before_names]).trend.runs) == 2
