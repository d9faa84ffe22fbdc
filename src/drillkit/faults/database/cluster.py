"""The Patroni cluster as its REST API reports it, asked through whichever member answers."""

from __future__ import annotations

import time
from typing import Any

import httpx

from drillkit.errors import Aborted
from drillkit.model.target import Target

LEADER_ROLES = ("leader", "primary", "master", "standby_leader")


def members(target: Target, timeout_s: float = 1.0) -> list[dict[str, Any]]:
    """GET /cluster from the first member that answers; [] when none does."""
    for member in target.members().values():
        try:
            response = httpx.get(f"{str(member.patroni_api).rstrip('/')}/cluster", timeout=timeout_s)
            response.raise_for_status()
            return list(response.json().get("members", []))
        except (httpx.HTTPError, ValueError):
            continue
    return []


def leader(target: Target) -> str | None:
    """The running leader's name, as the cluster reports it."""
    for member in members(target):
        if member.get("role") in LEADER_ROLES and member.get("state") == "running":
            return member["name"]
    return None


def replicas(target: Target) -> list[dict[str, Any]]:
    return [m for m in members(target) if m.get("role") not in LEADER_ROLES]


def wait_for_leader(target: Target, timeout_s: float, other_than: str | None = None) -> str:
    """Wait until a running leader (other than OTHER_THAN) is reported; return its name."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        name = leader(target)
        if name and name != other_than:
            return name
        time.sleep(0.5)
    raise Aborted(f"no database leader{' other than ' + other_than if other_than else ''} "
                  f"within {timeout_s:.0f} s")


def switchover(target: Target, current: str, candidate: str | None) -> dict[str, Any]:
    """A planned switchover through Patroni's REST API."""
    body = {"leader": current, **({"candidate": candidate} if candidate else {})}
    api = str(target.members()[current].patroni_api).rstrip("/")
    response = httpx.post(f"{api}/switchover", json=body, timeout=30.0)
    if response.status_code != 200:
        raise Aborted(f"Patroni refused the switchover ({response.status_code}): {response.text.strip()}")
    return {"patroni": response.text.strip()}
