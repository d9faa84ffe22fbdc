"""No figure better than what happened, and two verdicts apart: the platform's (what was observed about it)
and the evidence's (what was run and judged). Each case runs the real analysis and scoring functions on
hand-built input (tests/unit/synthetic.py for raw samples, tests/unit/drill_runs.py for measured runs)."""

from __future__ import annotations

import json
import threading

import pytest
from chaoslib.exceptions import ActivityFailed

from drillkit import clock
from drillkit.faults.load.actions import _await_users
from drillkit.measure import ledger
from drillkit.measure import restore as restore_measure
from drillkit.measure.ledger import Write
from drillkit.model.measurements import Bounds, Budget, Span
from drillkit.model.objectives import Objectives
from drillkit.report import openmetrics
from drillkit.report.render import to_markdown
from drillkit.score import score
from drillkit.score.rows import availability_row
from tests.unit import synthetic as raw
from tests.unit.drill_runs import (
    baseline,
    drill_run,
    incident,
    instrument,
    measurements,
    policy_check,
    record,
    restore,
    rpo,
    series,
    timeline,
)

OBJECTIVES = Objectives()
QUARTERLY = [f"exp-{n}" for n in range(8)]


def planned(*records, aborted: str | None = None, **update):
    """A drill whose manifest plans the eight QUARTERLY experiments, with only RECORDS recorded."""
    run = drill_run(*records, **update)
    drill = {**run.drill, "experiments": [{"path": f"experiments/{name}.yaml", "weight": 1.0} for name in QUARTERLY]}
    return run.model_copy(update={"drill": drill, "aborted": aborted})


def row(report, name):
    return next(r for r in report.objectives if r.name == name)


def gate(run_report, name):
    return next(g for g in run_report.gates if g.name == name)


# -- 1. an aborted drill is not scored as if its plan were what ran ------------------------------------------


def test_an_aborted_drill_lists_every_planned_experiment_it_never_ran_and_keeps_no_worst_figures():
    report = score(planned(record("exp-0"), aborted="interrupted by SIGTERM"), OBJECTIVES, [])
    assert report.status == "aborted" and report.exit_code() == 3
    assert [e.name for e in report.experiments] == QUARTERLY
    assert [e.status for e in report.experiments[1:]] == ["not run"] * 7
    assert all("interrupted by SIGTERM" in e.reason for e in report.experiments[1:])
    assert report.evidence.verdict == "incomplete" and report.evidence.run == 1 and report.evidence.planned == 8
    assert report.evidence.coverage <= 1 / 8
    entry = report.trend.runs[-1]
    assert entry.worst_rto_s is None and entry.worst_rpo_s is None and entry.lost_writes is None
    assert not entry.comparable


def test_a_full_drill_after_an_aborted_one_is_compared_with_the_last_complete_drill_only():
    aborted = score(planned(record("exp-0"), aborted="interrupted by SIGTERM",
                            started_utc="2026-11-01T09:00:00+00:00", run_dir="reports/aborted"), OBJECTIVES, [])
    full = planned(*[record(name) for name in QUARTERLY], started_utc="2026-11-20T09:58:00+00:00")
    later = score(full, OBJECTIVES, [aborted.trend.runs[-1]])
    assert later.evidence.verdict == "complete"
    assert not any("score fell" in r for r in later.trend.regressions)
    assert "no earlier complete drill" in later.trend.note


# -- 2. a restore from backups places its loss where the objective is about -----------------------------------


def test_the_declared_loss_is_placed_just_before_the_next_backup_is_due_and_says_so():
    from drillkit.faults.backup.actions import _loss_placement

    after, placement = _loss_placement(60.0, None)
    assert 0.8 * 60 <= after < 0.9 * 60      # the scheduler takes the next one at 0.9 × the interval
    assert "before the next was due (the worst case)" in placement and f"{after:.1f} s" in placement
    chosen_after, chosen = _loss_placement(60.0, 30.0)
    assert chosen_after == 30.0 and "as the experiment chose" in chosen


