"""The Feed Hub app instances, one per region, served by uvicorn."""

from __future__ import annotations

import os

import httpx

from drillkit import processes
from drillkit.model.sandbox import SandboxConfig
from drillkit.sandbox.patroni import APP_ROLE, DATABASE
from drillkit.sandbox.topology import Credentials, Kind, Part, Paths, of_kind


def dsn(config: SandboxConfig, app: Part, creds: Credentials) -> str:
    """A libpq multi-host DSN that finds the primary by itself, own region first."""
    members = sorted(of_kind(config, Kind.POSTGRES), key=lambda member: member.region != app.region)
    hosts = ",".join(member.address for member in members)
    ports = ",".join(str(member.port) for member in members)
    return (
        f"host={hosts} port={ports} dbname={DATABASE} user={APP_ROLE} password={creds.app} "
        "target_session_attrs=read-write connect_timeout=2 "
        "options='-c statement_timeout=3000' application_name=" + app.name
    )


def launch(
    config: SandboxConfig, paths: Paths, app: Part, creds: Credentials, python: str, user: str | None
) -> processes.Launch:
    home = paths.home(app)
    home.mkdir(parents=True, exist_ok=True)
    argv = [
        python, "-m", "uvicorn", "drillkit.feedhub.main:create_app", "--factory",
        "--host", app.address, "--port", str(app.port),
        "--no-access-log", "--timeout-graceful-shutdown", "3",
    ]
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(home),
        "FEEDHUB_DSN": dsn(config, app, creds),
        "FEEDHUB_APP": app.name,
        "FEEDHUB_REGION": app.region,
        "FEEDHUB_ADMIN_TOKEN": creds.admin,
        **_same_code(),
    }
    return processes.Launch(name=app.name, argv=argv, env=env, cwd=home, log=paths.log(app), user=user)


def _same_code() -> dict[str, str]:
    """The app runs the drillkit of the command that starts it: a checkout run with PYTHONPATH=src
    serves its own app, not the installed one (absolute, since the app runs in a home of its own)."""
    entries = [os.path.abspath(entry) for entry in os.environ.get("PYTHONPATH", "").split(os.pathsep) if entry]
    return {"PYTHONPATH": os.pathsep.join(entries)} if entries else {}


def healthy(part: Part, timeout_s: float = 1.0) -> bool:
    try:
        return httpx.get(f"{part.url}/healthz", timeout=timeout_s).status_code == 200
    except httpx.HTTPError:
        return False
