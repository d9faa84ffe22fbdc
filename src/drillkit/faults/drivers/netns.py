"""Real packet drops inside a container's network namespace, never the host's.

Rules are added from the host (`nsenter --target PID --net iptables -w …`, PID the container's main
process; a paused container keeps its namespace, so this works on it too) into a chain named DRILLKIT
that drillkit owns in that namespace, hooked from INPUT and OUTPUT. A rule matching a peer as
destination drops what the container sends it; as source, what it receives from it. Each rule carries
a comment tag naming its fault, so that a rollback removes exactly its own rules; the chain and its
hooks go once it is empty. Addresses with a colon are IPv6 and go through ip6tables.
"""

from __future__ import annotations

import os
import shlex
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass

from drillkit.errors import PrivilegeError, SandboxError
from drillkit.sandbox import netfilter

CHAIN = "DRILLKIT"
HOOKS = ("INPUT", "OUTPUT")
HOST_PIDS = ("self", "1")  # the host's namespace: this process's own, and init's (when this process may see it)


@dataclass(frozen=True)
class Drop:
    """Drop packets from SOURCE and/or to DESTINATION (optionally only to one TCP port)."""

    source: str | None = None
    destination: str | None = None
    port: int | None = None

    def __post_init__(self) -> None:
        if self.source is None and self.destination is None:
            raise ValueError("a drop rule names a source or a destination: a rule matching everything would "
                             "cut the container off from every client")

    @property
    def ipv6(self) -> bool:
        return ":" in (self.source or self.destination or "")

    def spec(self, tag: str) -> list[str]:
        width = 128 if self.ipv6 else 32
        source = ["-s", f"{self.source}/{width}"] if self.source else []
        destination = ["-d", f"{self.destination}/{width}"] if self.destination else []
        port = ["-p", "tcp", "--dport", str(self.port)] if self.port else []
        return [*source, *destination, *port, "-m", "comment", "--comment", tag, "-j", "DROP"]


def tag_of(rule: list[str]) -> str | None:
    """The comment tag of one rule as `iptables -S` lists it (split like a shell would)."""
    if "--comment" in rule and rule.index("--comment") + 1 < len(rule):
        return rule[rule.index("--comment") + 1]
    return None


def listed_rules(listing: str) -> list[list[str]]:
    """The rules of the DRILLKIT chain in `iptables -S DRILLKIT`'s output (not the chain's own line)."""
    return [shlex.split(line) for line in listing.splitlines() if line.startswith(f"-A {CHAIN} ")]


def namespace_of(pid: int) -> int:
    """The inode of PID's network namespace, which tells namespaces apart; refuses the host's own."""
    if pid <= 0:
        raise SandboxError(f"process {pid} is not a running container's: a stopped container has no namespace")
    try:
        inode = os.stat(f"/proc/{pid}/ns/net").st_ino
    except FileNotFoundError as exc:
        raise SandboxError(f"no process {pid} on this host: the docker driver must run on the engine's host, "
                           "where it enters the containers' network namespaces") from exc
    if inode in _host_namespaces():
        raise SandboxError(f"process {pid} shares the host's network namespace (network_mode: host?): "
                           "drillkit never adds rules to the host's own namespace")
    return inode


def _host_namespaces() -> set[int]:
    found = set()
    for host in HOST_PIDS:
        try:
            found.add(os.stat(f"/proc/{host}/ns/net").st_ino)
        except OSError:
            continue  # init's may be hidden (a container, a restricted /proc): this process's own is always there
    return found


def add(pid: int, tag: str, rules: Sequence[Drop]) -> None:
    """Add RULES, tagged TAG, in PID's network namespace."""
    namespace_of(pid)
    for family in {rule.ipv6 for rule in rules}:
        _ensure_chain(pid, family)
        for rule in (r for r in rules if r.ipv6 == family):
            _iptables(pid, family, "-A", CHAIN, *rule.spec(tag))


def remove(pid: int, tag: str) -> int:
    """Delete every rule tagged TAG in PID's network namespace; unhook and drop the chain once it is
    empty. Returns how many went."""
    namespace_of(pid)
    removed = 0
    for family in _families():
        for rule in _rules(pid, family):
            if tag_of(rule) == tag:
                _iptables(pid, family, "-D", *rule[1:])
                removed += 1
        if not _rules(pid, family):
            _drop_chain(pid, family)
    return removed


def tags(pid: int) -> list[str]:
    """The tag of every rule in PID's namespace (IPv4, then IPv6)."""
    namespace_of(pid)
    return [tag_of(rule) or "" for family in _families() for rule in _rules(pid, family)]


def _families() -> list[bool]:
    """IPv4, and IPv6 when ip6tables is installed (without it no IPv6 rule was ever added)."""
    return [False, True] if netfilter.system_binary("ip6tables") else [False]


def _ensure_chain(pid: int, ipv6: bool) -> None:
    if not _chain_exists(pid, ipv6):
        _iptables(pid, ipv6, "-N", CHAIN)
    for hook in HOOKS:
        if _run(pid, ipv6, "-C", hook, "-j", CHAIN).returncode != 0:
            _iptables(pid, ipv6, "-I", hook, "-j", CHAIN)


def _drop_chain(pid: int, ipv6: bool) -> None:
    if not _chain_exists(pid, ipv6):
        return
    for hook in HOOKS:
        while _run(pid, ipv6, "-C", hook, "-j", CHAIN).returncode == 0:
            _iptables(pid, ipv6, "-D", hook, "-j", CHAIN)
    _iptables(pid, ipv6, "-X", CHAIN)


def _chain_exists(pid: int, ipv6: bool) -> bool:
    return _run(pid, ipv6, "-S", CHAIN).returncode == 0


def _rules(pid: int, ipv6: bool) -> list[list[str]]:
    result = _run(pid, ipv6, "-S", CHAIN)
    return listed_rules(result.stdout) if result.returncode == 0 else []


def _iptables(pid: int, ipv6: bool, *args: str) -> None:
    result = _run(pid, ipv6, *args)
    if result.returncode != 0:
        raise SandboxError(f"iptables {' '.join(args)} in the network namespace of process {pid} failed: "
                           f"{result.stderr.strip()}")


def _run(pid: int, ipv6: bool, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([*_enter(pid), _binary(ipv6), "-w", *args], capture_output=True, text=True, check=False)


def _enter(pid: int) -> list[str]:
    nsenter = netfilter.system_binary("nsenter")
    if nsenter is None:
        raise PrivilegeError("network faults on containers need nsenter: install the Debian package util-linux")
    return [nsenter, "--target", str(pid), "--net"]


def _binary(ipv6: bool) -> str:
    if not ipv6:
        return netfilter.require()
    found = netfilter.system_binary("ip6tables")
    if found is None:
        raise PrivilegeError("network faults on IPv6 addresses need ip6tables: install the Debian package iptables")
    return found
