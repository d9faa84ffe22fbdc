"""Patroni's REST API, asked by URL: the one client for the sandbox, the faults, the drill and the probes.

One vocabulary of roles: Patroni 3 says "primary", older releases "master", a standby cluster's head
"standby_leader", and GET /cluster says "leader".
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from typing import Any

import httpx

from drillkit.errors import Aborted

LEADER_ROLES = ("leader", "primary", "master", "standby_leader")

Member = dict[str, Any]


def is_running_leader(member: Member | None) -> bool:
    """A member (of GET /cluster) or a member's own state (GET /patroni) that leads and runs."""
    return member is not None and member.get("role") in LEADER_ROLES and member.get("state") == "running"


def is_streaming_replica(state: Member | None) -> bool:
    if not state or state.get("role") != "replica":
        return False
    return state.get("replication_state") == "streaming" or state.get("state") == "streaming"


def member_state(api: str, timeout_s: float = 1.0) -> Member | None:
    """One member's own view of itself (GET /patroni), or None when it does not answer."""
    try:
        response = httpx.get(f"{api.rstrip('/')}/patroni", timeout=timeout_s)
        return dict(response.json())
    except (httpx.HTTPError, ValueError):
        return None


def members(apis: Iterable[str], timeout_s: float = 1.0) -> list[Member]:
    """GET /cluster from the first member that answers; [] when none does."""
    for api in apis:
        try:
            response = httpx.get(f"{api.rstrip('/')}/cluster", timeout=timeout_s)
            response.raise_for_status()
            return list(response.json().get("members", []))
        except (httpx.HTTPError, ValueError):
            continue
    return []


def leader_of(cluster: list[Member]) -> str | None:
    """The running leader's name among the members GET /cluster listed."""
    return next((m["name"] for m in cluster if is_running_leader(m)), None)


def leader(apis: Iterable[str]) -> str | None:
    """The running leader's name, as the cluster reports it."""
    return leader_of(members(apis))


def replicas(apis: Iterable[str]) -> list[Member]:
    return [m for m in members(apis) if m.get("role") not in LEADER_ROLES]


def wait_for_leader(apis: Iterable[str], timeout_s: float, other_than: str | None = None) -> str:
    """Wait until a running leader (other than OTHER_THAN) is reported; return its name."""
    apis = list(apis)
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        name = leader(apis)
        if name and name != other_than:
            return name
        time.sleep(0.5)
    raise Aborted(f"no database leader{' other than ' + other_than if other_than else ''} "
                  f"within {timeout_s:.0f} s")


def switchover(api: str, current: str, candidate: str | None) -> dict[str, Any]:
    """A planned switchover, asked of the member at API."""
    body = {"leader": current, **({"candidate": candidate} if candidate else {})}
    response = httpx.post(f"{api.rstrip('/')}/switchover", json=body, timeout=30.0)
    if response.status_code != 200:
        raise Aborted(f"Patroni refused the switchover ({response.status_code}): {response.text.strip()}")
    return {"patroni": response.text.strip()}


def patch_config(api: str, change: dict[str, Any]) -> dict[str, Any]:
    """Merge CHANGE into the cluster's dynamic configuration (the one kept in the DCS), asked of the
    member at API; the whole configuration as it now stands."""
    response = httpx.patch(f"{api.rstrip('/')}/config", json=change, timeout=10.0)
    if response.status_code != 200:
        raise Aborted(f"Patroni refused the configuration change ({response.status_code}): {response.text.strip()}")
    return dict(response.json())
