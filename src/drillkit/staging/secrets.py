"""The staging's secrets, made up once per staging and kept in its state dir (mode 0600, never in the git
tree, never printed): the env files the containers read, and the files drills/targets/docker.yaml names.

    credentials.json     every password (the sandbox's Credentials)
    patroni.env          Patroni's superuser, replication and rewind logins (pg-a, pg-b)
    app-a.env, app-b.env each app's DSN (both members, its own region's first) and the admin token
    app_admin_token      the apps' fault-injection token
    database_superuser   a DSN without host and port: the driver adds each member's
    ledger.dsn           the ledger's DSN from the host: both members, target_session_attrs=read-write
"""

from __future__ import annotations

import os
from pathlib import Path
from urllib.parse import quote

from drillkit.sandbox.patroni import APP_ROLE, DATABASE
from drillkit.sandbox.topology import Credentials
from drillkit.staging.topology import POSTGRES_PORT, REGIONS, member_hosts

__all__ = ["CREDENTIALS", "ENV_FILES", "app_dsn", "host_dsn", "write_secrets"]

ENV_FILES = ("patroni.env", "app-a.env", "app-b.env")
CREDENTIALS = "credentials.json"  # every password; volumes made with others cannot be opened with these


def write_secrets(state_dir: Path) -> Credentials:
    """Every secret file of the staging, from the credentials kept in STATE_DIR (made up when missing)."""
    creds = Credentials.load_or_create(state_dir / CREDENTIALS)
    files = {
        "patroni.env": _env({
            "PATRONI_SUPERUSER_USERNAME": "postgres", "PATRONI_SUPERUSER_PASSWORD": creds.superuser,
            "PATRONI_REPLICATION_USERNAME": "replicator", "PATRONI_REPLICATION_PASSWORD": creds.replication,
            "PATRONI_REWIND_USERNAME": "rewinder", "PATRONI_REWIND_PASSWORD": creds.rewind,
        }),
        "app_admin_token": creds.admin + "\n",
        "database_superuser": f"user=postgres password={creds.superuser} dbname=postgres connect_timeout=3\n",
        "ledger.dsn": host_dsn(APP_ROLE, creds.app, DATABASE) + "\n",
    }
    for region in REGIONS:
        files[f"{region.app}.env"] = _env({"FEEDHUB_DSN": app_dsn(creds, region.region, region.app),
                                           "FEEDHUB_ADMIN_TOKEN": creds.admin})
    for name, text in files.items():
        _write_private(state_dir / name, text)
    return creds


def app_dsn(creds: Credentials, region: str, app: str) -> str:
    """The app's DSN as a URI (an env file keeps it as is: no spaces, no quotes), its region's member first.

    A partition drops packets and sends nothing back: a connection to a member cut off would wait for
    TCP's retransmissions (about 15 minutes) while the pool hands it out. tcp_user_timeout ends a send
    that goes unacknowledged for 3 s, and keepalives end an idle connection the peer no longer answers."""
    hosts = ",".join(f"{host}:{POSTGRES_PORT}" for host in member_hosts(region))
    return (f"postgresql://{APP_ROLE}:{quote(creds.app, safe='')}@{hosts}/{DATABASE}"
            f"?target_session_attrs=read-write&connect_timeout=2&tcp_user_timeout=3000"
            f"&keepalives=1&keepalives_idle=5&keepalives_interval=1&keepalives_count=3"
            f"&options=-c%20statement_timeout%3D3000&application_name={app}")


def host_dsn(user: str, password: str, database: str) -> str:
    """A DSN from the host, naming every member at its wan address."""
    hosts = ",".join(member_hosts())
    ports = ",".join(str(POSTGRES_PORT) for _ in REGIONS)
    return (f"host={hosts} port={ports} dbname={database} user={user} password={password} "
            "target_session_attrs=read-write connect_timeout=3")


def _env(values: dict[str, str]) -> str:
    return "".join(f"{key}={value}\n" for key, value in values.items())


def _write_private(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w") as handle:
        handle.write(text)
    path.chmod(0o600)
