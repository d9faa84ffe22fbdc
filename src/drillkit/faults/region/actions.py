"""Regional faults: every component of a region dies, or the region is partitioned off."""

from __future__ import annotations

from chaoslib.types import Configuration, Secrets

from drillkit.faults.boundary import activity
from drillkit.faults.environment import Environment, environment, heal, inject, restart_region
from drillkit.faults.region.health import wait_until_healthy

__all__ = ["fail_region", "restore_region", "partition_region", "heal_partition"]


@activity
def fail_region(
    region: str, graceful: bool = False, configuration: Configuration = None, secrets: Secrets = None
) -> dict:
    """Take every component of REGION down: its app and its database member (kill -9, or a
    graceful stop when GRACEFUL), the way a lost availability zone looks from outside."""
    env = environment(configuration)
    components = _components(env, region)

    def fail() -> None:
        for component in components:
            env.driver.kill(component, graceful=graceful)

    return inject(env, "fail_region", (restore_region, {"region": region}), fail,
                  region=region, components=components, graceful=graceful)


@activity
def restore_region(region: str, configuration: Configuration = None, secrets: Secrets = None) -> dict:
    """Start the region's components again and wait until the environment is healthy."""
    return restart_region(configuration, "restore_region", region)


@activity
def partition_region(region: str, configuration: Configuration = None, secrets: Secrets = None) -> dict:
    """Cut REGION off from the other regions and the witness with real packet drops, both ways.
    Clients outside the regions (the load balancer, probes) still reach both sides."""
    env = environment(configuration)
    _components(env, region)
    others = [name for name in env.target.regions if name != region]
    return inject(env, "partition_region", (heal_partition, {"region": region}),
                  lambda: env.driver.cut(_tag(region), region, others), region=region, cut_from=others)


@activity
def heal_partition(
    region: str, wait_s: float = 90, configuration: Configuration = None, secrets: Secrets = None
) -> dict:
    """Remove the partition's rules, then wait up to WAIT_S for the region to be healthy again (a
    demoted primary rejoins as a replica, through pg_rewind when the timelines diverged)."""
    env = environment(configuration)

    def mend() -> dict:
        removed = env.driver.mend(_tag(region))
        return {"rules_removed": removed, "healthy_after_s": wait_until_healthy(env.target, region, wait_s)}

    return heal(env, "heal_partition", {"region": region}, mend)


def _tag(region: str) -> str:
    return f"drillkit:partition:{region}"


def _components(env: Environment, region: str) -> list[str]:
    spec = env.target.region(region)
    return [spec.app.component, spec.database.component]
