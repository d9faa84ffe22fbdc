"""The sandbox's parts, where they live, and where their files go.

    region-a 127.0.10.1: pg-a (Patroni + PostgreSQL), app-a
    region-b 127.0.20.1: pg-b (Patroni + PostgreSQL), app-b
    witness  127.0.30.1: etcd (Patroni's consensus store), Caddy's admin API, and with backups the
                         backup server (Barman, run by drillkit's backup scheduler; it listens on no port)
    global   127.0.0.1:  lb (Caddy), in front of app-a and app-b
"""

from __future__ import annotations

import dataclasses
import importlib.util
import json
import os
import secrets
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

from drillkit.errors import SandboxError
from drillkit.model.sandbox import SandboxConfig


class Kind(StrEnum):
    ETCD = "etcd"
    POSTGRES = "postgres"
    APP = "app"
    LB = "lb"
    BACKUP = "backup"


@dataclass(frozen=True)
class Part:
    name: str
    kind: Kind
    region: str
    address: str
    port: int

    @property
    def url(self) -> str:
        return f"http://{self.address}:{self.port}"


@dataclass(frozen=True)
class Paths:
    """Every file of a sandbox lives under its state dir."""

    root: Path

    def home(self, part: Part) -> Path:
        return self.root / part.name

    def log(self, part: Part) -> Path:
        return self.root / "logs" / f"{part.name}.log"

    def pid_file(self, part: Part) -> Path:
        return self.root / "run" / f"{part.name}.pid"

    @property
    def credentials(self) -> Path:
        return self.root / "credentials.json"


def parts(config: SandboxConfig) -> list[Part]:
    """Every part, in start order."""
    ports = config.ports
    members = [
        Part(f"pg-{_suffix(region)}", Kind.POSTGRES, region, address, ports.postgres)
        for region, address in config.regions.items()
    ]
    apps = [
        Part(f"app-{_suffix(region)}", Kind.APP, region, address, ports.app)
        for region, address in config.regions.items()
    ]
    etcd = Part("etcd", Kind.ETCD, "witness", config.witness, ports.etcd_client)
    lb = Part("lb", Kind.LB, "global", config.lb_address, ports.lb)
    backup = [Part("backup", Kind.BACKUP, "witness", config.witness, 0)] if config.backups else []
    return [etcd, *members, *backup, *apps, lb]


def of_kind(config: SandboxConfig, kind: Kind) -> list[Part]:
    return [part for part in parts(config) if part.kind is kind]


def named(config: SandboxConfig, name: str) -> Part:
    for part in parts(config):
        if part.name == name:
            return part
    known = ", ".join(part.name for part in parts(config))
    raise KeyError(f"no sandbox part named {name!r} (known: {known})")


def package_dir(package: str) -> Path:
    """Where an installed package lives, found without importing it (some import slowly)."""
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise SandboxError(f"the package {package!r} is not installed: run `make bootstrap`")
    return Path(next(iter(spec.submodule_search_locations)))


def _suffix(region: str) -> str:
    return region.rsplit("-", 1)[-1]


@dataclass(frozen=True)
class Credentials:
    """Passwords made up for one sandbox, kept in its state dir (mode 0600)."""

    superuser: str
    replication: str
    rewind: str
    app: str
    admin: str  # guards the apps' fault-injection endpoint
    barman: str = ""            # the backup server's login (backups, checks)
    streaming_barman: str = ""  # ... and its WAL streaming login (REPLICATION)

    @classmethod
    def load_or_create(cls, path: Path) -> Credentials:
        saved = json.loads(path.read_text()) if path.exists() else {}
        names = [f.name for f in dataclasses.fields(cls)]
        if set(names) <= set(saved) and all(saved[name] for name in names):
            return cls(**{name: saved[name] for name in names})
        made = cls(**{name: saved.get(name) or secrets.token_urlsafe(18) for name in names})
        path.parent.mkdir(parents=True, exist_ok=True)
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(descriptor, "w") as handle:
            json.dump(made.__dict__, handle)
        return made
