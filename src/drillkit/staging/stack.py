"""Bring the Docker staging up, report its state, and take it down, leaving the host's network as it was.

`up` checks the Debian packages, snapshots the host's network (kept in the state dir), starts the private
engine, builds the image (cached), writes the secrets, runs `docker-compose up -d` and waits until
Patroni has a leader and a streaming replica, both apps are ready and the load balancer answers.
`down` removes the Compose project, stops the engine and checks the host against the snapshot.
"""

from __future__ import annotations

import contextlib
import json
import shutil
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

import httpx
import psycopg

from drillkit import patroni_api
from drillkit.errors import SandboxError
from drillkit.feedhub import schema
from drillkit.sandbox.patroni import APP_ROLE, DATABASE
from drillkit.sandbox.topology import Credentials
from drillkit.staging import topology
from drillkit.staging.engine import DEFAULT_ROOT, Engine, HostNetwork, _path_env, missing_packages
from drillkit.staging.images import ImageBuilder, repo_root, step
from drillkit.staging.secrets import CREDENTIALS, ENV_FILES, host_dsn, write_secrets

DEFAULT_STATE_DIR = Path(".drillkit/docker")
COMPOSE_FILE = Path("deploy/docker/compose.yaml")
SERVICES = ("etcd", "pg-a", "pg-b", "app-a", "app-b", "lb")
SETTINGS = "staging.json"
SNAPSHOT = "host-network.json"
POLL_S = 1.0
# `docker inspect`'s answer, one container a line: service, state, health (none without a healthcheck)
CONTAINER_SHAPE = ('{{index .Config.Labels "com.docker.compose.service"}} {{.State.Status}} '
                   "{{with .State.Health}}{{.Status}}{{end}}")
Report = Callable[[str], None]


@dataclass
class ContainerStatus:
    service: str
    state: str
    health: str | None


@dataclass
class MemberStatus:
    name: str
    role: str | None
    state: str | None


@dataclass
class StagingStatus:
    engine: str
    engine_running: bool
    endpoint: str
    containers: list[ContainerStatus] = field(default_factory=list)
    members: list[MemberStatus] = field(default_factory=list)
    endpoint_answers: bool = False

    @property
    def healthy(self) -> bool:
        services = {c.service for c in self.containers if c.state == "running" and c.health == "healthy"}
        leader = any(m.role == "leader" for m in self.members)
        streaming = any(m.role == "replica" and m.state == "streaming" for m in self.members)
        return self.engine_running and set(SERVICES) <= services and self.endpoint_answers and leader and streaming

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "healthy": self.healthy}


