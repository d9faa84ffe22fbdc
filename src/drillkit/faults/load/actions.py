"""Load spikes: Locust, headless, in a subprocess, against the global endpoint."""

from __future__ import annotations

from pathlib import Path

from chaoslib.types import Configuration, Secrets

from drillkit import processes
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
    BASELINE_S, then stop. Returns once Locust runs, with the spike's offset (effective_after_s)
    so that measurement anchors T0 on the spike itself."""
    env = environment(configuration)
    stages = [
        {"duration": baseline_s, "users": base_users, "spawn_rate": spawn_rate},
        {"duration": spike_s, "users": round(base_users * multiplier), "spawn_rate": spawn_rate},
        {"duration": baseline_s, "users": base_users, "spawn_rate": spawn_rate},
    ]

    def start() -> dict:
        launch = locust.launch(host=str(env.target.endpoint).rstrip("/"), stages=stages,
                               locustfile=Path(locustfile), out_dir=load_dir(env.target))
        tracked = processes.start(launch, pid_file(env.target))
        return {"pid": tracked.pid, "effective_after_s": baseline_s}  # T0 is the spike, not the baseline

    return inject(env, "start_load_spike", (stop_load, {}), start, stages=stages)


@activity
def stop_load(configuration: Configuration = None, secrets: Secrets = None) -> dict:
    """Stop the Locust run (SIGTERM lets it write its final stats)."""
    env = environment(configuration)
    return heal(env, "stop_load", {}, lambda: processes.stop(pid_file(env.target), grace_s=10))

