"""`drillkit recover` through the real command line: one run's faults with --run, each named with its
run, and never under a live run's feet."""

from __future__ import annotations

from drillkit.faultlog import FaultLog
from drillkit.model.target import load_target

from .test_cli_exit_codes import _drillkit, _target
from .test_target_lock import _hold_in_another_process


def test_recover_with_run_tries_only_that_runs_faults_and_names_their_run(tmp_path):
    target_file = _target(tmp_path)
    faults = FaultLog(load_target(target_file).fault_log)
    faults.opened("pause_app", "resume_app", {"region": "region-a"}, "run-1")
    faults.opened("kill_app", "restart_app", {"region": "region-b"}, "run-2")

    result = _drillkit("recover", "--target", str(target_file), "--run", "run-1", cwd=tmp_path)

    assert result.returncode == 3  # no sandbox here: the heal fails and the fault stays open
    assert "pause_app (run run-1" in result.stdout and "NOT healed" in result.stdout
    assert "kill_app" not in result.stdout
    assert "0 fault(s) of run run-1 healed, 1 left open" in result.stdout
    assert [f.run_id for f in faults.open_faults()] == ["run-1", "run-2"]


def test_recover_with_nothing_open_exits_0(tmp_path):
    result = _drillkit("recover", "--target", str(_target(tmp_path)), cwd=tmp_path)
    assert result.returncode == 0 and "0 fault(s) healed, 0 left open" in result.stdout


def test_recover_is_refused_while_a_live_run_holds_the_target(tmp_path):
    target_file = _target(tmp_path)
    holder = _hold_in_another_process(load_target(target_file), "run-live")
    try:
        result = _drillkit("recover", "--target", str(target_file), cwd=tmp_path)
    finally:
        holder.kill()
        holder.wait()
    assert result.returncode == 3
    assert f"run run-live (pid {holder.pid}" in " ".join(result.stderr.split())
