"""A private Docker engine and a tiny Compose project of two regions, for the docker driver's tests.

Run them alone, under the engine's lock (plain `pytest` leaves this folder out):
    flock /tmp/drillkit-docker.lock env PYTHONPATH=$PWD/src .venv/bin/python -m pytest tests/docker

The images are empty (imported from an empty tar); each container gets the host's /usr, /lib, /lib64
and /bin read-only and runs tests/docker/driver/stack/serve.py with the host's /usr/bin/python3. Networks live
on 10.231.1.0/24 and 10.231.2.0/24. At the end the project goes, the engine stops, and the host's
network must hold nothing it did not hold before.
"""

from __future__ import annotations

import io
import json
import os
import shutil
import subprocess
import tarfile
import time
from dataclasses import dataclass
from pathlib import Path

import docker
import httpx
import pytest
import yaml

from drillkit.faults.drivers import netns
from drillkit.faults.drivers.docker import COMPOSE_PROJECT, DockerControl
from drillkit.model.target import Target
from drillkit.staging.engine import Engine, HostNetwork

ENGINE_ROOT = Path("/var/lib/drillkit/docker-driver")
PROJECT = "drillkit-driver-test"
IMAGE = "drillkit-empty:driver-test"
STACK = Path(__file__).parent / "stack"
PYTHON = "/usr/bin/python3"  # Debian's: the host's pyenv python lives under /root, not bound
SUPERUSER_ENV = "DRILLKIT_TEST_DOCKER_SUPERUSER"
# service: (role, {network: address}, HTTP ports)
SERVICES = {
    "app-a": ("app", {"core": "10.231.1.11", "side": "10.231.2.11"}, [8000]),
    "pg-a": ("leader", {"core": "10.231.1.12"}, [8008]),
    "app-b": ("app", {"core": "10.231.1.21"}, [8000]),
    "pg-b": ("replica", {"core": "10.231.1.22", "side": "10.231.2.22"}, [8008]),
    "etcd": ("app", {"core": "10.231.1.31"}, [8000]),
    "lb": ("app", {"core": "10.231.1.41", "side": "10.231.2.41"}, [8000]),
}
SUBNETS = {"core": "10.231.1.0/24", "side": "10.231.2.0/24"}
CLUSTER = {"members": [
    {"name": "pg-a", "role": "leader", "state": "running", "host": "10.231.1.12", "port": 5432,
     "api_url": "http://10.231.1.12:8008/patroni"},
    {"name": "pg-b", "role": "replica", "state": "streaming", "host": "10.231.1.22", "port": 5432,
     "api_url": "http://10.231.1.22:8008/patroni"},
]}


@dataclass
class Stack:
    engine: Engine
    client: docker.DockerClient
    target: Target
    target_file: Path
    folder: Path

    def control(self) -> DockerControl:
        return DockerControl(self.target, restore_timeout_s=30)

    def container(self, service: str):
        found = self.client.containers.list(all=True, filters={"label": [
            f"{COMPOSE_PROJECT}={PROJECT}", f"com.docker.compose.service={service}"]})
        assert len(found) == 1, found
        return found[0]

    def status(self, service: str) -> str:
        return self.container(service).status

    def address(self, service: str, network: str = "core") -> str:
        return SERVICES[service][1][network]

    def reaches(self, source: str, destination: str, port: int = 8000, network: str = "core") -> bool:
        """Whether SOURCE's container opens a TCP connection to DESTINATION's address within 1.5 s."""
        code = ("import socket, sys\n"
                "socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=1.5).close()\n")
        result = self.container(source).exec_run([PYTHON, "-c", code, self.address(destination, network), str(port)])
        return result.exit_code == 0

    def answers(self, service: str, port: int = 8000) -> bool:
        try:
            return httpx.get(f"http://{self.address(service)}:{port}/healthz", timeout=1.5).status_code == 200
        except httpx.HTTPError:
            return False

    def tags(self, service: str) -> list[str]:
        return netns.tags(self.container(service).attrs["State"]["Pid"])

    def rule_tags(self) -> dict[str, list[str]]:
        """The DRILLKIT rules' tags in every running container's namespace."""
        return {service: self.tags(service) for service in SERVICES if self.status(service) in ("running", "paused")}

    def compose(self, *args: str) -> subprocess.CompletedProcess:
        return subprocess.run(["docker-compose", "-p", PROJECT, "-f", str(self.folder / "compose.yml"), *args],
                              capture_output=True, text=True, check=True, timeout=120,
                              env={**os.environ, "DOCKER_HOST": self.engine.url})