def test_the_restore_rpo_row_says_where_the_loss_was_placed():
    placed = restore(activity="restore_from_backups", mode="backups only", rpo=rpo(seconds=52.0, lost=500),
                     loss_placement="loss declared 51.0 s after the newest backup ended, 3.0 s before the next was due")
    run = record("restore-from-incremental", measurements=measurements(restores=[placed], rpo=None))
    shown = row(score(drill_run(run), OBJECTIVES, []), "RPO (restores)")
    assert "3.0 s before the next was due" in shown.measured


# -- 3. writes lost by a restore are lost writes; a restore's own ledger proves nothing -----------------------


def test_writes_missing_from_a_restored_copy_count_as_lost_in_the_history():
    lossy = restore(rpo=rpo(seconds=40.0, lost=37))
    run = record("restore-from-incremental", measurements=measurements(restores=[lossy], rpo=rpo(lost=0)))
    report = score(drill_run(run, backup_time_scale=60.0, backup_check=policy_check()), OBJECTIVES, [])
    assert report.trend.runs[-1].lost_writes == 37
    assert "37 (missing from the restored copy)" in to_markdown(report)
    assert 'drillkit_restore_lost_writes{' in openmetrics.render(report) and "} 37.0" in openmetrics.render(report)


def test_a_restore_drills_own_ledger_is_not_measured_and_never_meets_the_rpo_gate_by_itself():
    writes = [Write("w0", n, raw.at(n * 0.1), raw.at(n * 0.1), raw.at(n * 0.1 + 0.01)) for n in range(300)]
    never_recorded = restore_measure.missing("restore_from_backups", "backups only", "no record")
    measured = raw.run(raw.user_path(0, 40), faults=[raw.fault(20)], ended=40, writes=writes,
                       stored={"w0": set(range(300))}, restore_records=[never_recorded])
    assert measured.rpo.status == "not measured" and "restore drill's own ledger" in measured.rpo.reason
    report = score(drill_run(record("restore-from-incremental", measurements=measured)), OBJECTIVES, [])
    assert gate(report.experiments[0].runs[0], "rpo").verdict == "not measured"


# -- 4. an instrument stall inside an outage does not make the outage cheaper ---------------------------------


def _outage(stall: bool):
    inside = (raw.user_path(60, 85, ok=False) + raw.user_path(85, 91, ok=False, lag=1.5)
              + raw.user_path(91, 115, ok=False)) if stall else raw.user_path(60, 115, ok=False)
    return raw.run(raw.user_path(0, 60) + inside + raw.user_path(115, 140), faults=[raw.fault(60)], ended=140)


def test_the_same_outage_costs_the_same_budget_with_or_without_a_prober_stall_in_it():
    clean, stalled = _outage(stall=False), _outage(stall=True)
    assert stalled.instrument.degraded_s > 5 and stalled.incidents[0].unobserved_s >= 5
    assert stalled.budget.availability == clean.budget.availability
    assert stalled.incidents[0].budget.availability == clean.incidents[0].budget.availability
    verdicts = {availability_row([m], OBJECTIVES).verdict for m in (clean, stalled)}
    assert verdicts == {"not met"}   # 55 s of outage is more than 2 % of the month's downtime


# -- 5. a baseline that saw 1 s of 15 is no baseline ------------------------------------------------------------


def test_a_baseline_whose_probe_died_after_one_second_is_invalid():
    short = baseline(duration_s=15.0, series=series(bad=(), seconds=1))
    report = score(drill_run(record(), baseline=short), OBJECTIVES, [])
    assert not report.baseline.valid and report.status == "invalid"
    assert "judged for 1 of its 14 s" in report.baseline.reason


# -- 6. an SLO row never says "met" beside a figure that breaks the target it shows ---------------------------


