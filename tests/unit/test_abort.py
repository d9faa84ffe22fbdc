"""The kill switch and the commands that must not pull a platform from under a drill, through the real
command line: `drillkit abort`, `sandbox down` refused while a drill runs on it, and --force."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from tests.unit.targets import unreachable_target_spec

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def env(tmp_path) -> dict[str, str]:
    """The runs of this test only: `abort --all` must never reach a drill of the machine's own."""
    return {**os.environ, "PYTHONPATH": str(ROOT / "src"), "DRILLKIT_RUNS_DIR": str(tmp_path / "runs")}


def drillkit(*args: str, env: dict, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "drillkit", *args], capture_output=True, text=True, cwd=cwd,
                          env=env, timeout=120, check=False)


def start_run(tmp_path: Path, name: str, env: dict) -> tuple[subprocess.Popen, Path, Path]:
    """A run of an experiment that sleeps in its method on its own target (an own sandbox folder)."""
    home = tmp_path / name
    home.mkdir()
    spec = unreachable_target_spec(home)
    spec["name"] = name
    target = home / "target.yaml"
    target.write_text(yaml.safe_dump(spec))

    def process(step: str, path: str, arguments: str, kind: str = "action") -> dict:
        return {"type": kind, "name": step, "provider": {"type": "process", "path": path, "arguments": arguments}}

    experiment = home / "sleep.yaml"
    experiment.write_text(yaml.safe_dump({
        "title": "a long method", "description": "sleeps until stopped", "tags": ["test"],
        "steady-state-hypothesis": {"title": "always", "probes": [{**process("true", "true", "", "probe"),
                                                                   "tolerance": 0}]},
        "method": [process("mark", "touch", str(home / "started")), process("wait", "sleep", "60")],
        "rollbacks": [process("undo", "touch", str(home / "rolled-back"))],
    }, sort_keys=False))
    run = subprocess.Popen([sys.executable, "-m", "drillkit", "run", str(experiment), "--target", str(target),
                            "--out", str(home / "out")], cwd=tmp_path, env=env, stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 60
    while not (home / "started").exists():
        assert run.poll() is None, run.communicate()
        assert time.monotonic() < deadline, "the run never started its method"
        time.sleep(0.05)
    return run, home, target


def ended(run: subprocess.Popen) -> int:
    run.communicate(timeout=60)
    return run.returncode


def test_sandbox_down_is_refused_naming_the_drill_and_abort_stops_it_with_its_rollbacks(tmp_path, env):
    run, home, target = start_run(tmp_path, "a", env)
    try:
        refused = drillkit("sandbox", "down", "--state-dir", str(home / "state"), env=env, cwd=tmp_path)
        assert refused.returncode == 3
        said = " ".join(refused.stderr.split())
        assert f"pid {run.pid}" in said and "target 'a'" in said and "--force" in said
        assert run.poll() is None  # the drill runs on, untouched

        stopped = drillkit("abort", "--target", str(target), env=env, cwd=tmp_path)
        assert stopped.returncode == 0, stopped.stderr
        assert "1 drill(s) stopped, 0 still running" in stopped.stdout
        assert ended(run) == 3 and (home / "rolled-back").exists()
    finally:
        if run.poll() is None:
            run.kill()


def test_sandbox_down_with_force_stops_the_drill_first(tmp_path, env):
    run, home, _ = start_run(tmp_path, "a", env)
    try:
        forced = drillkit("sandbox", "down", "--state-dir", str(home / "state"), "--force", env=env, cwd=tmp_path)
        assert forced.returncode == 0, forced.stderr
        assert run.poll() is not None and run.returncode == 3 and (home / "rolled-back").exists()
    finally:
        if run.poll() is None:
            run.kill()


def test_abort_all_stops_two_drills_on_two_targets_within_30_s(tmp_path, env):
    runs = [start_run(tmp_path, name, env) for name in ("a", "b")]
    try:
        started = time.monotonic()
        stopped = drillkit("abort", "--all", env=env, cwd=tmp_path)
        assert stopped.returncode == 0, stopped.stderr
        assert "2 drill(s) stopped, 0 still running" in stopped.stdout
        assert time.monotonic() - started < 30
        assert [ended(run) for run, _, _ in runs] == [3, 3]
        assert all((home / "rolled-back").exists() for _, home, _ in runs)
        assert drillkit("abort", "--all", env=env, cwd=tmp_path).stdout.startswith("no drill is running")
    finally:
        for run, _, _ in runs:
            if run.poll() is None:
                run.kill()


def test_abort_names_what_to_stop(tmp_path, env):
    result = drillkit("abort", env=env, cwd=tmp_path)
    assert result.returncode == 2 and "--target FILE, or --all" in result.stderr


def test_a_list_of_runs_others_may_write_to_is_not_trusted(tmp_path, env):
    (tmp_path / "runs").mkdir()
    (tmp_path / "runs").chmod(0o777)  # anyone could plant an entry naming a process to signal
    result = drillkit("abort", "--all", env=env, cwd=tmp_path)
    assert result.returncode == 3 and "not trusted" in " ".join(result.stderr.split())
