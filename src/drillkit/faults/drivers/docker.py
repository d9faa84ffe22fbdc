"""The docker driver: faults on the containers of a Docker engine that runs on this host.

Components name Compose services of the target's project (the labels com.docker.compose.project and
com.docker.compose.service), or containers by name when the target names no project. Kills, pauses and
restarts go through the engine's API. Network faults are packet drops inside the containers' own network
namespaces (drivers/netns.py), never the host's, and the postmaster is found among a container's
processes as the host sees them: both need the engine on this host.
"""

from __future__ import annotations

import signal
from collections.abc import Iterable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from typing import Any

import docker
import psutil
import requests
from docker.errors import DockerException, NotFound
from docker.models.containers import Container

from drillkit.errors import SandboxError
from drillkit.faults.drivers import netns, patroni_cluster
from drillkit.faults.drivers.netns import Drop
from drillkit.faults.drivers.patroni_cluster import POSTGRES_PORT
from drillkit.model.target import DockerDriver, Target

COMPOSE_PROJECT = "com.docker.compose.project"
COMPOSE_SERVICE = "com.docker.compose.service"
COMPOSE_ONEOFF = "com.docker.compose.oneoff"  # `docker-compose run` containers: not the project's services
GRACE_S = 30  # a graceful stop: Patroni shuts PostgreSQL down and hands the leader lock over
RESTORE_TIMEOUT_S = 180.0  # a Patroni node restarted and caught up, a leader elected
POSTMASTER_NAMES = frozenset({"postgres", "postmaster"})
LIVE = frozenset({"running", "paused"})  # a paused container still has its processes and its namespace


@dataclass(frozen=True)
class Peer:
    """One container as a network fault sees it: its main process (0 when it does not run) and its
    address on every network it is on."""

    name: str
    pid: int
    addresses: tuple[str, ...]


Plan = list[tuple[Peer, list[Drop]]]  # the rules to add, by the container whose namespace takes them


def cut_rules(inside: list[Peer], outside: list[Peer]) -> Plan:
    """Each side drops everything to and from the other side. Either side alone separates them both ways,
    so a container restarted during the cut (its namespace new and empty) stays cut off by its peers."""
    inside_addresses = [a for peer in inside for a in peer.addresses]
    outside_addresses = [a for peer in outside for a in peer.addresses]
    return ([(peer, _both_ways(outside_addresses)) for peer in inside]
            + [(peer, _both_ways(inside_addresses)) for peer in outside])


def replication_rules(replica: list[Peer], primary: list[Peer], port: int) -> Plan:
    """The replica's packets to the primary's PostgreSQL port, dropped as they leave and as they arrive."""
    return ([(peer, [Drop(destination=a, port=port) for p in primary for a in p.addresses]) for peer in replica]
            + [(peer, [Drop(source=a, port=port) for r in replica for a in r.addresses]) for peer in primary])


def _both_ways(addresses: Iterable[str]) -> list[Drop]:
    return [rule for a in addresses for rule in (Drop(destination=a), Drop(source=a))]


