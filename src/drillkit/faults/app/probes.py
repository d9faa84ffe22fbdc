"""Probes of the user-facing service, asking what the target's `probes` name (paths, headers, token)."""

from __future__ import annotations

import time

import httpx
from chaoslib.exceptions import ActivityFailed
from chaoslib.types import Configuration, Secrets

from drillkit.faults.boundary import activity
from drillkit.faults.environment import environment
from drillkit.model.target import ProbePaths, Target

__all__ = ["http_ok_ratio", "wait_for_recovery"]


@activity
def http_ok_ratio(
    path: str | None = None, requests: int = 20, region: str | None = None, timeout_s: float = 2.0,
    configuration: Configuration = None, secrets: Secrets = None,
) -> float:
    """The share of REQUESTS GETs of PATH (the target's read probe by default) answered 2xx, through the
    global endpoint (or REGION's app)."""
    env = environment(configuration)
    base = env.target.region(region).app.url if region else env.target.endpoint
    path = path or env.target.probes.read
    with _client(env.target, str(base), timeout_s) as client:
        ok = sum(_answered_ok(client, path) for _ in range(requests))
    return ok / requests if requests else 0.0


@activity
def wait_for_recovery(
    timeout_s: float = 120, consecutive: int = 5, interval_s: float = 0.5,
    configuration: Configuration = None, secrets: Secrets = None,
) -> dict:
    """Wait until CONSECUTIVE writes through the global endpoint succeed and read back in a row (reads,
    on a target without a write probe).

    A coarse readiness gate that lets an experiment go on once users are served again; the measured
    RTO, with its bounds, comes from the measurement control, not from here."""
    env = environment(configuration)
    started = time.monotonic()
    streak = 0
    with _client(env.target, str(env.target.endpoint), 2.0) as client:
        while streak < consecutive:
            if time.monotonic() - started > timeout_s:
                raise ActivityFailed(f"users were not served again within {timeout_s:.0f} s")
            streak = streak + 1 if _user_served(client, env.target.probes) else 0
            time.sleep(interval_s)
    return {"recovered_after_s": round(time.monotonic() - started, 3)}


def _client(target: Target, base: str, timeout_s: float) -> httpx.Client:
    """A client sending the target's probe headers, and its bearer token when it names one."""
    headers = dict(target.probes.headers)
    if target.probes.token is not None:
        headers["authorization"] = f"Bearer {target.probes.token.reveal()}"
    return httpx.Client(base_url=base.rstrip("/"), timeout=timeout_s, headers=headers)


def _user_served(client: httpx.Client, paths: ProbePaths) -> bool:
    if paths.write is None:
        return _answered_ok(client, paths.read)
    try:
        created = client.post(paths.write, json=paths.write_body)
        if created.status_code != 201:
            return False
        return client.get(paths.read_back.replace("{id}", str(created.json()["id"]))).status_code == 200
    except (httpx.HTTPError, ValueError, KeyError):
        return False


def _answered_ok(client: httpx.Client, path: str) -> bool:
    try:
        return client.get(path).is_success
    except httpx.HTTPError:
        return False
