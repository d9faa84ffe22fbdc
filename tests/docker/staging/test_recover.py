"""A `drillkit run` SIGKILLed in the middle of a region partition on the real staging leaves its rules in the
containers and its fault open; `drillkit recover` heals it from the fault log, and the staging is healthy
again with no DRILLKIT rule left in any container."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import yaml

from drillkit.staging import topology
from tests.docker.staging.conftest import CLI_ENV, HEALTHY_WITHIN_S, ROOT, StagingTarget, drillkit, wait_until


def partition_experiment(region: str) -> dict:
    return {
        "version": "1.0.0",
        "title": f"{region} cut off, held long enough to be killed in the middle",
        "description": "A region partition on the Docker staging, and a pause that outlasts the test's patience.",
        "tags": ["region", "partition"],
        "method": [{
            "type": "action", "name": f"partition-{region}",
            "provider": {"type": "python", "module": "drillkit.faults.region.actions", "func": "partition_region",
                         "arguments": {"region": region}},
            "pauses": {"after": 300},
        }],
        "rollbacks": [{
            "type": "action", "name": f"heal-partition-{region}",
            "provider": {"type": "python", "module": "drillkit.faults.region.actions", "func": "heal_partition",
                         "arguments": {"region": region}},
        }],
    }


def test_recover_heals_a_partition_left_by_a_sigkilled_run_and_the_staging_is_healthy(healed: StagingTarget,
                                                                                      tmp_path: Path):
    # the replica's region: the cut needs no failover, so the heal is quick
    region = next(r for r in topology.REGIONS if r.member != healed.leader())
    tag = f"drillkit:partition:{region.region}"
    experiment = tmp_path / "partition.yaml"
    experiment.write_text(yaml.safe_dump(partition_experiment(region.region), sort_keys=False))
    log = tmp_path / "run.log"
    with log.open("w") as output:
        run = subprocess.Popen(
            [sys.executable, "-m", "drillkit", "run", str(experiment), "--target", str(healed.target_file),
             "--out", str(tmp_path / "out"), "--yes"],
            cwd=ROOT, stdout=output, stderr=subprocess.STDOUT, start_new_session=True, env=CLI_ENV)
    try:
        _wait_for_the_cut(healed, run, log, tag)
    finally:
        if run.poll() is None:
            os.killpg(run.pid, signal.SIGKILL)
        run.wait(timeout=10)
    assert tag in healed.rule_tags()[region.app], "the killed run left its cut in place"
    assert healed.open_faults() == ["partition_region"]

    result = drillkit("recover", "--target", str(healed.target_file), timeout=180)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "partition_region" in result.stdout and "healed" in result.stdout
    assert all(not tags for tags in healed.rule_tags().values()), healed.rule_tags()
    assert healed.open_faults() == []
    assert wait_until(lambda: healed.staging.status().healthy, HEALTHY_WITHIN_S), healed.staging.status().to_dict()


def _wait_for_the_cut(staging: StagingTarget, run: subprocess.Popen, log: Path, tag: str) -> None:
    deadline = time.monotonic() + 90
    while tag not in staging.rule_tags()["etcd"]:
        assert run.poll() is None, f"drillkit run ended ({run.returncode}) before the cut:\n{log.read_text()}"
        assert time.monotonic() < deadline, f"no cut within 90 s:\n{log.read_text()}"
        time.sleep(0.3)
