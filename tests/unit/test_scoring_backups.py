"""Scoring restores and the backup policy: a restore's RTO and RPO join their gates and objective rows,
its checks make a gate of their own, and a backup policy that did not hold (or was not checked) costs
the drill points and its pass (docs/scoring.md, "Backups")."""

from __future__ import annotations

from drillkit.model.backup import RestoreCheck
from drillkit.model.measurements import Bounds
from drillkit.model.objectives import Objectives
from drillkit.score import score
from drillkit.score.backups import POLICY
from drillkit.score.deductions import RTO_CAP
from tests.unit.drill_runs import (
    drill_run,
    failed_item,
    incident,
    measurements,
    policy_check,
    record,
    restore,
    rpo,
    timeline,
)

OBJECTIVES = Objectives()


def restore_drill(*restores, **update):
    """A drill of one restore experiment (its fault had its own timeline and ledger) on a sandbox
    whose backups run policy hours as real minutes, with a policy check that held."""
    run = record("bad-migration-restore", measurements=measurements(restores=list(restores or [restore()])))
    defaults = {"backup_check": policy_check(), "backup_time_scale": 60.0}
    return score(drill_run(run, **{**defaults, **update}), OBJECTIVES, [])


def gate(report, name):
    run = report.experiments[0].runs[0]
    return next((g for g in run.gates if g.name == name), None)


def row(report, name):
    return next(r for r in report.objectives if r.name == name)


def deduction(report, starts):
    run = report.experiments[0].runs[0]
    return next((d for d in run.deductions if d.reason.startswith(starts)), None)


def test_a_restore_that_served_within_the_objective_and_proved_itself_passes_everything():
    report = restore_drill()
    assert report.status == "passed", report.status_reason
    assert gate(report, "restore_checks").verdict == "met"
    assert "bad-migration-restore" in row(report, "RTO (restores)").measured
    assert report.backups.policy == "met"
    assert [r.rto for r in report.backups.restores] == ["met"]


def test_a_restore_slower_than_the_rto_objective_fails_the_rto_gate_and_row_naming_the_restore():
    report = restore_drill(restore(rto=Bounds(lower=15000.0, upper=15100.0)))
    assert gate(report, "rto").verdict == "not met"
    assert "bad-migration-restore: restore RTO" in gate(report, "rto").reason
    assert row(report, "RTO (restores)").verdict == "not met"
    assert row(report, "RTO (restores)").value == 15100.0
    assert report.status == "failed"


def test_a_restored_copy_that_never_served_fails_the_rto_gate_and_costs_the_rto_cap():
    report = restore_drill(restore(rto=None, phases=restore().phases[:2]))
    assert gate(report, "rto").verdict == "not met"
    assert "never served (last phase reached: base backup restored)" in gate(report, "rto").reason
    assert row(report, "RTO (restores)").verdict == "not met"
    assert deduction(report, "a restored copy never served").points == RTO_CAP


def test_a_restore_not_measured_makes_rto_rpo_and_checks_not_measured_and_gaps_in_the_evidence():
    report = restore_drill(restore(status="not measured", reason="restore.json was never written", rto=None,
                                   rpo=None, checks=[]))
    for name in ("rto", "rpo", "restore_checks"):
        assert gate(report, name).verdict == "not measured", name
        assert "bad-migration-restore" in gate(report, name).reason
    assert row(report, "RTO (restores)").verdict == "not measured"
    assert row(report, "RPO (restores)").verdict == "not measured"
    assert deduction(report, "RTO: not measured") is None
    assert deduction(report, "lost acknowledged writes: not measured") is None
    unjudged = report.experiments[0].runs[0].unjudged
    assert any(why.startswith("gate rto not measured") for why in unjudged)
    assert "lost acknowledged writes: not measured" in unjudged
    assert report.status == "incomplete" and report.evidence.verdict == "incomplete"


def test_a_restores_rpo_is_judged_against_the_objective_at_the_backups_time_scale():
    slow = restore(rpo=rpo(seconds=75.0, lost=30))  # 75 real seconds: 75 policy minutes at time scale 60
    scaled = restore_drill(slow)
    assert gate(scaled, "rpo").verdict == "not met"
    assert "bad-migration-restore: restore RPO 75.0 s" in gate(scaled, "rpo").reason
    assert "1 h (60.0 s at time scale 60)" in gate(scaled, "rpo").reason
    assert row(scaled, "RPO (restores)").verdict == "not met"
    assert row(scaled, "RPO (restores)").value == 75.0
    real_time = restore_drill(slow, backup_check=policy_check(time_scale=1.0), backup_time_scale=1.0)
    assert gate(real_time, "rpo").verdict == "met"


def test_a_restores_rpo_at_least_never_meets_the_gate():
    report = restore_drill(restore(rpo=rpo(seconds=5.0, at_least=True, lost=300)))
    assert gate(report, "rpo").verdict == "not met"
    assert "at least" in gate(report, "rpo").reason


