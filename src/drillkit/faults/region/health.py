"""Whether a region is healthy, and waiting until it is: shared by the region's probe and the rollback
of a partition (not activities)."""

from __future__ import annotations

import time

import httpx
from chaoslib.exceptions import ActivityFailed

from drillkit import patroni_api
from drillkit.model.target import Target


def healthy(target: Target, region: str) -> bool:
    """True when the region's app answers /healthz and its database member is leader or streaming."""
    spec = target.region(region)
    try:
        app_ok = httpx.get(f"{str(spec.app.url).rstrip('/')}/healthz", timeout=2.0).status_code == 200
    except httpx.HTTPError:
        app_ok = False
    member = next((m for m in patroni_api.members(target.patroni_apis()) if m["name"] == spec.database.component), None)
    # a replica that merely runs (a demoted primary not yet rewound, say) replicates nothing: not serving
    db_ok = patroni_api.is_running_leader(member) or patroni_api.is_streaming_replica(member)
    return app_ok and db_ok


def wait_until_healthy(target: Target, region: str, timeout_s: float) -> float:
    """Seconds until REGION is healthy again; ActivityFailed after TIMEOUT_S."""
    started = time.monotonic()
    while not healthy(target, region):
        if time.monotonic() - started > timeout_s:
            raise ActivityFailed(f"{region} was not healthy again within {timeout_s:.0f} s")
        time.sleep(0.5)
    return round(time.monotonic() - started, 3)
