"""What the docker and kubernetes drivers ask of a target's Patroni cluster and secrets alike: a member as
Patroni lists it, the superuser's DSN to that member, the apps' admin token, and the wait until the whole
environment is healthy again after a restore."""

from __future__ import annotations

import time
from typing import Any

import httpx
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from drillkit import patroni_api
from drillkit.errors import InvalidInput, SandboxError
from drillkit.faults.region.health import healthy
from drillkit.model.target import Target

ADMIN_TOKEN_SECRET = "app_admin_token"  # the target's secret for the apps' fault endpoint (faults/app reads it first)
POSTGRES_PORT = 5432  # when Patroni does not say


def member(target: Target, name: str) -> dict[str, Any]:
    """The member NAME as GET /cluster lists it (its host and port among the rest)."""
    found = next((m for m in patroni_api.members(target.patroni_apis()) if m.get("name") == name), None)
    if found is None:
        raise SandboxError(f"Patroni does not list the member {name!r} (target {target.name!r}): "
                           "no member's REST API answered, or the cluster lacks it")
    return found


def superuser_dsn(target: Target, secret: str, name: str) -> str:
    """The DSN of the secret SECRET (user, password, dbname), pointed at member NAME's host and port."""
    ref = target.secrets.get(secret)
    if ref is None:
        raise InvalidInput(f"target {target.name!r}: driver.superuser names the secret {secret!r}, which "
                           "`secrets` does not have")
    dsn = ref.reveal()
    found = member(target, name)
    if not found.get("host"):
        raise SandboxError(f"Patroni lists no host for {name} (target {target.name!r})")
    extra = {} if "connect_timeout" in conninfo_to_dict(dsn) else {"connect_timeout": 3}
    return make_conninfo(dsn, host=found["host"], port=str(found.get("port") or POSTGRES_PORT), **extra)


def admin_token(target: Target) -> str:
    ref = target.secrets.get(ADMIN_TOKEN_SECRET)
    if ref is None:
        raise InvalidInput(f"target {target.name!r} names no secret {ADMIN_TOKEN_SECRET!r}: a "
                           f"{target.driver.type} target's apps take their admin token from `secrets`")
    return ref.reveal()


def wait_healthy(target: Target, timeout_s: float) -> None:
    """Return once the environment is healthy; SandboxError naming what is not after TIMEOUT_S."""
    deadline = time.monotonic() + timeout_s
    while (problems := unhealthy(target)) and time.monotonic() < deadline:
        time.sleep(1.0)
    if problems:
        raise SandboxError(f"target {target.name!r} was not healthy within {timeout_s:.0f} s of a restore: "
                           f"{'; '.join(problems)}")


def unhealthy(target: Target) -> list[str]:
    """What keeps the environment from being healthy: no running leader, or a region whose app does
    not answer or whose member neither leads nor streams."""
    problems = [] if patroni_api.leader(target.patroni_apis()) else ["the database has no running leader"]
    return problems + [f"{name} is not healthy (its app's /healthz, or its member's state)"
                       for name in target.regions if not _quietly(healthy, target, name)]


def _quietly(check: Any, *args: Any) -> bool:
    """CHECK's answer; False when it could not ask (a member's API or an app that does not answer yet)."""
    try:
        return bool(check(*args))
    except (httpx.HTTPError, ValueError):
        return False
