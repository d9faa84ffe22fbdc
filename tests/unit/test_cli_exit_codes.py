"""Exit codes through the real command line (a subprocess each): 2 invalid input, 3 a crash (one line,
no traceback), 3 Ctrl-C or SIGTERM in the middle of a run, with the rollbacks played."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from tests.unit.targets import unreachable_target_spec

ROOT = Path(__file__).resolve().parents[2]
ENV = {**os.environ, "PYTHONPATH": str(ROOT / "src")}


def _drillkit(*args: str, cwd: Path, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "drillkit", *args], capture_output=True, text=True,
                          cwd=cwd, env={**ENV, **(env or {})}, timeout=120, check=False)


def test_an_unknown_flag_exits_2(tmp_path):
    assert _drillkit("recover", "--no-such-flag", cwd=tmp_path).returncode == 2


def test_an_invalid_experiment_exits_2_and_touches_nothing(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("title: t\nmethod: 3\n")
    result = _drillkit("run", str(bad), "--target", str(_target(tmp_path)), "--out", str(tmp_path / "o"),
                       cwd=tmp_path)
    assert result.returncode == 2, result.stderr
    assert not (tmp_path / "state" / "faults.jsonl").exists()


def test_an_unexpected_exception_exits_3_with_one_line_and_the_traceback_kept(tmp_path):
    code = ("import sys, drillkit.model.schemas as s, drillkit.cli as cli\n"
            "def boom(out_dir):\n    raise RuntimeError('disk\\non fire')\n"
            "s.write_all = boom\nsys.argv = ['drillkit', 'schemas', '--out', 'x']\ncli.main()\n")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=tmp_path,
                            env=ENV, timeout=60, check=False)
    assert result.returncode == 3
    (line,) = result.stderr.strip().splitlines()
    assert "RuntimeError: disk on fire" in line and "Traceback" not in result.stderr
    kept = Path(line.split("traceback in ")[1].split(";")[0])
    assert "Traceback" in kept.read_text()
    kept.unlink()


def test_drillkit_debug_prints_the_traceback(tmp_path):
    code = ("import sys, drillkit.model.schemas as s, drillkit.cli as cli\n"
            "def boom(out_dir):\n    raise RuntimeError('boom')\n"
            "s.write_all = boom\nsys.argv = ['drillkit', 'schemas']\ncli.main()\n")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=tmp_path,
                            env={**ENV, "DRILLKIT_DEBUG": "1"}, timeout=60, check=False)
    assert result.returncode == 3 and "Traceback" in result.stderr


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_a_signal_in_the_middle_of_a_run_plays_the_rollbacks_and_exits_3(tmp_path, signum):
    experiment = _sleeping_experiment(tmp_path)
    proc = subprocess.Popen(
        [sys.executable, "-m", "drillkit", "run", str(experiment), "--target", str(_target(tmp_path)),
         "--out", str(tmp_path / "out")],
        cwd=tmp_path, env=ENV, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    _wait_for(tmp_path / "started", proc)
    proc.send_signal(signum)
    stdout, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 3, stderr
    assert (tmp_path / "rolled-back").exists()
    assert "interrupted" in stdout + stderr


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_a_signal_outside_chaoslib_exits_3_not_130(tmp_path, signum):
    """A command that is not running an experiment (here `schemas`, made slow) is interrupted too."""
    code = ("import os, signal, sys, drillkit.cli as cli, drillkit.model.schemas as s\n"
            "def wait(out_dir):\n    open('started', 'w').close()\n    import time; time.sleep(30)\n"
            "s.write_all = wait\nsys.argv = ['drillkit', 'schemas']\ncli.main()\n")
    proc = subprocess.Popen([sys.executable, "-c", code], cwd=tmp_path, env=ENV, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    _wait_for(tmp_path / "started", proc)
    proc.send_signal(signum)
    proc.communicate(timeout=30)
    assert proc.returncode == 3


def _wait_for(path: Path, proc: subprocess.Popen) -> None:
    deadline = time.monotonic() + 60
    while not path.exists():
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < deadline, "the run never started its method"
        time.sleep(0.05)
    time.sleep(0.3)  # inside the sleep now


def _target(tmp_path: Path) -> Path:
    path = tmp_path / "target.yaml"
    path.write_text(yaml.safe_dump(unreachable_target_spec(tmp_path)))
    return path


def _sleeping_experiment(tmp_path: Path) -> Path:
    def process(name: str, path: str, arguments: str, kind: str = "action") -> dict:
        return {"type": kind, "name": name, "provider": {"type": "process", "path": path, "arguments": arguments}}

    path = tmp_path / "sleep.yaml"
    path.write_text(yaml.safe_dump({
        "title": "a long method", "description": "sleeps until a signal comes", "tags": ["test"],
        "steady-state-hypothesis": {"title": "always", "probes": [
            {**process("true", "true", "", "probe"), "tolerance": 0}]},
        "method": [process("mark", "touch", str(tmp_path / "started")), process("wait", "sleep", "30")],
        "rollbacks": [process("undo", "touch", str(tmp_path / "rolled-back"))],
    }, sort_keys=False))
    return path
