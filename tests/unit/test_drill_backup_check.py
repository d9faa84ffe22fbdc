"""The drill checks the backup policy after its experiments, when the target has backups: the check's
result is kept in results.json; a check that cannot run leaves its reason instead; the dry run says so.
The check itself (drillkit.backup.check.check_policy) is replaced here: no backup server runs."""

from __future__ import annotations

import sys
import types
from pathlib import Path

import pytest
from rich.console import Console

from drillkit.drill import drill as drill_module
from drillkit.drill.progress import DrillProgress
from drillkit.errors import Aborted
from drillkit.model.result import DrillRun
from drillkit.validation import plan_drill
from tests.unit.drill_runs import policy_check

RUN_ID = "20261120T095800Z-ab12"


@pytest.fixture
def checked(monkeypatch) -> list[tuple]:
    """check_policy replaced by a recorder: (target name, policy path) per call; it returns a held check."""
    calls: list[tuple] = []

    def check_policy(target, policy_path=None, progress=print):
        calls.append((target.name, policy_path))
        progress("[/policy] checked")  # markup-like text reaches the console as text, not as markup
        return policy_check()

    install_check(monkeypatch, check_policy)
    return calls


def install_check(monkeypatch, check_policy) -> None:
    module = types.ModuleType("drillkit.backup.check")
    module.check_policy = check_policy
    try:
        import drillkit.backup  # noqa: F401 - the real package, when it is installed
    except ImportError:
        monkeypatch.setitem(sys.modules, "drillkit.backup", types.ModuleType("drillkit.backup"))
    monkeypatch.setitem(sys.modules, "drillkit.backup.check", module)


@pytest.fixture
def plan(tmp_path, monkeypatch):
    """The quarterly drill against the sandbox target (which has backups), its lock in TMP_PATH, with the
    baseline and the experiments replaced by nothing."""
    planned = plan_drill(Path("drills/quarterly.yaml"))
    monkeypatch.setattr(drill_module, "_baseline", lambda *args: None)
    monkeypatch.setattr(drill_module, "_experiments", lambda *args: None)
    target = planned.target.model_copy(update={"state_dir": tmp_path / "state", "notify": None})
    return planned.model_copy(update={"target": target})


def progress() -> DrillProgress:
    return DrillProgress(Console(file=open("/dev/null", "w")), 60)  # noqa: SIM115 - closed with the process


def test_the_drill_checks_the_backup_policy_after_the_experiments_and_keeps_it(plan, checked, tmp_path):
    result = drill_module.run_drill(plan, tmp_path / "run", progress(), run_id=RUN_ID)
    assert checked == [("sandbox", None)]
    assert result.backup_check == policy_check()
    assert result.backup_time_scale == 60
    saved = DrillRun.load(tmp_path / "run")
    assert saved.backup_check == policy_check() and saved.backup_check_error is None


@pytest.mark.parametrize("error", [Aborted("barman: server feedhub is not reachable"), OSError("connection refused")])
def test_a_check_that_cannot_run_leaves_its_reason_and_no_result(plan, monkeypatch, tmp_path, error):
    def unreachable(target, policy_path=None, progress=print):
        raise error

    install_check(monkeypatch, unreachable)
    result = drill_module.run_drill(plan, tmp_path / "run", progress(), run_id=RUN_ID)
    assert result.backup_check is None
    assert result.backup_check_error == f"{type(error).__name__}: {error}"
    assert DrillRun.load(tmp_path / "run").backup_check_error == result.backup_check_error


def test_a_target_without_backups_is_not_checked(plan, checked, tmp_path):
    plan = plan.model_copy(update={"target": plan.target.model_copy(update={"backups": None})})
    result = drill_module.run_drill(plan, tmp_path / "run", progress(), run_id=RUN_ID)
    assert checked == [] and result.backup_check is None and result.backup_time_scale is None


def test_an_interrupted_drill_does_not_check_the_policy_and_says_why(plan, checked, monkeypatch, tmp_path):
    def interrupted(*args):
        raise KeyboardInterrupt

    monkeypatch.setattr(drill_module, "_experiments", interrupted)
    result = drill_module.run_drill(plan, tmp_path / "run", progress(), run_id=RUN_ID)
    assert result.aborted and checked == []
    assert result.backup_check_error.startswith("the drill ended before the policy was checked (interrupted")


def test_a_drill_a_stop_condition_aborted_does_not_check_the_policy(plan, checked, monkeypatch, tmp_path):
    def stopped(plan, run_dir, progress, result):
        result.aborted = "ABORTED by stop condition error-rate"

    monkeypatch.setattr(drill_module, "_experiments", stopped)
    result = drill_module.run_drill(plan, tmp_path / "run", progress(), run_id=RUN_ID)
    assert checked == []
    assert "ABORTED by stop condition error-rate" in result.backup_check_error


def test_the_dry_run_says_the_backup_policy_will_be_checked(plan):
    lines = drill_module.outline(plan)
    assert any("the backup policy drills/backup-policy.yaml is checked on backup server feedhub (time scale 60)"
               in line for line in lines)
    without = plan.model_copy(update={"target": plan.target.model_copy(update={"backups": None})})
    assert not any("backup policy" in line for line in drill_module.outline(without))