def test_an_slo_row_states_the_budget_policy_and_shows_the_raw_figure_only_as_context():
    availability = row(score(drill_run(record()), OBJECTIVES, []), "availability")
    assert availability.verdict == "met"
    assert "budget per incident" in availability.target and "per drill" in availability.target
    assert "of the month's budget" in availability.measured and "%" in availability.measured
    assert "seconds were good" not in availability.measured and "seconds were good" in availability.context
    assert "99.9" not in availability.target


# -- 7. an RPO needs acknowledged writes near T0 ----------------------------------------------------------------


def test_an_rpo_with_nothing_acknowledged_near_the_fault_is_not_measured():
    early = [Write("w0", n, raw.at(n * 0.05), raw.at(n * 0.05), raw.at(n * 0.05 + 0.01)) for n in range(6)]
    refused = [Write("w0", 6 + n, raw.at(0.3 + n * 0.1), raw.at(0.3 + n * 0.1), None, "http 503") for n in range(100)]
    found = ledger.rpo(early + refused, {"w0": set(range(6))}, t0=ledger.T0(raw.at(10.0), raw.at(10.2)))
    assert found.status == "not measured" and found.seconds is None
    assert "no write was acknowledged in the 1 s before the fault" in found.reason


def test_a_split_brain_of_nothing_needs_writes_sent_after_the_fault():
    before = [Write("w0", n, raw.at(n * 0.1), raw.at(n * 0.1), raw.at(n * 0.1 + 0.01)) for n in range(100)]
    found = ledger.rpo(before, {"w0": set(range(100))}, t0=ledger.T0(raw.at(9.95), raw.at(10.0)))
    assert found.status == "measured" and found.split_brain.status == "not measured"


# -- 8. a fault that never recovered is the worst RTO; restores are judged apart ------------------------------


def test_a_fault_that_never_recovered_is_a_regression_against_a_bounded_rto():
    earlier = score(drill_run(record(), started_utc="2026-08-20T10:00:00+00:00", run_dir="reports/q3"), OBJECTIVES, [])
    stuck = timeline(status="not recovered", rto=Bounds(lower=118.0, upper=None))
    now = score(drill_run(record(measurements=measurements(timelines=[stuck], incidents=[incident(end=None)]))),
                OBJECTIVES, [earlier.trend.runs[-1]])
    assert now.trend.runs[-1].worst_rto_unbounded and row(now, "RTO").unbounded
    # an incident still open is a platform failure, so the drill is complete but failed: compared
    assert any("never recovered" in r for r in now.trend.regressions)


def test_restores_and_failovers_have_rows_of_their_own():
    failover = record()
    restoring = record("bad-migration-restore", measurements=measurements(restores=[restore()], rpo=None))
    names = [r.name for r in score(drill_run(failover, restoring), OBJECTIVES, []).objectives]
    assert names[:4] == ["RTO", "RPO", "RTO (restores)", "RPO (restores)"]
    assert "bad-migration-restore" not in row(score(drill_run(failover, restoring), OBJECTIVES, []), "RTO").measured


# -- 9. a later fault does not turn a split-brain loss into ordinary RPO loss ---------------------------------


def test_writes_acknowledged_after_a_partition_and_lost_stay_split_brain_when_a_second_fault_follows():
    writes = [Write("w0", n, raw.at(n * 0.1), raw.at(n * 0.1), raw.at(n * 0.1 + 0.01)) for n in range(300)]
    kept = {n for n in range(300) if not 100 < n <= 150}  # acknowledged 10.0-15.0 s after origin, then lost
    samples = raw.user_path(0, 16) + raw.user_path(16, 30, ok=False) + raw.user_path(30, 60)
    measured = raw.run(samples, faults=[raw.fault(10, name="partition_region"), raw.fault(15, name="kill_primary")],
                       ended=60, writes=writes, stored={"w0": kept})
    assert measured.incidents[0].attributed_to == "kill_primary"
    assert measured.rpo.split_brain.count == 50 and measured.rpo.lost == 0
    report = score(drill_run(record(measurements=measured)), OBJECTIVES, [])
    assert gate(report.experiments[0].runs[0], "split_brain").verdict == "not met"


