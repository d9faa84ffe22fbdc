"""Probes of the user-facing service."""

from __future__ import annotations

import time

import httpx
from chaoslib.exceptions import ActivityFailed
from chaoslib.types import Configuration, Secrets

from drillkit.faults.boundary import activity
from drillkit.faults.environment import environment

__all__ = ["http_ok_ratio", "wait_for_recovery"]


@activity
def http_ok_ratio(
    path: str = "/api/feed", requests: int = 20, region: str | None = None, timeout_s: float = 2.0,
    configuration: Configuration = None, secrets: Secrets = None,
) -> float:
    """The share of REQUESTS GETs of PATH answered 2xx, through the global endpoint (or REGION's app)."""
    env = environment(configuration)
    base = env.target.region(region).app.url if region else env.target.endpoint
    with httpx.Client(base_url=str(base).rstrip("/"), timeout=timeout_s) as client:
        ok = sum(_answered_ok(client, path) for _ in range(requests))
    return ok / requests if requests else 0.0


@activity
def wait_for_recovery(
    timeout_s: float = 120, consecutive: int = 5, interval_s: float = 0.5,
    configuration: Configuration = None, secrets: Secrets = None,
) -> dict:
    """Wait until CONSECUTIVE writes through the global endpoint succeed and read back in a row.

    A coarse readiness gate that lets an experiment go on once users are served again; the measured
    RTO, with its bounds, comes from the measurement control, not from here."""
    env = environment(configuration)
    started = time.monotonic()
    streak = 0
    with httpx.Client(base_url=str(env.target.endpoint).rstrip("/"), timeout=2.0) as client:
        while streak < consecutive:
            if time.monotonic() - started > timeout_s:
                raise ActivityFailed(f"users were not served again within {timeout_s:.0f} s")
            streak = streak + 1 if _write_reads_back(client) else 0
            time.sleep(interval_s)
    return {"recovered_after_s": round(time.monotonic() - started, 3)}


def _write_reads_back(client: httpx.Client) -> bool:
    try:
        created = client.post("/api/items", json={"tenant": "drillkit-probe", "title": "recovery check"})
        if created.status_code != 201:
            return False
        return client.get(f"/api/items/{created.json()['id']}").status_code == 200
    except (httpx.HTTPError, ValueError, KeyError):
        return False


def _answered_ok(client: httpx.Client, path: str) -> bool:
    try:
        return client.get(path).is_success
    except httpx.HTTPError:
        return False