class DockerControl:
    def __init__(self, target: Target, *, client: Any = None, restore_timeout_s: float = RESTORE_TIMEOUT_S) -> None:
        if not isinstance(target.driver, DockerDriver):
            raise SandboxError(f"target {target.name!r} does not use the docker driver")
        self.target = target
        self.settings: DockerDriver = target.driver
        self.client = client if client is not None else _connect(target)
        self.restore_timeout_s = restore_timeout_s

    def kill(self, component: str, *, graceful: bool) -> None:
        for container in self._live(component):
            with self._engine(f"stopping {component}"):
                if graceful:
                    container.stop(timeout=GRACE_S)
                else:
                    container.kill(signal="SIGKILL")
                    container.wait(condition="not-running", timeout=GRACE_S)

    def kill_postgres(self, member: str) -> None:
        for container in self._live(member):
            postmasters = _postmasters(_pid(container))
            if not postmasters:
                raise SandboxError(f"{member} ({container.name}) has no running PostgreSQL (target "
                                   f"{self.target.name!r})")
            for process in postmasters:
                with suppress(psutil.NoSuchProcess):  # it died on its own meanwhile: what was asked
                    process.send_signal(signal.SIGKILL)
            psutil.wait_procs(postmasters, timeout=10)

    def pause(self, component: str) -> None:
        for container in self._live(component):
            if container.status != "paused":
                with self._engine(f"pausing {component}"):
                    container.pause()

    def resume(self, component: str) -> None:
        for container in self._live(component):
            if container.status == "paused":
                with self._engine(f"resuming {component}"):
                    container.unpause()

    def restore(self) -> None:
        """Unpause what is paused, start what is stopped (every container of the project, or every
        component and witness), then wait until the environment is healthy."""
        for container in self._every_container():
            with self._engine(f"starting {container.name}"):
                if container.status == "paused":
                    container.unpause()
                elif container.status != "running":
                    container.start()
        self._wait_healthy()

    def cut(self, tag: str, region: str, others: list[str]) -> None:
        outside = [c for name in others for c in self._region_components(name)] + list(self.settings.witness)
        self._apply(tag, cut_rules(self._peers(self._region_components(region)), self._peers(outside)))

    def cut_replication(self, tag: str, replica: str, primary: str) -> None:
        port = self._member(primary).get("port") or POSTGRES_PORT
        self._apply(tag, replication_rules(self._peers([replica]), self._peers([primary]), int(port)))

    def mend(self, tag: str) -> int:
        """Remove TAG's rules from every running container. A container stopped or restarted since the fault
        lost its namespace and the rules in it with it: there is nothing left to remove there."""
        removed, seen = 0, set[int]()
        for container in self._every_container(missing_ok=True):
            try:
                removed += self._mend_one(container, tag, seen)
            except SandboxError:
                if self._still_live(container):
                    raise
                # it stopped while its rules were being removed: they went with its namespace
        return removed

    def _mend_one(self, container: Container, tag: str, seen: set[int]) -> int:
        pid = _pid(container)
        if not pid:
            return 0
        namespace = netns.namespace_of(pid)
        if namespace in seen:
            return 0  # a namespace shared with a container already mended
        seen.add(namespace)
        return netns.remove(pid, tag)

    def superuser_dsn(self, member: str) -> str:
        return patroni_cluster.superuser_dsn(self.target, self.settings.superuser, member)

    def admin_token(self) -> str:
        return patroni_cluster.admin_token(self.target)

    def problems(self) -> list[str]:
        """What keeps a fault from acting: a component or witness without a running container."""
        problems = []
        for name in [*self.target.components().values(), *self.settings.witness]:
            try:
                self._live(name)
            except SandboxError as exc:
                problems.append(str(exc))
        return problems

    # containers

    def _containers(self, component: str, missing_ok: bool = False) -> list[Container]:
        """Every container of COMPONENT (a Compose service may have several)."""
        project = self.settings.compose_project
        if project is None:
            try:
                with self._engine(f"looking up {component}"):
                    return [self.client.containers.get(component)]
            except SandboxError as exc:
                if missing_ok and isinstance(exc.__cause__, NotFound):
                    return []
                raise
        found = self._project(f"{COMPOSE_SERVICE}={component}")
        if not found and not missing_ok:
            services = sorted({c.labels.get(COMPOSE_SERVICE, "?") for c in self._project()})
            raise SandboxError(f"target {self.target.name!r}: the Compose project {project!r} has no service "
                               f"{component!r} (it has: {', '.join(services) or 'no containers: is it up?'})")
        return found

    def _project(self, *labels: str) -> list[Container]:
        filters = {"label": [f"{COMPOSE_PROJECT}={self.settings.compose_project}", *labels]}
        with self._engine(f"listing the project {self.settings.compose_project}"):
            found = self.client.containers.list(all=True, filters=filters)
        return [c for c in found if c.labels.get(COMPOSE_ONEOFF, "False") != "True"]

    def _live(self, component: str) -> list[Container]:
        live = [c for c in self._containers(component) if c.status in LIVE]
        if not live:
            raise SandboxError(f"{component} is not running (target {self.target.name!r})")
        return live

    def _still_live(self, container: Container) -> bool:
        try:
            with self._engine(f"looking up {container.name}"):
                container.reload()
        except SandboxError as exc:
            if isinstance(exc.__cause__, NotFound):
                return False  # removed meanwhile
            raise
        return container.status in LIVE

    def _every_container(self, missing_ok: bool = False) -> list[Container]:
        """The project's containers; without a project, every component's and the witness's."""
        if self.settings.compose_project is not None:
            return self._project()
        names = [*self.target.components().values(), *self.settings.witness]
        return [c for name in names for c in self._containers(name, missing_ok)]

    def _region_components(self, region: str) -> list[str]:
        spec = self.target.region(region)
        return [spec.app.component, spec.database.component]

    def _peers(self, components: list[str]) -> list[Peer]:
        peers = []
        for component in components:
            for container in self._containers(component):
                addresses = _addresses(container)
                if not addresses:
                    raise SandboxError(f"{component} ({container.name}) has no network address to cut off "
                                       f"(target {self.target.name!r}): start it first")
                peers.append(Peer(container.name, _pid(container), addresses))
        return peers

    def _apply(self, tag: str, plan: Plan) -> None:
        """Add each container's rules in its namespace, once per namespace. A container that does not run
        has none: its peers' rules cut it off, and it starts with an empty namespace."""
        by_namespace: dict[int, tuple[int, list[Drop]]] = {}
        for peer, rules in plan:
            if peer.pid:
                pid, known = by_namespace.setdefault(netns.namespace_of(peer.pid), (peer.pid, []))
                known += [rule for rule in rules if rule not in known]
        for pid, rules in by_namespace.values():
            netns.add(pid, tag, rules)

    # the database and health

    def _member(self, name: str) -> dict[str, Any]:
        return patroni_cluster.member(self.target, name)

    def _wait_healthy(self) -> None:
        patroni_cluster.wait_healthy(self.target, self.restore_timeout_s)

    @contextmanager
    def _engine(self, doing: str) -> Iterator[None]:
        """The engine's errors, as a sentence naming what was being done and the target."""
        try:
            yield
        except (DockerException, requests.RequestException) as exc:
            raise SandboxError(f"target {self.target.name!r}: the Docker engine failed {doing}: {exc}") from exc