# -- 10. an RTO is its bounds; a row not measured shows no worst figure ---------------------------------------


def test_an_rto_reads_as_its_bounds_never_a_midpoint():
    report = score(drill_run(record()), OBJECTIVES, [])
    assert row(report, "RTO").measured == "[25.0, 28.0] s"


def test_an_rto_row_not_measured_shows_no_worst_figure():
    unmeasured = record("region-partition", measurements=measurements(timelines=[timeline(status="not measured",
                                                                                         rto=None)]))
    shown = row(score(drill_run(record(), unmeasured), OBJECTIVES, []), "RTO")
    assert shown.verdict == "not measured" and shown.value is None and shown.measured.startswith("not measured")


# -- 11. a load spike's T0 is observed, not declared --------------------------------------------------------


def test_a_load_spike_is_confirmed_by_locusts_own_report_of_its_users(tmp_path):
    progress = tmp_path / "progress.json"
    progress.write_text(json.dumps({"users": 5}))
    threading.Timer(0.4, lambda: progress.write_text(json.dumps({"users": 40}))).start()
    started = clock.now().monotonic
    seen = _await_users(progress, 40, deadline=started + 5)
    assert seen - started >= 0.35 and json.loads(progress.read_text())["users"] == 40


def test_a_load_spike_never_observed_is_not_injected(tmp_path):
    progress = tmp_path / "progress.json"
    progress.write_text(json.dumps({"users": 5}))
    with pytest.raises(ActivityFailed, match="never observed"):
        _await_users(progress, 40, deadline=clock.now().monotonic + 0.3)


# -- the two verdicts ----------------------------------------------------------------------------------------


def test_an_instrument_that_lagged_everywhere_leaves_the_platform_grade_and_makes_the_evidence_incomplete():
    lagging = instrument(degraded_s=12.0, degraded=[Span(start=60.0, end=72.0)])
    runs = [record(name, measurements=measurements(instrument=lagging)) for name in ("a", "b")]
    clean = score(drill_run(*[record(name) for name in ("a", "b")]), OBJECTIVES, [])
    report = score(drill_run(*runs), OBJECTIVES, [])
    assert report.score == clean.score and report.grade == clean.grade == "A"
    assert report.status == "incomplete" and report.evidence.verdict == "incomplete"
    assert any("instrument" in g.reason for g in report.evidence.gaps)


def test_a_drill_that_measured_nothing_has_no_platform_grade():
    report = score(drill_run(record(measurements=None, status="activity failed")), OBJECTIVES, [])
    assert report.score is None and report.grade is None and report.evidence.coverage == 0
    assert report.platform.startswith("no experiment produced a figure about the platform")


def test_observed_harm_still_fails_the_platform_whatever_the_evidence():
    lost = record("region-partition", measurements=measurements(rpo=rpo(seconds=4000.0, lost=900)))
    unmeasured = record("app-latency", measurements=measurements(budget=Budget(availability=None, errors=0,
                                                                                latency=0)))
    report = score(drill_run(lost, unmeasured), OBJECTIVES, [])
    assert report.status == "failed" and report.grade in ("C", "D", "F")
    assert report.evidence.verdict == "incomplete"


# -- a gap never hides an observed failure, and the instrument's blindness is never the platform's ----------


def _full_ledger(seconds: int):
    writes = [Write("w0", n, raw.at(n * 0.1), raw.at(n * 0.1), raw.at(n * 0.1 + 0.01)) for n in range(seconds * 10)]
    return writes, {"w0": set(range(seconds * 10))}


