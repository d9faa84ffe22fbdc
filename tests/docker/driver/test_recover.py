"""A `drillkit run` SIGKILLed in the middle of a region cut on Docker leaves its rules behind; `drillkit
recover` heals them from the fault log, and no rule is left in any container."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import yaml

from drillkit.faultlog import FaultLog
from tests.docker.driver.conftest import SUPERUSER_ENV

ROOT = Path(__file__).resolve().parents[3]
TAG = "drillkit:partition:region-a"
# the target's secrets must be readable for a run to start (never used by a partition)
ENV = {**os.environ, "PYTHONPATH": str(ROOT / "src"), SUPERUSER_ENV: "user=postgres password=not-used dbname=x"}
EXPERIMENT = {
    "version": "1.0.0",
    "title": "Region A cut off, held long enough to be killed in the middle",
    "description": "A region partition on the docker driver, and a pause that outlasts the test's patience.",
    "tags": ["region", "partition"],
    "method": [{
        "type": "action", "name": "partition-region-a",
        "provider": {"type": "python", "module": "drillkit.faults.region.actions", "func": "partition_region",
                     "arguments": {"region": "region-a"}},
        "pauses": {"after": 300},
    }],
    "rollbacks": [{
        "type": "action", "name": "heal-partition-region-a",
        "provider": {"type": "python", "module": "drillkit.faults.region.actions", "func": "heal_partition",
                     "arguments": {"region": "region-a"}},
    }],
}


def drillkit(*args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "drillkit", *args], capture_output=True, text=True, cwd=ROOT,
                          timeout=timeout, check=False, env=ENV)


def test_recover_heals_a_cut_left_by_a_sigkilled_run(clean, tmp_path):
    experiment = tmp_path / "partition.yaml"
    experiment.write_text(yaml.safe_dump(EXPERIMENT, sort_keys=False))
    log = tmp_path / "run.log"
    with log.open("w") as output:
        run = subprocess.Popen(
            [sys.executable, "-m", "drillkit", "run", str(experiment), "--target", str(clean.target_file),
             "--out", str(tmp_path / "out"), "--yes"],
            cwd=ROOT, stdout=output, stderr=subprocess.STDOUT, start_new_session=True,
            env=ENV,
        )
    try:
        _wait_for_the_cut(clean, run, log)
    finally:
        if run.poll() is None:
            os.killpg(run.pid, signal.SIGKILL)
        run.wait(timeout=10)
    assert TAG in clean.tags("app-a"), "the killed run left its cut in place"
    assert [f.fault for f in FaultLog(clean.target.fault_log).open_faults()] == ["partition_region"]

    result = drillkit("recover", "--target", str(clean.target_file))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "partition_region" in result.stdout and "healed" in result.stdout
    assert all(not tags for tags in clean.rule_tags().values()), clean.rule_tags()
    assert FaultLog(clean.target.fault_log).open_faults() == []
    assert clean.reaches("app-a", "app-b") and clean.reaches("etcd", "pg-a", 8008)


def _wait_for_the_cut(clean, run: subprocess.Popen, log: Path) -> None:
    deadline = time.monotonic() + 90
    while TAG not in clean.tags("etcd"):
        assert run.poll() is None, f"drillkit run ended ({run.returncode}) before the cut:\n{log.read_text()}"
        assert time.monotonic() < deadline, f"no cut within 90 s:\n{log.read_text()}"
        time.sleep(0.3)