def _connect(target: Target) -> docker.DockerClient:
    settings = target.driver
    assert isinstance(settings, DockerDriver)
    where = settings.base_url or "$DOCKER_HOST"
    try:
        client = docker.DockerClient(base_url=settings.base_url) if settings.base_url else docker.from_env()
        client.ping()
    except (DockerException, requests.RequestException) as exc:
        raise SandboxError(f"target {target.name!r}: the Docker engine at {where} does not answer: {exc}") from exc
    return client


def _pid(container: Container) -> int:
    return int(container.attrs.get("State", {}).get("Pid") or 0) if container.status in LIVE else 0


def _addresses(container: Container) -> tuple[str, ...]:
    """Every address of CONTAINER on every network (a stopped one keeps only its fixed ones)."""
    found = []
    for network in (container.attrs.get("NetworkSettings", {}).get("Networks") or {}).values():
        fixed = network.get("IPAMConfig") or {}
        found += [network.get("IPAddress") or fixed.get("IPv4Address"),
                  network.get("GlobalIPv6Address") or fixed.get("IPv6Address")]
    return tuple(dict.fromkeys(a for a in found if a))


def _postmasters(pid: int) -> list[psutil.Process]:
    """The postmasters among PID's process tree: postgres processes whose parent is no postgres (the
    backends, the checkpointer and the rest are the postmaster's children)."""
    try:
        tree = [psutil.Process(pid), *psutil.Process(pid).children(recursive=True)]
    except psutil.NoSuchProcess as exc:
        raise SandboxError(f"no process {pid} on this host: the docker driver must run on the engine's host") from exc
    return [p for p in tree if _is_postgres(p) and not _is_postgres(_parent(p))]


def _is_postgres(process: psutil.Process | None) -> bool:
    try:
        return process is not None and process.name() in POSTMASTER_NAMES
    except psutil.NoSuchProcess:
        return False


def _parent(process: psutil.Process) -> psutil.Process | None:
    try:
        return process.parent()
    except psutil.NoSuchProcess:
        return None