def test_an_rto_beyond_the_objective_is_not_hidden_by_a_fault_not_measured_beside_it():
    slow = timeline(rto=Bounds(lower=14500.0, upper=15000.0))
    blind = timeline(fault=slow.fault.model_copy(update={"activity": "isolate-replica"}), status="not measured",
                     rto=None, incident=None)
    report = score(drill_run(record(measurements=measurements(timelines=[slow, blind]))), OBJECTIVES, [])
    run = report.experiments[0].runs[0]
    assert gate(run, "rto").verdict == "not met" and report.status == "failed"
    assert any(d.reason.startswith("worst RTO upper bound") and d.points == 10 for d in run.deductions)
    assert row(report, "RTO").verdict == "not met"
    assert any("beside its failure, not measured" in why for why in run.unjudged)


def test_a_restore_refused_by_its_own_checks_is_a_platform_failure_not_a_gap():
    from drillkit.model.backup import PhaseMark, RestoreCheck, RestoreRecord

    record_ = RestoreRecord(
        activity="restore_point_in_time", mode="point in time", t0_issued=raw.at(20.0), t0_confirmed=raw.at(20.1),
        t0_utc="2026-11-20T10:00:20+00:00", recovery_target="2026-11-20T10:00:20+00:00",
        phases=[PhaseMark(name="restore started", lower=raw.at(20.2), upper=raw.at(20.3))],
        checks=[RestoreCheck(name="WAL chain continuous", ok=False, detail="gap at 000000010000000000000007")],
        finished=True, error="BackupError: the restored copy failed its checks: it is not put in service")
    refused = restore_measure.measured(record_, [])
    assert refused.status == "measured" and refused.rto is None
    report = score(drill_run(record("restore", measurements=measurements(restores=[refused], rpo=None))),
                   OBJECTIVES, [])
    run = report.experiments[0].runs[0]
    assert gate(run, "restore_checks").verdict == "not met" and gate(run, "rto").verdict == "not met"
    assert report.status == "failed"


def test_an_incident_the_instrument_never_saw_end_is_not_a_platform_failure():
    writes, stored = _full_ledger(140)
    blind = raw.run(raw.user_path(0, 60) + raw.user_path(60, 80, ok=False), faults=[raw.fault(60)], ended=140,
                    writes=writes, stored=stored, rollbacks=(100, 101))
    report = score(drill_run(record(measurements=blind)), OBJECTIVES, [])
    assert gate(report.experiments[0].runs[0], "steady_state").verdict == "not measured"
    assert report.status == "incomplete"


def test_an_incident_right_after_a_blind_stretch_at_the_fault_is_not_called_unexplained():
    writes, stored = _full_ledger(160)
    blind = raw.run(raw.user_path(0, 60) + raw.user_path(95, 105, ok=False) + raw.user_path(105, 160),
                    faults=[raw.fault(60)], ended=160, writes=writes, stored=stored, rollbacks=(130, 131))
    assert blind.incidents[0].attributed_to is None
    steady = gate(score(drill_run(record(measurements=blind)), OBJECTIVES, []).experiments[0].runs[0], "steady_state")
    assert steady.verdict == "not measured" and "observed nothing from 60.0 s" in steady.reason


def test_an_invalid_baseline_is_a_gap_in_the_evidence():
    short = baseline(duration_s=15.0, series=series(bad=(), seconds=12))
    report = score(drill_run(record(), baseline=short), OBJECTIVES, [])
    assert report.status == "invalid" and report.evidence.verdict == "incomplete"
    assert report.evidence.gaps[0].what == "baseline"


def test_a_failed_backup_policy_is_said_even_when_no_experiment_was_judged():
    from tests.unit.drill_runs import failed_item

    run = drill_run(record(measurements=None, status="activity failed"), backup_time_scale=60.0,
                    backup_check=failed_item("encryption at rest", "plaintext"))
    report = score(run, OBJECTIVES, [])
    assert report.status == "failed" and report.score is None and "backup policy" in report.platform
