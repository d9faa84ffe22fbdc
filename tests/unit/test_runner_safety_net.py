"""The safety net after a run heals that run's open faults only: another run's are `drillkit recover`'s."""

from __future__ import annotations

from drillkit.drill.runner import run_experiment
from drillkit.faultlog import FaultLog
from drillkit.model.target import load_target
from drillkit.validation import plan_run

from .test_cli_exit_codes import _target


def _quick_experiment(tmp_path):
    path = tmp_path / "quick.yaml"
    path.write_text(
        "title: quick\ndescription: nothing is injected\ntags: [test]\n"
        "steady-state-hypothesis:\n  title: always\n  probes:\n"
        "    - {type: probe, name: 'true', tolerance: 0, provider: {type: process, path: 'true'}}\n"
        "method:\n  - {type: action, name: nothing, provider: {type: process, path: 'true'}}\n")
    return path


def test_another_runs_open_fault_is_left_to_recover_and_does_not_fail_this_run(tmp_path):
    target_file = _target(tmp_path)
    faults = FaultLog(load_target(target_file).fault_log)
    faults.opened("pause_app", "resume_app", {"region": "region-a"}, "an-older-run")

    result = run_experiment(plan_run(_quick_experiment(tmp_path), target_file), tmp_path / "out", run_id="this-run")

    assert result.status == "completed" and result.exit_code == 0
    assert result.healed_by_safety_net == [] and result.left_open == []
    assert [f.run_id for f in faults.open_faults()] == ["an-older-run"]
    assert result.journal["drillkit"]["run_id"] == "this-run"
    assert result.journal["drillkit"]["faults"] == []  # the older run's fault is not this run's mark


def test_the_runs_own_open_fault_is_healed_by_the_safety_net_or_named_as_left_open(tmp_path):
    target_file = _target(tmp_path)
    faults = FaultLog(load_target(target_file).fault_log)
    faults.opened("pause_app", "resume_app", {"region": "region-a"}, "this-run")  # its rollback never ran

    result = run_experiment(plan_run(_quick_experiment(tmp_path), target_file), tmp_path / "out", run_id="this-run")

    assert result.left_open == ["pause_app"]  # no sandbox here: the heal fails, and says so
    assert result.status == "rollback failed" and result.exit_code == 3