@pytest.fixture(scope="session")
def stack(tmp_path_factory) -> Stack:
    before = HostNetwork.now()
    folder = tmp_path_factory.mktemp("docker-driver")
    engine = Engine(ENGINE_ROOT)
    engine.start()
    bridges: set[str] = set()
    try:
        stack = _up(engine, folder)
        bridges = {f"br-{network.id[:12]}" for network in stack.client.networks.list(
            filters={"label": f"{COMPOSE_PROJECT}={PROJECT}"})}
        yield stack
        stack.compose("down", "--volumes", "--timeout", "5")
    finally:
        engine.stop()
    left = [item for item in HostNetwork.now().added_since(before) if not _foreign(item, bridges)]
    assert left == [], f"the engine left this on the host's network: {left}"


def _foreign(item: str, ours: set[str]) -> bool:
    """An interface of another engine on this host (another suite's bridge, or a veth on one): a bridge
    that is not one of OURS, or an interface enslaved to one. A rule is never foreign."""
    if not item.startswith("interface "):
        return False
    name = item.removeprefix("interface ")
    shown = subprocess.run(["ip", "-j", "-d", "link", "show", name], capture_output=True, text=True, check=False)
    if shown.returncode != 0:
        return False
    link = json.loads(shown.stdout)[0]
    bridge = link.get("master") or (name if link.get("linkinfo", {}).get("info_kind") == "bridge" else None)
    return bridge is not None and bridge not in ours


@pytest.fixture
def clean(stack: Stack) -> Stack:
    """The stack whole again after the test, and no DRILLKIT rule left in any container."""
    yield stack
    stack.control().restore()
    assert all(not tags for tags in stack.rule_tags().values()), stack.rule_tags()


def _up(engine: Engine, folder: Path) -> Stack:
    client = docker.DockerClient(base_url=engine.url)
    client.api.import_image_from_data(_empty_tar(), repository=IMAGE.split(":")[0], tag=IMAGE.split(":")[1])
    shutil.copytree(STACK, folder / "stack")
    (folder / "stack" / "bin").mkdir()
    (folder / "stack" / "bin" / "postgres").symlink_to(PYTHON)  # run as `postgres`, as Patroni runs it
    (folder / "compose.yml").write_text(yaml.safe_dump(_compose(folder / "stack")))
    target_file = folder / "target.yaml"
    target_file.write_text(yaml.safe_dump(_target(engine, folder)))
    from drillkit.model.target import load_target

    stack = Stack(engine, client, load_target(target_file), target_file, folder)
    stack.compose("up", "-d")
    deadline = time.monotonic() + 30
    while not all(stack.answers(s, SERVICES[s][2][0]) for s in SERVICES):
        assert time.monotonic() < deadline, "the test stack did not answer within 30 s"
        time.sleep(0.3)
    return stack


def _empty_tar() -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w"):
        pass
    return buffer.getvalue()


def _compose(stack_dir: Path) -> dict:
    binds = [f"{path}:{path}:ro" for path in ("/usr", "/lib", "/lib64", "/bin")] + [f"{stack_dir}:/stack:ro"]
    services = {
        name: {"image": IMAGE, "volumes": binds, "command": [PYTHON, "/stack/serve.py", *map(str, ports)],
               "environment": {"ROLE": role, "CLUSTER_JSON": json.dumps(CLUSTER)},
               "networks": {network: {"ipv4_address": address} for network, address in addresses.items()}}
        for name, (role, addresses, ports) in SERVICES.items()
    }
    networks = {name: {"ipam": {"config": [{"subnet": subnet}]}} for name, subnet in SUBNETS.items()}
    return {"version": "2.4", "services": services, "networks": networks}


def _target(engine: Engine, folder: Path) -> dict:
    def region(x: str) -> dict:
        return {"address": SERVICES[f"app-{x}"][1]["core"],
                "app": {"component": f"app-{x}", "url": f"http://{SERVICES[f'app-{x}'][1]['core']}:8000"},
                "database": {"component": f"pg-{x}", "patroni_api": f"http://{SERVICES[f'pg-{x}'][1]['core']}:8008"}}

    return {
        "name": "driver-test", "kind": "staging", "state_dir": str(folder / "state"),
        "driver": {"type": "docker", "base_url": engine.url, "compose_project": PROJECT, "witness": ["etcd"]},
        "endpoint": f"http://{SERVICES['lb'][1]['core']}:8000",
        "regions": {"region-a": region("a"), "region-b": region("b")},
        "secrets": {"database_superuser": {"env": SUPERUSER_ENV}},
    }
