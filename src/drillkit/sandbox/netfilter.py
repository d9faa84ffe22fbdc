"""Real packet drops on loopback: iptables rules in a chain named DRILLKIT, owned and removed by drillkit.

Every loopback connection leaves from 127.0.0.1 whatever address it goes to, so a rule cannot tell
regions apart by source address. It tells them apart by the socket's owner instead: under root, each
sandbox part runs as its own user (`-m owner --uid-owner`). Each rule carries a comment tag naming
the fault it belongs to, so a rollback removes exactly its own rules; the chain goes once it is empty.
"""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass

from drillkit.errors import PrivilegeError, SandboxError

CHAIN = "DRILLKIT"
BINARY_ENV = "DRILLKIT_IPTABLES"  # an explicit iptables binary; an empty or missing file means "none"
SYSTEM_DIRS = ("/usr/local/sbin", "/usr/sbin", "/sbin")  # where Debian puts it, often off a user's PATH
HOOK = ["OUTPUT", "-j", CHAIN]  # loopback traffic is locally generated: OUTPUT sees all of it


@dataclass(frozen=True)
class DropRule:
    """Drop packets sent by UID's sockets to DESTINATION (optionally only to one TCP port)."""

    uid: int
    destination: str
    port: int | None = None

    def spec(self, tag: str) -> list[str]:
        port = ["-p", "tcp", "--dport", str(self.port)] if self.port else []
        return [
            "-d", f"{self.destination}/32", *port, "-m", "owner", "--uid-owner", str(self.uid),
            "-m", "comment", "--comment", tag, "-j", "DROP",
        ]


@dataclass(frozen=True)
class PortDropRule:
    """Drop every packet to DESTINATION:PORT, whoever sends it: the port is silent, connections retry."""

    destination: str
    port: int

    def spec(self, tag: str) -> list[str]:
        return [
            "-d", f"{self.destination}/32", "-p", "tcp", "--dport", str(self.port),
            "-m", "comment", "--comment", tag, "-j", "DROP",
        ]


@dataclass(frozen=True)
class RejectRule:
    """Refuse every TCP connection to DESTINATION:PORT at once (a reset, no timeout, no backlog)."""

    destination: str
    port: int

    def spec(self, tag: str) -> list[str]:
        return [
            "-d", f"{self.destination}/32", "-p", "tcp", "--dport", str(self.port),
            "-m", "comment", "--comment", tag, "-j", "REJECT", "--reject-with", "tcp-reset",
        ]


def binary() -> str | None:
    """The iptables binary: DRILLKIT_IPTABLES when set, else PATH, else the system dirs PATH may lack."""
    explicit = os.environ.get(BINARY_ENV)
    if explicit is not None:
        return explicit if explicit and os.access(explicit, os.X_OK) else None
    return system_binary("iptables")


def system_binary(name: str) -> str | None:
    """NAME on PATH, or in /usr/local/sbin, /usr/sbin or /sbin (a minimal PATH leaves those out)."""
    search = os.pathsep.join([os.environ.get("PATH", ""), *SYSTEM_DIRS])
    return shutil.which(name, path=search)


def require() -> str:
    """The iptables binary, or a clear error when this process cannot change rules."""
    if os.geteuid() != 0:
        raise PrivilegeError("network faults need root: they add iptables rules (run drillkit as root)")
    found = binary()
    if found is None:
        raise PrivilegeError("network faults need iptables: install the Debian package `iptables` "
                             "(`make drill-quarterly` does so when run as root)")
    return found


def add(tag: str, rules: Sequence[DropRule | PortDropRule | RejectRule]) -> None:
    _ensure_chain()
    for rule in rules:
        _iptables("-A", CHAIN, *rule.spec(tag))


def remove(tag: str) -> int:
    """Delete every rule tagged TAG; drop the chain once it is empty. Returns how many went."""
    removed = 0
    for rule in _rules():
        if _tag_of(rule) == tag:
            _iptables("-D", *rule[1:])
            removed += 1
    if not _rules() and chain_exists():
        remove_chain()
    return removed


def remove_chain() -> None:
    """Unhook and delete the DRILLKIT chain with every rule in it."""
    if not chain_exists():
        return
    while _run("-C", *HOOK).returncode == 0:
        _iptables("-D", *HOOK)
    _iptables("-F", CHAIN)
    _iptables("-X", CHAIN)


def chain_exists() -> bool:
    return _run("-S", CHAIN).returncode == 0


def _ensure_chain() -> None:
    if not chain_exists():
        _iptables("-N", CHAIN)
    if _run("-C", *HOOK).returncode != 0:
        _iptables("-I", *HOOK)


def _rules() -> list[list[str]]:
    if not chain_exists():
        return []
    listing = _run("-S", CHAIN).stdout.splitlines()
    return [shlex.split(line) for line in listing if line.startswith(f"-A {CHAIN} ")]


def _tag_of(rule: list[str]) -> str | None:
    if "--comment" in rule:
        return rule[rule.index("--comment") + 1]
    return None


def _iptables(*args: str) -> None:
    result = _run(*args)
    if result.returncode != 0:
        raise SandboxError(f"iptables {' '.join(args)} failed: {result.stderr.strip()}")


def _run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([require(), "-w", *args], capture_output=True, text=True, check=False)
