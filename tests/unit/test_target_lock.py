"""One run per target: the lock names its holder, refuses a second run, and is taken over (with the
dead holder's open faults reported) when its holder was killed."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import psutil
import pytest

from drillkit.errors import EXIT_ABORTED, TargetBusy
from drillkit.faultlog import FaultLog
from drillkit.lock import holder_of, lock_path, target_lock
from drillkit.model.target import Target

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def target(tmp_path) -> Target:
    return Target.model_validate({
        "name": "t", "kind": "sandbox", "driver": {"type": "process", "state_dir": str(tmp_path)},
        "endpoint": "http://127.0.0.1:1",
        "regions": {
            name: {"address": f"127.0.{i}0.1",
                   "app": {"component": f"app-{i}", "url": f"http://127.0.{i}0.1:1"},
                   "database": {"component": f"pg-{i}", "patroni_api": f"http://127.0.{i}0.1:2"}}
            for i, name in ((1, "region-a"), (2, "region-b"))
        },
    })


def _hold_in_another_process(target: Target, run_id: str) -> subprocess.Popen:
    """A process that takes the lock and then waits (for a kill)."""
    code = textwrap.dedent(f"""
        import sys, time
        from drillkit.lock import target_lock
        from drillkit.model.target import Target
        target = Target.model_validate_json({target.model_dump_json()!r})
        with target_lock(target, {run_id!r}, command="holder"):
            print("held", flush=True)
            time.sleep(60)
    """)
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True,
                            env={**os.environ, "PYTHONPATH": str(ROOT / "src")})
    assert proc.stdout.readline().strip() == "held"
    return proc


def test_the_lock_names_its_holder_and_a_clean_end_leaves_no_name(target):
    with target_lock(target, "run-1", command="drillkit run x.yaml") as taken:
        holder = holder_of(target)
        assert (holder.pid, holder.run_id, holder.command) == (os.getpid(), "run-1", "drillkit run x.yaml")
        assert taken.previous is None
    assert holder_of(target) is None


def test_a_second_run_is_refused_with_the_holder_named_and_exit_3(target):
    holder = _hold_in_another_process(target, "run-1")
    try:
        with pytest.raises(TargetBusy, match=rf"run run-1 \(pid {holder.pid}") as refused, \
                target_lock(target, "run-2"):
            pass
        assert refused.value.exit_code == EXIT_ABORTED
        assert holder_of(target).run_id == "run-1"  # the refusal did not touch the holder's name
    finally:
        holder.kill()
        holder.wait()


def test_a_killed_holder_is_taken_over_and_its_open_faults_are_reported(target):
    holder = _hold_in_another_process(target, "run-1")
    FaultLog(target.fault_log).opened("kill_app", "restart_app", {"region": "region-a"}, "run-1/exp-1")
    FaultLog(target.fault_log).opened("pause_app", "resume_app", {"region": "region-b"}, "run-0")
    holder.kill()
    holder.wait()
    with target_lock(target, "run-2") as taken:
        assert taken.previous.run_id == "run-1"
        assert [f.fault for f in taken.inherited] == ["kill_app"]  # the dead run's, not older ones
        assert holder_of(target).run_id == "run-2"


def test_a_live_holder_named_in_a_recreated_file_is_never_taken_over(target):
    me = psutil.Process()
    lock_path(target).parent.mkdir(parents=True, exist_ok=True)
    sleeper = subprocess.Popen(["sleep", "30"])
    try:
        lock_path(target).write_text(json.dumps({
            "pid": sleeper.pid, "process_started": psutil.Process(sleeper.pid).create_time(),
            "run_id": "run-1", "started_utc": "now", "command": "drillkit drill"}))
        with pytest.raises(TargetBusy, match="still running"), target_lock(target, "run-2"):
            pass
    finally:
        sleeper.kill()
        sleeper.wait()
    assert me.is_running()


def test_a_reused_pid_does_not_keep_the_lock(target):
    lock_path(target).parent.mkdir(parents=True, exist_ok=True)
    lock_path(target).write_text(json.dumps({
        "pid": os.getppid(), "process_started": 1.0,  # a live pid, but not the process that held it
        "run_id": "run-1", "started_utc": "then", "command": "drillkit run"}))
    with target_lock(target, "run-2") as taken:
        assert taken.previous.run_id == "run-1"


def test_the_lock_is_re_entrant_within_one_process(target):
    with target_lock(target, "drill-1"):
        with target_lock(target, "drill-1/exp-1") as inner:
            assert inner.nested and inner.holder.run_id == "drill-1"
        assert holder_of(target).run_id == "drill-1"  # the inner run did not release the drill's lock


def test_a_lock_kept_by_a_process_its_dead_holder_left_behind_is_named_as_such(target):
    """A child forked while the lock was held shares it; the holder's death alone does not free it."""
    code = textwrap.dedent(f"""
        import os, sys, time
        from drillkit.lock import target_lock
        from drillkit.model.target import Target
        target = Target.model_validate_json({target.model_dump_json()!r})
        with target_lock(target, "run-1"):
            if os.fork() == 0:
                time.sleep(30)
                os._exit(0)
            print("held", flush=True)
            time.sleep(60)
    """)
    holder = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True,
                              env={**os.environ, "PYTHONPATH": str(ROOT / "src")})
    assert holder.stdout.readline().strip() == "held"
    child = next(p for p in psutil.Process(holder.pid).children())
    holder.kill()
    holder.wait()
    try:
        with pytest.raises(TargetBusy, match="has ended: a process it left behind holds the lock"), \
                target_lock(target, "run-2"):
            pass
    finally:
        child.kill()
