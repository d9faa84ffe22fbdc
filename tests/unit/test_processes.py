"""Detached processes: started in their own group, tracked by pid and start time, always stopped."""

from __future__ import annotations

import json
import os
import sys

import psutil

from drillkit import processes


def _sleeper(tmp_path, seconds: int = 60) -> processes.Launch:
    return processes.Launch(
        name="sleeper",
        argv=[sys.executable, "-c", f"import time; print('up', flush=True); time.sleep({seconds})"],
        env=dict(os.environ), cwd=tmp_path, log=tmp_path / "logs" / "sleeper.log",
    )


def test_a_started_process_runs_in_its_own_session_and_is_stopped(tmp_path):
    pid_file = tmp_path / "run" / "sleeper.pid"
    tracked = processes.start(_sleeper(tmp_path), pid_file)
    try:
        assert processes.running(pid_file).pid == tracked.pid
        assert os.getsid(tracked.pid) == tracked.pid
    finally:
        processes.stop(pid_file, grace_s=5)
    assert processes.running(pid_file) is None
    assert not pid_file.exists()


def test_a_process_that_ignores_sigterm_is_killed_after_the_grace_period(tmp_path):
    launch = processes.Launch(
        name="stubborn",
        argv=[sys.executable, "-c",
              "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); time.sleep(60)"],
        env=dict(os.environ), cwd=tmp_path, log=tmp_path / "stubborn.log",
    )
    pid_file = tmp_path / "stubborn.pid"
    tracked = processes.start(launch, pid_file)
    processes.stop(pid_file, grace_s=0.5)
    assert tracked.process() is None


def test_a_recycled_pid_is_never_taken_for_a_sandbox_process(tmp_path):
    pid_file = tmp_path / "recycled.pid"
    me = psutil.Process()
    pid_file.write_text(json.dumps({"pid": me.pid, "started_at": me.create_time() - 1000}))
    assert processes.running(pid_file) is None
    processes.stop(pid_file)  # must not signal this test process
    assert me.is_running()


def test_a_missing_or_garbled_pid_file_means_not_running(tmp_path):
    assert processes.running(tmp_path / "absent.pid") is None
    garbled = tmp_path / "garbled.pid"
    garbled.write_text("not json")
    assert processes.running(garbled) is None


def test_log_tail_shows_the_last_lines(tmp_path):
    log = tmp_path / "x.log"
    log.write_text("\n".join(f"line {n}" for n in range(100)))
    assert processes.log_tail(log, lines=2) == "line 98\nline 99"
    assert processes.log_tail(tmp_path / "missing.log") == "(no log)"
