"""Scoring: every gate and deduction, repetitions, the drill's verdict and its objectives."""

from __future__ import annotations

import pytest

from drillkit.drill.scoring import (
    GATE_PENALTY,
    RunRecord,
    baseline_breach,
    grade,
    objective_table,
    score_drill,
    score_experiment,
    score_run,
)
from drillkit.model.objectives import Objectives

OBJECTIVES = Objectives()


def measurements(**overrides) -> dict:
    base = {
        "rto": {"seconds": 30.0, "lower": 29.98, "upper": 30.02, "bounded": True},
        "rpo": {"seconds": 0.0, "reconciled": True, "lost_writes": 0, "acknowledged_writes": 500,
                "attempted_writes": 600, "unexpected_writes": 0, "first_lost_at": None, "last_lost_at": None},
        "slo": {"availability": 0.9, "latency_sli": 0.96, "error_rate": 0.1, "error_budget_consumed": 0.0,
                "requests": 1000, "good": 900, "p95_ms": 40.0, "alerts": []},
        "timeline": {"impact": True, "stable": 30.02, "flaps": 0},
        "observed": {"seconds": 100.0},
    }
    for key, value in overrides.items():
        base[key] = {**base[key], **value}
    return base


def record(status="completed", rollbacks_ok=True, steady=True, **overrides) -> RunRecord:
    return RunRecord("db-primary-outage", 1, status, rollbacks_ok, steady, measurements(**overrides))


def failed_gates(run) -> set[str]:
    return {gate for gate, ok in run.gates.items() if not ok}


def test_a_clean_recovery_passes_every_gate_and_loses_only_the_rto_share():
    run = score_run(record(), OBJECTIVES)
    assert failed_gates(run) == set()
    assert [d.reason for d in run.deductions] == ["RTO 30.02 s used 0.21% of the objective"]
    assert run.score == 99.98


def test_an_unbounded_rto_fails_its_gate():
    run = score_run(record(rto={"bounded": False, "upper": None, "seconds": None, "lower": 300.0}), OBJECTIVES)
    assert failed_gates(run) == {"rto"}
    assert run.score == 100 - GATE_PENALTY
    assert "no recovery within the wait" in run.gate_reasons["rto"]


def test_an_rto_over_the_objective_fails_its_gate():
    slow = score_run(record(rto={"upper": 5 * 3600.0, "seconds": 5 * 3600.0}), OBJECTIVES)
    assert "rto" in failed_gates(slow)


def test_rpo_over_the_objective_and_an_unreconciled_ledger_fail_the_rpo_gate():
    assert "rpo" in failed_gates(score_run(record(rpo={"seconds": 7200.0}), OBJECTIVES))
    assert "rpo" in failed_gates(score_run(record(rpo={"reconciled": False}), OBJECTIVES))


def test_writes_lost_inside_the_window_cost_points_but_pass_the_gate():
    run = score_run(record(rpo={"seconds": 4.0, "lost_writes": 3, "first_lost_at": -4.0, "last_lost_at": -0.5}),
                    OBJECTIVES)
    assert failed_gates(run) == set()
    assert any(d.points == 6 and "3 acknowledged writes lost" in d.reason for d in run.deductions)


def test_writes_acknowledged_after_the_fault_and_lost_fail_the_window_gate():
    run = score_run(record(rpo={"lost_writes": 12, "first_lost_at": 0.4, "last_lost_at": 6.0}), OBJECTIVES)
    assert failed_gates(run) == {"lost_writes_in_rpo_window"}


def test_unexpected_rows_failed_rollbacks_and_a_lost_steady_state_each_fail_a_gate():
    assert failed_gates(score_run(record(rpo={"unexpected_writes": 1}), OBJECTIVES)) == {"no_unexpected_rows"}
    assert failed_gates(score_run(record("rollback failed", rollbacks_ok=False), OBJECTIVES)) == {
        "rollbacks_succeeded"}
    assert failed_gates(score_run(record("deviated", steady=False), OBJECTIVES)) == {"steady_state_restored"}
    assert failed_gates(score_run(record(timeline={"stable": None}), OBJECTIVES)) == {"steady_state_restored"}


def test_budget_latency_and_flaps_are_deducted_with_their_caps():
    run = score_run(record(slo={"error_budget_consumed": 0.05, "latency_sli": 0.90}, timeline={"flaps": 9}),
                    OBJECTIVES)
    points = {d.reason.split(" ")[0]: d.points for d in run.deductions}
    assert points["consumed"] == 5.0        # 5 % of the budget
    assert points["only"] == 5.0            # 5 points under the 95 % latency target
    assert points["recovery"] == 10.0       # 9 flaps, capped at 10


def test_gates_use_the_worst_repetition_and_the_score_the_median():
    runs = [score_run(record(), OBJECTIVES),
            score_run(record(rpo={"unexpected_writes": 2}), OBJECTIVES),
            score_run(record(slo={"error_budget_consumed": 0.1}), OBJECTIVES)]
    experiment = score_experiment("db-primary-outage", 2.0, runs)
    assert experiment["passed"] is False
    assert experiment["gates"]["no_unexpected_rows"] is False
    assert experiment["score"] == sorted(run.score for run in runs)[1]
    assert experiment["score_worst"] == runs[1].score


def test_the_drill_score_is_the_weighted_mean_and_the_grade_follows_it():
    heavy = score_experiment("a", 3.0, [score_run(record(), OBJECTIVES)])
    light = score_experiment("b", 1.0, [score_run(record(rpo={"unexpected_writes": 1}), OBJECTIVES)])
    verdict = score_drill([heavy, light], OBJECTIVES, baseline=None)
    assert verdict["score"] == pytest.approx((3 * heavy["score"] + light["score"]) / 4, abs=0.05)
    assert verdict["grade"] == "A" and verdict["passed"] is False
    assert [grade(s) for s in (95, 85, 75, 65, 10)] == ["A", "B", "C", "D", "F"]


def test_a_baseline_that_already_breaches_an_slo_makes_the_run_invalid():
    breached = {"slo": {"requests": 300, "availability": 0.98, "latency_sli": 0.99}}
    assert "baseline availability" in baseline_breach(breached, OBJECTIVES)
    verdict = score_drill([score_experiment("a", 1, [score_run(record(), OBJECTIVES)])], OBJECTIVES, breached)
    assert verdict["valid"] is False and verdict["passed"] is False
    assert baseline_breach({"slo": {"requests": 300, "availability": 1.0, "latency_sli": 0.99}}, OBJECTIVES) is None


def test_objectives_project_the_drills_failures_onto_a_month_of_traffic():
    experiment = score_experiment("a", 1, [score_run(record(), OBJECTIVES)])
    table = {row["name"]: row for row in objective_table([experiment], OBJECTIVES)}
    assert table["RTO"]["measured"] == 30.02 and table["RTO"]["met"]
    # 100 failures in 1000 requests over 100 s: a month at 10 requests/s is 25.92 M requests.
    assert table["availability"]["measured"] == 0.9
    assert table["availability"]["projected_month"] == pytest.approx(1 - 100 / 25_920_000, abs=1e-6)
    assert table["availability"]["met"] and table["error rate"]["met"]
