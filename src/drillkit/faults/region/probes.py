"""Probes of a region's health."""

from __future__ import annotations

from chaoslib.types import Configuration, Secrets

from drillkit.faults.boundary import activity
from drillkit.faults.environment import environment
from drillkit.faults.region.health import healthy

__all__ = ["region_healthy"]


@activity
def region_healthy(region: str, configuration: Configuration = None, secrets: Secrets = None) -> bool:
    """True when the region's app answers /healthz and its database member is leader or streaming."""
    return healthy(environment(configuration).target, region)