class Staging:
    """The composition root of the Docker staging."""

    def __init__(self, *, state_dir: Path = DEFAULT_STATE_DIR, engine_root: Path | None = None,
                 repo: Path | None = None, report: Report = lambda message: None, timeout_s: float = 300.0) -> None:
        self.state_dir = state_dir.absolute()
        self.engine = Engine(engine_root or self._saved_engine_root() or DEFAULT_ROOT)
        self.repo = repo or repo_root()
        self.report = report
        self.timeout_s = timeout_s

    # -- up ------------------------------------------------------------------------------------

    def up(self) -> StagingStatus:
        """Start whatever does not run and wait until the staging is healthy (idempotent)."""
        missing = missing_packages()
        if missing:
            raise SandboxError(f"missing Debian packages: {', '.join(missing)}; `make docker-packages` "
                               f"(as root) installs them (apt-get install {' '.join(missing)})")
        self.state_dir.mkdir(parents=True, exist_ok=True)
        snapshot = self.state_dir / SNAPSHOT
        if not snapshot.exists():  # taken once, before this staging changed anything
            _save_snapshot(snapshot, HostNetwork.now())
        with step(self.report, "engine start"):
            self.engine.start()
        image = ImageBuilder(self.engine, self.repo, report=self.report).image()
        (self.state_dir / SETTINGS).write_text(json.dumps({"engine_root": str(self.engine.root), "image": image}))
        new_credentials = not (self.state_dir / CREDENTIALS).exists()
        creds = write_secrets(self.state_dir)
        if new_credentials:  # volumes kept from another state dir hold databases these passwords do not open
            with step(self.report, "docker-compose down --volumes (databases made with other credentials)"):
                self._compose(["down", "--volumes", "--remove-orphans"], image)
        with step(self.report, "docker-compose up -d"):
            self._compose(["up", "-d", "--remove-orphans"], image)
        self._wait_healthy(creds)
        return self.status()

    def _wait_healthy(self, creds: Credentials) -> None:
        apis = topology.patroni_apis()
        with step(self.report, "a database leader"):
            leader = self._wait("a database leader", lambda: patroni_api.leader(apis))
        with step(self.report, "the Feed Hub database"):
            self._wait("the Feed Hub database", lambda: self._create_database(str(leader), creds))
        with step(self.report, "a streaming replica"):
            self._wait("a streaming replica", lambda: any(
                patroni_api.is_streaming_replica(patroni_api.member_state(api)) for api in apis))
        for name, url in topology.app_urls().items():
            with step(self.report, f"{name} ready"):
                self._wait(f"{name} ready", partial(_answers, f"{url}/healthz"))
        with step(self.report, "the load balancer answering"):
            self._wait("the load balancer answering", lambda: _answers(f"{topology.endpoint()}/healthz"))
        with step(self.report, "every container healthy"):
            self._wait("container healthy in all", lambda: self.status().healthy)

    def _create_database(self, leader: str, creds: Credentials) -> bool:
        address = next(region.member_wan for region in topology.REGIONS if region.member == leader)
        base = f"host={address} port={topology.POSTGRES_PORT} connect_timeout=3"
        try:
            schema.create_database(f"{base} dbname=postgres user=postgres password={creds.superuser}",
                                   database=DATABASE, owner=APP_ROLE, password=creds.app)
            schema.create_tables(host_dsn(APP_ROLE, creds.app, DATABASE))
        except psycopg.Error:
            return False
        return True

    def _wait(self, what: str, check: Callable[[], object]) -> object:
        deadline = time.monotonic() + self.timeout_s
        while not (found := check()):
            if time.monotonic() > deadline:
                raise SandboxError(f"the staging has no {what} after {self.timeout_s:.0f} s; "
                                   f"containers: {self._describe_containers()}; `drillkit staging status` "
                                   f"and `docker --host {self.engine.url} logs feedhub-staging_<service>_1` say "
                                   "more; `drillkit staging down` removes it")
            time.sleep(POLL_S)
        return found

    # -- down ----------------------------------------------------------------------------------

    def down(self, purge: bool = False) -> list[str]:
        """Remove the Compose project (its volumes and secrets too with PURGE), stop the engine, then fail
        naming whatever this staging left on the host's network. Returns what it did, one line each."""
        snapshot_file = self.state_dir / SNAPSHOT
        before = _load_snapshot(snapshot_file) if snapshot_file.exists() else HostNetwork.now()
        done = []
        if (self.engine.root / "data").exists():  # the engine holds the project's networks, even stopped
            with step(self.report, "engine start (to remove the project)"):
                self.engine.start()
            with step(self.report, "docker-compose down"):
                self._compose(["down", "--remove-orphans", "--timeout", "30", *(["--volumes"] if purge else [])],
                              self._saved_image())
            done.append(f"removed the Compose project {topology.PROJECT}{' and its volumes' if purge else ''}")
        if self.engine.running():
            with step(self.report, "engine stop"):
                self.engine.stop()
            done.append(f"stopped the engine ({self.engine.root})")
        self._check_host(before)
        snapshot_file.unlink(missing_ok=True)
        if purge and self.state_dir.exists():
            shutil.rmtree(self.state_dir)
            done.append(f"removed the state dir {self.state_dir} (secrets)")
        return done

    def _check_host(self, before: HostNetwork) -> None:
        ours = left_on_host(before)
        added = HostNetwork.now().added_since(before)
        others = [item for item in added if item not in ours]
        if others:
            self.report(f"note: the host also has, not of this staging (another engine or drill?): {'; '.join(others)}")
        if ours:
            raise SandboxError("the staging left on the host's network: " + "; ".join(ours))

    # -- status --------------------------------------------------------------------------------

    def status(self) -> StagingStatus:
        running = self.engine.running()
        status = StagingStatus(engine=self.engine.url, engine_running=running, endpoint=topology.endpoint())
        if not running:
            return status
        status.containers = self._containers()
        for region, api in zip(topology.REGIONS, topology.patroni_apis(), strict=True):
            state = patroni_api.member_state(api) or {}
            role = "leader" if patroni_api.is_running_leader(state) else state.get("role")
            status.members.append(MemberStatus(region.member, role, state.get("replication_state")
                                               or state.get("state")))
        status.endpoint_answers = _answers(f"{topology.endpoint()}/healthz")
        return status

    def _containers(self) -> list[ContainerStatus]:
        project = f"label=com.docker.compose.project={topology.PROJECT}"
        ids = self._docker(["ps", "--all", "--quiet", "--filter", project]).split()
        if not ids:
            return []
        lines = self._docker(["inspect", "--format", CONTAINER_SHAPE, *ids]).splitlines()
        found = [_container(line.split()) for line in lines if line.strip()]
        return sorted(found, key=lambda c: SERVICES.index(c.service) if c.service in SERVICES else len(SERVICES))

    def _docker(self, args: list[str]) -> str:
        result = subprocess.run(["docker", "--host", self.engine.url, *args], capture_output=True, text=True,
                                timeout=30, check=False, env=_path_env())
        if result.returncode != 0:
            raise SandboxError(f"docker {args[0]} failed on {self.engine.url}: {result.stderr.strip()}")
        return result.stdout

    def _describe_containers(self) -> str:
        with contextlib.suppress(Exception):
            return ", ".join(f"{c.service} {c.state}{f' ({c.health})' if c.health else ''}"
                             for c in self._containers()) or "none"
        return "unknown (the engine does not answer)"

    # -- helpers -------------------------------------------------------------------------------

    def _compose(self, args: list[str], image: str | None) -> None:
        with self._env_dir() as env_dir:
            env = {**_path_env(), "DOCKER_HOST": self.engine.url, "DRILLKIT_STAGING_STATE": str(env_dir),
                   "DRILLKIT_IMAGE": image or "drillkit-platform:latest", "COMPOSE_HTTP_TIMEOUT": "120"}
            argv = ["docker-compose", "-p", topology.PROJECT, "-f", str(self.repo / COMPOSE_FILE), *args]
            result = subprocess.run(argv, capture_output=True, text=True, env=env, check=False)
        if result.returncode != 0:
            tail = "\n".join(result.stderr.splitlines()[-20:])
            raise SandboxError(f"docker-compose {' '.join(args)} failed (exit {result.returncode}):\n{tail}")

    @contextlib.contextmanager
    def _env_dir(self) -> Iterator[Path]:
        """The state dir when it holds the env files; else (a `down` with nothing up, or after a purge)
        empty stand-ins, since Compose reads them even to remove the project."""
        if all((self.state_dir / name).exists() for name in ENV_FILES):
            yield self.state_dir
            return
        with tempfile.TemporaryDirectory(prefix="drillkit-staging-") as scratch:
            for name in ENV_FILES:
                (Path(scratch) / name).touch()
            yield Path(scratch)

    def _saved(self) -> dict[str, str]:
        settings = self.state_dir / SETTINGS
        return json.loads(settings.read_text()) if settings.exists() else {}

    def _saved_engine_root(self) -> Path | None:
        root = self._saved().get("engine_root")
        return Path(root) if root else None

    def _saved_image(self) -> str | None:
        return self._saved().get("image")



def _container(words: list[str]) -> ContainerStatus:
    service, state, *health = words
    return ContainerStatus(service, state, health[0] if health else None)


def _answers(url: str) -> bool:
    try:
        return httpx.get(url, timeout=2.0).status_code == 200
    except httpx.HTTPError:
        return False


def left_on_host(before: HostNetwork) -> list[str]:
    """The interfaces and rules the host gained since BEFORE that are this staging's, in words: its bridges
    are named dkstg-*, its addresses lie in 10.230.0.0/16, and a Docker engine's rules name DOCKER chains.
    What others add meanwhile (another engine's bridges, a sandbox drill's rules) is not counted."""
    marks = (topology.BRIDGE_PREFIX, "10.230.", "DOCKER")
    return [item for item in HostNetwork.now().added_since(before) if any(mark in item for mark in marks)]


def _save_snapshot(path: Path, network: HostNetwork) -> None:
    path.write_text(json.dumps({"interfaces": sorted(network.interfaces), "rules": list(network.rules)}))


def _load_snapshot(path: Path) -> HostNetwork:
    data = json.loads(path.read_text())
    return HostNetwork(frozenset(data["interfaces"]), tuple(data["rules"]))
