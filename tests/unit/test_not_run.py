"""An experiment its target cannot serve (a restore on a target with no backup server) is recorded as
not run: it measured nothing, so it earns nothing and fails the drill, and the report says why."""

from __future__ import annotations

from pathlib import Path

import yaml

from drillkit.model.needs import lacking
from drillkit.model.objectives import Objectives
from drillkit.model.target import Target
from drillkit.score import score
from tests.unit.drill_runs import drill_run, record
from tests.unit.targets import unreachable_target_spec

RESTORE = yaml.safe_load(Path("experiments/restore-from-incremental.yaml").read_text())
PARTITION = yaml.safe_load(Path("experiments/region-partition.yaml").read_text())
BACKUPS = {"barman": "/usr/bin/barman", "barman_config": "/etc/barman.conf", "server": "feedhub",
           "database": {"env": "BACKUP_DSN"}}


def test_a_restore_is_lacking_on_a_target_without_a_backup_server(tmp_path):
    target = Target.model_validate(unreachable_target_spec(tmp_path))
    assert "has no backup server" in lacking(target, RESTORE)
    assert lacking(target, PARTITION) is None


def test_a_restore_is_not_lacking_where_the_backups_are(tmp_path):
    target = Target.model_validate({**unreachable_target_spec(tmp_path), "backups": BACKUPS})
    assert lacking(target, RESTORE) is None


def test_an_experiment_not_run_earns_nothing_and_leaves_the_drill_incomplete():
    not_run = record("restore-from-incremental", status="not run", steady_state_ok=False, measurements=None,
                     causes=["not run: it restores backups and target 'docker' has no backup server"])
    report = score(drill_run(record(), not_run), Objectives(), [])
    skipped = next(e for e in report.experiments if e.name == "restore-from-incremental")
    assert skipped.score is None and skipped.status == "not run" and not skipped.passed
    assert report.status == "incomplete" and report.exit_code() == 1
    assert report.score == report.experiments[0].score and report.evidence.verdict == "incomplete"
    assert report.evidence.run == 1
    assert any("no backup server" in (f.cause or "") for f in report.findings)


def test_the_objective_rows_describe_what_ran():
    not_run = record("restore-from-incremental", status="not run", steady_state_ok=False, measurements=None,
                     causes=["not run: it restores backups and target 'docker' has no backup server"])
    rows = {row.name: row for row in score(drill_run(record(), not_run), Objectives(), []).objectives}
    alone = {row.name: row for row in score(drill_run(record()), Objectives(), []).objectives}
    assert {name: row.verdict for name, row in rows.items()} == {name: row.verdict for name, row in alone.items()}
    assert all(row.verdict != "not measured" for row in rows.values())


def test_the_verdict_says_an_experiment_was_not_run_rather_than_that_it_failed_a_gate():
    not_run = record("restore-from-incremental", status="not run", steady_state_ok=False, measurements=None,
                     causes=["not run: it restores backups and target 'docker' has no backup server"])
    reason = score(drill_run(record(), not_run), Objectives(), []).status_reason
    assert "restore-from-incremental not run" in reason and "failed a gate" not in reason
