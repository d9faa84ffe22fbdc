"""Test-only activities: faults that break the way real ones can, to test what drillkit does then."""

from __future__ import annotations

from chaoslib.types import Configuration, Secrets

from drillkit.faults.app.actions import resume_app
from drillkit.faults.boundary import activity
from drillkit.faults.environment import environment, inject

__all__ = ["pause_app_then_fail"]


@activity
def pause_app_then_fail(region: str, configuration: Configuration = None, secrets: Secrets = None) -> dict:
    """Freeze REGION's app, then fail as an injection broken half-way would: part of the fault is in place."""
    env = environment(configuration)
    app = env.target.region(region).app.component

    def half_way() -> None:
        env.driver.pause(app)
        raise OSError("the injection broke half-way (test seam)")

    return inject(env, "pause_app", (resume_app, {"region": region}), half_way, region=region, component=app)
