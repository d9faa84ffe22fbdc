"""App-tier faults: an app killed or frozen, or slowed and failing the way a service mesh injects faults."""

from __future__ import annotations

import httpx
from chaoslib.types import Configuration, Secrets

from drillkit import redaction
from drillkit.faults.boundary import activity
from drillkit.faults.drivers.patroni_cluster import ADMIN_TOKEN_SECRET
from drillkit.faults.environment import Environment, environment, heal, inject, restart_region
from drillkit.feedhub.faults import ADMIN_PATH, TOKEN_HEADER

__all__ = [
    "kill_app",
    "restart_app",
    "pause_app",
    "resume_app",
    "inject_http_faults",
    "remove_http_faults",
]


@activity
def kill_app(region: str, configuration: Configuration = None, secrets: Secrets = None) -> dict:
    """SIGKILL the app of REGION."""
    env = environment(configuration)
    app = _app(env, region)
    return inject(env, "kill_app", (restart_app, {"region": region}),
                  lambda: env.driver.kill(app, graceful=False), region=region, component=app)


@activity
def restart_app(region: str, configuration: Configuration = None, secrets: Secrets = None) -> dict:
    """Start REGION's app again (and whatever else is down): the rollback of kill_app."""
    return restart_region(configuration, "restart_app", region)


@activity
def pause_app(region: str, configuration: Configuration = None, secrets: Secrets = None) -> dict:
    """Freeze the app of REGION (SIGSTOP): its sockets stay open and nothing answers."""
    env = environment(configuration)
    app = _app(env, region)
    return inject(env, "pause_app", (resume_app, {"region": region}),
                  lambda: env.driver.pause(app), region=region, component=app)


@activity
def resume_app(region: str, configuration: Configuration = None, secrets: Secrets = None) -> dict:
    """Thaw REGION's app (SIGCONT): the rollback of pause_app."""
    env = environment(configuration)
    app = _app(env, region)
    return heal(env, "resume_app", {"region": region}, lambda: env.driver.resume(app))


@activity
def inject_http_faults(
    region: str, latency_ms: float = 0, error_rate: float = 0.0, path_prefix: str = "/api/",
    configuration: Configuration = None, secrets: Secrets = None,
) -> dict:
    """Add LATENCY_MS to, and fail ERROR_RATE of, the requests under PATH_PREFIX in REGION's app.
    Health checks stay untouched, so the load balancer keeps sending users there."""
    env = environment(configuration)
    faults = {"latency_ms": latency_ms, "error_rate": error_rate, "path_prefix": path_prefix}
    return inject(env, "inject_http_faults", (remove_http_faults, {"region": region}),
                  lambda: _admin(env, region, "PUT", faults), region=region, **faults)


@activity
def remove_http_faults(region: str, configuration: Configuration = None, secrets: Secrets = None) -> dict:
    """Clear the latency and errors injected into REGION's app: the rollback of inject_http_faults."""
    env = environment(configuration)
    return heal(env, "remove_http_faults", {"region": region}, lambda: _admin(env, region, "DELETE"))


def _app(env: Environment, region: str) -> str:
    return env.target.region(region).app.component


def _admin(env: Environment, region: str, method: str, body: dict | None = None) -> dict:
    url = f"{str(env.target.region(region).app.url).rstrip('/')}{ADMIN_PATH}"
    headers = {TOKEN_HEADER: _admin_token(env)}
    response = httpx.request(method, url, json=body, headers=headers, timeout=5.0)
    response.raise_for_status()
    return {"app_faults": response.json()}


def _admin_token(env: Environment) -> str:
    """The apps' admin token, read now: the target's `secrets.app_admin_token` when it names one, else
    the one the driver keeps (the sandbox's credentials). Either way it is masked in every file written."""
    ref = env.target.secrets.get(ADMIN_TOKEN_SECRET)
    return ref.reveal() if ref is not None else redaction.remember(env.driver.admin_token())
