"""Load spikes: Locust, headless, in a subprocess, against the global endpoint."""

from __future__ import annotations

import json
import time
from pathlib import Path

from chaoslib.exceptions import ActivityFailed
from chaoslib.types import Configuration, Secrets

from drillkit import clock, processes
from drillkit.faults.boundary import activity
from drillkit.faults.environment import environment, heal, inject
from drillkit.faults.load.paths import load_dir, pid_file
from drillkit.loadtest import process as locust
from drillkit.model import paths

__all__ = ["start_load_spike", "stop_load"]


@activity
def start_load_spike(
    base_users: int = 5, multiplier: float = 8.0, baseline_s: float = 10, spike_s: float = 60,
    spawn_rate: float = 50, locustfile: str = str(paths.LOCUSTFILE),
    configuration: Configuration = None, secrets: Secrets = None,
) -> dict:
    """Run BASE_USERS for BASELINE_S, jump to BASE_USERS x MULTIPLIER for SPIKE_S, drop back for
    BASELINE_S, then stop. Returns once the spike is observed: T0 is the spike itself, from the earliest it
    could have begun (Locust launched, plus BASELINE_S) to the first reading of Locust's own progress that
    shows the spike's users running. A spike never observed within its stage fails the injection."""
    env = environment(configuration)
    stages = [
        {"duration": baseline_s, "users": base_users, "spawn_rate": spawn_rate},
        {"duration": spike_s, "users": round(base_users * multiplier), "spawn_rate": spawn_rate},
        {"duration": baseline_s, "users": base_users, "spawn_rate": spawn_rate},
    ]

    def start() -> dict:
        progress = load_dir(env.target) / locust.PROGRESS_FILE
        progress.unlink(missing_ok=True)  # a reading left by an earlier run would confirm a spike never seen
        launched = clock.now().monotonic
        launch = locust.launch(host=str(env.target.endpoint).rstrip("/"), stages=stages,
                               locustfile=Path(locustfile), out_dir=load_dir(env.target))
        tracked = processes.start(launch, pid_file(env.target))
        users = round(base_users * multiplier)
        seen = _await_users(progress, users, deadline=launched + baseline_s + spike_s)
        return {"pid": tracked.pid, "issued_monotonic": launched + baseline_s, "injected_monotonic": seen,
                "spike_users": users}

    return inject(env, "start_load_spike", (stop_load, {}), start, stages=stages)


def _await_users(progress: Path, users: int, deadline: float) -> float:
    """The monotonic time of the first reading of PROGRESS that shows USERS running."""
    while (now := clock.now().monotonic) < deadline:
        try:
            if json.loads(progress.read_text()).get("users", 0) >= users:
                return now
        except (OSError, ValueError):
            pass  # not written yet, or being replaced
        time.sleep(0.1)
    raise ActivityFailed(f"the load spike was never observed: Locust did not report {users} users running "
                         f"before its spike stage would have ended ({progress})")


@activity
def stop_load(configuration: Configuration = None, secrets: Secrets = None) -> dict:
    """Stop the Locust run (SIGTERM lets it write its final stats)."""
    env = environment(configuration)
    return heal(env, "stop_load", {}, lambda: processes.stop(pid_file(env.target), grace_s=10))

