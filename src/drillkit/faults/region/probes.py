"""Probes of a region's health."""

from __future__ import annotations

import httpx
from chaoslib.types import Configuration, Secrets

from drillkit.faults.database import cluster
from drillkit.faults.environment import environment

__all__ = ["region_healthy"]


def region_healthy(region: str, configuration: Configuration = None, secrets: Secrets = None) -> bool:
    """True when the region's app answers /healthz and its database member is leader or streaming."""
    env = environment(configuration)
    spec = env.target.region(region)
    try:
        app_ok = httpx.get(f"{str(spec.app.url).rstrip('/')}/healthz", timeout=2.0).status_code == 200
    except httpx.HTTPError:
        app_ok = False
    member = next((m for m in cluster.members(env.target) if m["name"] == spec.database.component), None)
    db_ok = member is not None and member.get("state") in ("running", "streaming")
    return app_ok and db_ok
