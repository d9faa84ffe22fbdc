"""Inside a staging container: write one server's configuration from the container's environment, then
become that server (exec: it is the container's process 1 and gets its signals).

    python -m drillkit.staging.serve etcd     STAGING_ADDRESS
    python -m drillkit.staging.serve member   STAGING_MEMBER, STAGING_REGION, STAGING_ADDRESS, STAGING_ETCD
                                              and Patroni's own PATRONI_{SUPERUSER,REPLICATION,REWIND}_
                                              {USERNAME,PASSWORD} (from the staging's env file: the passwords
                                              are never written into any file of the container)
    python -m drillkit.staging.serve lb       STAGING_UPSTREAMS (host:port, space separated)
    python -m drillkit.staging.serve check URL    exit 0 when URL answers 200 (the Compose healthchecks)

Patroni's and Caddy's settings are the embedded sandbox's (drillkit.sandbox.patroni and .caddy).
"""

from __future__ import annotations

import os
import sys
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

HOME = Path(os.environ.get("HOME", "/var/lib/drillkit"))
DATA = HOME / "data"  # the service's volume


def etcd() -> None:
    from drillkit.sandbox.etcd import binary
    from drillkit.staging.topology import ETCD_PORT

    address = os.environ["STAGING_ADDRESS"]
    client, peer = f"http://{address}:{ETCD_PORT}", f"http://{address}:{ETCD_PORT + 1}"
    _become([str(binary()), "--name", "witness", "--data-dir", str(DATA / "etcd"),
             "--listen-client-urls", f"http://0.0.0.0:{ETCD_PORT}", "--advertise-client-urls", client,
             "--listen-peer-urls", f"http://0.0.0.0:{ETCD_PORT + 1}", "--initial-advertise-peer-urls", peer,
             "--initial-cluster", f"witness={peer}", "--initial-cluster-state", "new", "--log-level", "warn"])


def member() -> None:
    import yaml

    config = HOME / "patroni.yml"
    descriptor = os.open(config, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w") as handle:
        yaml.safe_dump(patroni_config(os.environ), handle, sort_keys=False)
    _become([sys.executable, "-m", "patroni", str(config)])


def patroni_config(env: os._Environ[str] | dict[str, str]) -> dict[str, Any]:
    """The member's patroni.yml, without its passwords (Patroni reads those from its environment)."""
    from drillkit.model.sandbox import PatroniTimings
    from drillkit.sandbox import patroni
    from drillkit.staging.topology import ETCD_PORT, PATRONI_PORT, POSTGRES_PORT, STAGING_NET

    address = env["STAGING_ADDRESS"]
    return {
        "scope": "feedhub",
        "name": env["STAGING_MEMBER"],
        "restapi": {"listen": f"0.0.0.0:{PATRONI_PORT}", "connect_address": f"{address}:{PATRONI_PORT}"},
        "etcd3": {"hosts": [env.get("STAGING_ETCD", f"etcd:{ETCD_PORT}")]},
        "bootstrap": {"dcs": patroni.dcs_settings(PatroniTimings(), {}), "initdb": patroni.INITDB},
        "postgresql": {
            "listen": f"0.0.0.0:{POSTGRES_PORT}",
            "connect_address": f"{address}:{POSTGRES_PORT}",
            "data_dir": str(DATA / "pg"),
            "bin_dir": str(patroni.bin_dir()),
            "pgpass": str(HOME / "pgpass"),
            "basebackup": [{"checkpoint": "fast"}],
            "pg_hba": [
                "local all all trust",  # only the container's own user has a shell in it
                "host all all 127.0.0.1/32 scram-sha-256",  # Patroni's own connection (it listens on 0.0.0.0)
                f"host all all {STAGING_NET} scram-sha-256",
                f"host replication replicator {STAGING_NET} scram-sha-256",
                # Patroni's own replication connection to localhost reads a replica's timeline: refused, a
                # demoted primary is never found diverged, never rewound, and never streams again
                "host replication replicator 127.0.0.1/32 scram-sha-256",
            ],
            "parameters": patroni.server_parameters(HOME),
        },
        "tags": {"region": env["STAGING_REGION"]},
        "log": {"level": "INFO"},
    }


def lb() -> None:
    from drillkit.model.sandbox import LoadBalancerChecks
    from drillkit.sandbox import caddy
    from drillkit.staging.topology import LB_PORT

    caddyfile = HOME / "Caddyfile"
    caddyfile.write_text(caddy.render(admin="127.0.0.1:2019", bind="0.0.0.0", port=LB_PORT,
                                      upstreams=os.environ["STAGING_UPSTREAMS"].split(),
                                      checks=LoadBalancerChecks()))
    os.environ.update(XDG_DATA_HOME=str(HOME / "caddy-data"), XDG_CONFIG_HOME=str(HOME / "caddy-config"))
    _become([str(caddy.binary()), "run", "--config", str(caddyfile), "--adapter", "caddyfile"])


def check(url: str) -> int:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return 0 if response.status == 200 else 1
    except (OSError, urllib.error.URLError):
        return 1


def _become(argv: list[str]) -> None:
    sys.stdout.flush()
    os.execv(argv[0], argv)


def main(argv: list[str]) -> int:
    roles = {"etcd": etcd, "member": member, "lb": lb}
    if len(argv) == 2 and argv[0] == "check":
        return check(argv[1])
    if len(argv) != 1 or argv[0] not in roles:
        print(f"usage: python -m drillkit.staging.serve {{{'|'.join(roles)}}} | check URL", file=sys.stderr)
        return 2
    roles[argv[0]]()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