def test_a_restore_drill_without_a_ledger_of_its_own_takes_its_rpo_from_the_restore():
    run = record("restore-from-incremental", measurements=measurements(rpo=None, restores=[
        restore(activity="restore-from-incremental", mode="backups only", rpo=rpo(seconds=41.0))]))
    report = score(drill_run(run, backup_check=policy_check(), backup_time_scale=60.0), OBJECTIVES, [])
    assert gate(report, "rpo").verdict == "met"
    assert row(report, "RPO (restores)").verdict == "met"
    assert row(report, "RPO (restores)").measured.startswith("41.0 s (restore-from-incremental")


def test_a_failed_restore_check_fails_the_restore_checks_gate_with_the_check_named():
    checks = [*restore().checks[:3], RestoreCheck(name="pg_verifybackup", ok=False, detail="base/5/1259: checksum")]
    report = restore_drill(restore(checks=checks))
    assert gate(report, "restore_checks").verdict == "not met"
    assert "pg_verifybackup failed (base/5/1259: checksum)" in gate(report, "restore_checks").reason
    assert report.status == "failed"
    assert any("did not prove itself whole" in f.text for f in report.findings)


def test_writes_after_the_recovery_target_in_the_copy_fail_the_restore_checks_gate():
    report = restore_drill(restore(after_target_present=3))
    assert gate(report, "restore_checks").verdict == "not met"
    assert "3 writes acknowledged after the recovery target are in the copy" in gate(report, "restore_checks").reason


def test_a_restore_that_recorded_no_checks_proves_nothing():
    report = restore_drill(restore(checks=[]))
    assert gate(report, "restore_checks").verdict == "not measured"


def test_a_run_without_restores_has_no_restore_checks_gate():
    report = score(drill_run(record()), OBJECTIVES, [])
    assert gate(report, "restore_checks") is None
    assert report.backups is None


def test_writes_missing_from_a_restored_copy_join_the_lost_writes_deduction():
    report = restore_drill(restore(rpo=rpo(seconds=0.4, lost=50)))
    assert deduction(report, "50 acknowledged writes lost").harm == 50


def test_a_backup_policy_that_did_not_hold_costs_five_points_a_rule_and_fails_the_drill():
    check = failed_item("WAL continuity", "gap after 000000010000000000000007",
                        failed_item("encryption at rest", "marker found in plaintext in base/1/data.tar"))
    report = restore_drill(backup_check=check)
    policy = next(d for d in report.deductions if d.experiment == POLICY)
    assert policy.points == 10
    assert report.score == round(100 - sum(d.points for d in report.deductions), 2)
    assert report.status == "failed" and "backup policy not met" in report.status_reason
    assert report.backups.policy == "not met"
    finding = next(f for f in report.findings if f.text == "the backups did not hold their policy")
    assert "encryption at rest: marker found in plaintext" in finding.cause
    assert "WAL continuity: gap after" in finding.cause


def test_a_backup_policy_that_could_not_be_checked_is_a_gap_in_the_evidence_not_a_deduction():
    report = restore_drill(backup_check=None, backup_check_error="barman: connection refused on 127.0.30.1")
    assert all(d.experiment != POLICY for d in report.deductions)
    assert report.status == "incomplete"
    assert any(g.what == "backup policy" and "connection refused" in g.reason for g in report.evidence.gaps)
    assert report.backups.policy == "not measured"
    assert "connection refused" in report.backups.reason
    assert any(f.severity == "not measured" and "backup policy" in f.text for f in report.findings)


def test_a_target_with_backups_and_no_check_recorded_is_not_measured():
    report = restore_drill(backup_check=None, backup_check_error=None, backup_time_scale=60.0)
    assert report.backups.policy == "not measured"
    assert report.status == "incomplete"


def test_a_target_without_backups_owes_no_policy():
    report = score(drill_run(record()), OBJECTIVES, [])
    assert report.status == "passed"
    assert all(d.experiment != POLICY for d in report.deductions)


def test_the_time_scale_is_said_plainly():
    assert restore_drill().backups.time_scale_note == "policy hours run as real minutes in this sandbox (time scale 60)"


def test_the_drill_score_never_falls_below_zero():
    failing = [rpo(seconds=900.0, lost=5000)]
    broken = [record(f"exp-{n}", measurements=measurements(timelines=[timeline(status="not recovered", rto=Bounds(
        lower=300, upper=None))], rpo=failing[0], incidents=[incident(end=None, flaps=9)]), rollbacks_ok=False)
        for n in range(2)]
    report = score(drill_run(*broken), OBJECTIVES, [])
    assert sum(d.points for d in report.experiments[0].runs[0].deductions) > 100
    assert report.score == 0 and report.experiments[0].score == 0


def test_the_rpo_row_says_a_restores_rpo_was_judged_at_the_backups_time_scale():
    """41 real seconds at time scale 60 are 41 policy minutes: shown bare beside "< 1 h" they read as a
    forty-second RPO, ninety times inside the objective, when it used two thirds of it."""
    run = record("restore-from-incremental", measurements=measurements(rpo=None, restores=[
        restore(activity="restore-from-incremental", mode="backups only", rpo=rpo(seconds=41.0))]))
    report = score(drill_run(run, backup_check=policy_check(), backup_time_scale=60.0), OBJECTIVES, [])
    shown = row(report, "RPO (restores)")
    assert "scale 60" in shown.measured or "scale 60" in shown.target
