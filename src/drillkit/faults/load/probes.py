"""Probes of a running load spike."""

from __future__ import annotations

import csv
import time
from pathlib import Path

from chaoslib.exceptions import ActivityFailed
from chaoslib.types import Configuration, Secrets

from drillkit import processes
from drillkit.faults.boundary import activity
from drillkit.faults.environment import environment
from drillkit.faults.load.paths import load_dir, pid_file

__all__ = ["wait_for_load"]


@activity
def wait_for_load(
    timeout_s: float = 600, configuration: Configuration = None, secrets: Secrets = None
) -> dict:
    """Wait until the Locust run ends by itself; return its request and failure counts."""
    env = environment(configuration)
    deadline = time.monotonic() + timeout_s
    while processes.running(pid_file(env.target)):
        if time.monotonic() > deadline:
            raise ActivityFailed(f"the load run did not end within {timeout_s:.0f} s")
        time.sleep(0.5)
    return _summary(load_dir(env.target) / "locust_stats.csv")


def _summary(stats_csv: Path) -> dict:
    try:
        with stats_csv.open() as handle:
            rows = {row["Name"]: row for row in csv.DictReader(handle)}
    except OSError as exc:
        raise ActivityFailed(f"Locust left no statistics ({exc}); see locust.log beside it") from exc
    total = rows.get("Aggregated", {})
    return {"requests": int(total.get("Request Count", 0)), "failures": int(total.get("Failure Count", 0))}
