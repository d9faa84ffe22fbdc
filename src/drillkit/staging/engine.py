"""A private Docker engine (Debian's dockerd) that changes nothing on the host's network.

Left to its defaults, dockerd writes netfilter rules (NAT, isolation chains), creates the docker0
bridge and turns on IP forwarding. This one runs with its own data root, exec root, socket and pid
file, and with --iptables=false, --ip-masq=false, --bridge=none and --ip-forward=false: the only
host interfaces it makes are the bridges of the user-defined networks, which go with the networks.
`HostNetwork` snapshots what the host has, so that a caller can check afterwards that it left nothing.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from drillkit import processes
from drillkit.errors import SandboxError

DEFAULT_ROOT = Path("/var/lib/drillkit/docker")
START_TIMEOUT_S = 60.0
# Debian's packages: the engine, the Compose that drives it, and the tool that builds a root
# filesystem from Debian's archive for the images (no image registry is needed).
DEBS = ("docker.io", "docker-compose", "debootstrap")


@dataclass(frozen=True)
class Engine:
    """One private engine; every path derives from ROOT (the data root holds images and volumes)."""

    root: Path = DEFAULT_ROOT

    @property
    def socket(self) -> Path:
        # Unix socket paths are limited to 107 bytes: the exec root and socket live under /run.
        return Path("/run/drillkit") / f"docker-{_short(self.root)}.sock"

    @property
    def exec_root(self) -> Path:
        return Path("/run/drillkit") / f"docker-{_short(self.root)}"

    @property
    def url(self) -> str:
        return f"unix://{self.socket}"

    @property
    def pid_file(self) -> Path:
        return self.root / "dockerd.pid.json"

    @property
    def log(self) -> Path:
        return self.root / "dockerd.log"

    def argv(self) -> list[str]:
        config = self.root / "daemon.json"  # empty: /etc/docker/daemon.json must not change these flags
        return [_binary("dockerd"), "--config-file", str(config), "--data-root", str(self.root / "data"),
                "--exec-root", str(self.exec_root), "--pidfile", str(self.exec_root / "dockerd.pid"),
                "--host", self.url, "--iptables=false", "--ip6tables=false", "--ip-masq=false",
                "--ip-forward=false", "--bridge=none", "--userland-proxy=false", "--log-level=warn"]

    def running(self) -> bool:
        return processes.running(self.pid_file) is not None

    def start(self) -> None:
        """Start the engine unless it runs; return once it answers on its socket."""
        if self.running() and self._answers():
            return
        self.root.mkdir(parents=True, exist_ok=True)
        self.exec_root.mkdir(parents=True, exist_ok=True)
        (self.root / "daemon.json").write_text("{}\n")
        launch = processes.Launch("dockerd", self.argv(), _path_env(), self.root, self.log)
        processes.start(launch, self.pid_file)
        deadline = time.monotonic() + START_TIMEOUT_S
        while not self._answers():
            if not self.running():
                raise SandboxError(f"dockerd exited at start:\n{processes.log_tail(self.log)}")
            if time.monotonic() > deadline:
                raise SandboxError(f"dockerd did not answer on {self.socket} within {START_TIMEOUT_S:.0f} s:\n"
                                   f"{processes.log_tail(self.log)}")
            time.sleep(0.3)

    def stop(self) -> None:
        """Stop the engine (its containers stop with it) and its containerd."""
        processes.stop(self.pid_file, grace_s=30)

    def _answers(self) -> bool:
        if not self.socket.exists():
            return False
        result = subprocess.run(["docker", "--host", self.url, "version", "--format", "{{.Server.Version}}"],
                                capture_output=True, text=True, timeout=10, check=False, env=_path_env())
        return result.returncode == 0


def missing_packages() -> list[str]:
    """The Debian packages of DEBS that are not installed."""
    return [deb for deb in DEBS if not _installed(deb)]


def _installed(deb: str) -> bool:
    result = subprocess.run(["dpkg-query", "-W", "-f=${Status}", deb], capture_output=True, text=True, check=False)
    return "install ok installed" in result.stdout


def _binary(name: str) -> str:
    found = shutil.which(name, path=_path_env()["PATH"])
    if found is None:
        raise SandboxError(f"{name} is not installed: `make docker-packages` installs {', '.join(DEBS)} "
                           "(Debian packages)")
    return found


def _path_env() -> dict[str, str]:
    """The environment with Debian's sbin directories on PATH (dockerd lives in /usr/sbin)."""
    path = os.environ.get("PATH", "/usr/bin:/bin")
    return {**os.environ, "PATH": f"{path}:/usr/local/sbin:/usr/sbin:/sbin"}


def _short(root: Path) -> str:
    return hashlib.sha256(str(root.absolute()).encode()).hexdigest()[:8]


@dataclass(frozen=True)
class HostNetwork:
    """What the host's network has: its interfaces and its netfilter rules (iptables-save, without
    the counters and comments that change on their own)."""

    interfaces: frozenset[str]
    rules: tuple[str, ...]

    @classmethod
    def now(cls) -> HostNetwork:
        links = json.loads(subprocess.run(["ip", "-j", "link"], capture_output=True, text=True,
                                          check=True).stdout)
        return cls(frozenset(link["ifname"] for link in links), tuple(_rules()))

    def added_since(self, before: HostNetwork) -> list[str]:
        """What the host has now that it did not have BEFORE, in words; [] when nothing."""
        added = [f"interface {name}" for name in sorted(self.interfaces - before.interfaces)]
        return added + [f"rule {rule}" for rule in self.rules if rule not in before.rules]


def _rules() -> list[str]:
    save = shutil.which("iptables-save", path=_path_env()["PATH"])
    if save is None:
        return []
    text = subprocess.run([save], capture_output=True, text=True, check=False).stdout
    return [re.sub(r"\[\d+:\d+\]", "", line) for line in text.splitlines()
            if line and not line.startswith("#")]
