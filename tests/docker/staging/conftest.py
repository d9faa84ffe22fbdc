"""One Docker staging for the whole session, on an engine of its own, always taken down at the end; then the
host's network must be as it was. Run under the Docker lock, one at a time on a machine:

    flock /tmp/drillkit-docker.lock env PYTHONPATH=$PWD/src .venv/bin/python -m pytest tests/docker -q
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import docker
import pytest
import yaml
from docker.models.containers import Container

from drillkit import patroni_api
from drillkit.faultlog import FaultLog
from drillkit.faults.drivers import netns
from drillkit.faults.drivers.docker import COMPOSE_PROJECT, COMPOSE_SERVICE, DockerControl
from drillkit.faults.environment import RUN_ID_KEY, TARGET_KEY
from drillkit.model.target import Target, load_target
from drillkit.staging import topology
from drillkit.staging.engine import HostNetwork, missing_packages
from drillkit.staging.stack import SERVICES, Staging, left_on_host

ENGINE_ROOT = Path("/var/lib/drillkit/docker-staging-test")
ROOT = Path(__file__).resolve().parents[3]
DOCKER_TARGET = ROOT / "drills" / "targets" / "docker.yaml"
HEALTHY_WITHIN_S = 90
CLI_ENV = {**os.environ, "PYTHONPATH": str(ROOT / "src")}


@pytest.fixture(scope="session")
def staging(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Staging]:
    if missing_packages():
        pytest.skip(f"missing Debian packages {missing_packages()}: `make docker-packages`")
    before = HostNetwork.now()
    if any(name.startswith(topology.BRIDGE_PREFIX) for name in before.interfaces):
        pytest.fail("a Docker staging already runs (its dkstg-* bridges exist): `drillkit staging down` first")
    staging = Staging(state_dir=tmp_path_factory.mktemp("staging"), engine_root=ENGINE_ROOT, report=print)
    try:
        staging.up()
        yield staging
    finally:
        staging.down(purge=True)
        assert left_on_host(before) == [], "the staging left something on the host's network"


@dataclass
class StagingTarget:
    """The test staging as drillkit's activities and commands see it: a target file with the bindings of
    drills/targets/docker.yaml, the test engine's URL, the secrets of the staging's state dir and a fault
    log of its own; and what a test needs to watch it from outside (containers, rules, reachability)."""

    staging: Staging
    target_file: Path
    target: Target
    client: docker.DockerClient

    def configuration(self, run_id: str) -> dict[str, str]:
        """An experiment's configuration as chaoslib hands it to an activity outside `drillkit run`."""
        return {TARGET_KEY: str(self.target_file), RUN_ID_KEY: run_id}

    def container(self, service: str) -> Container:
        found = self.client.containers.list(all=True, filters={"label": [
            f"{COMPOSE_PROJECT}={topology.PROJECT}", f"{COMPOSE_SERVICE}={service}"]})
        assert len(found) == 1, f"{service}: {found}"
        return found[0]

    def status(self, service: str) -> str:
        return self.container(service).status

    def leader(self) -> str | None:
        return patroni_api.leader(self.target.patroni_apis())

    def member_states(self) -> dict[str, str | None]:
        return {m["name"]: m.get("state") for m in patroni_api.members(self.target.patroni_apis())}

    def reaches(self, service: str, address: str, port: int) -> bool:
        """Whether SERVICE's container opens a TCP connection to ADDRESS:PORT within 1.5 s."""
        code = "import socket, sys; socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=1.5).close()"
        return self.container(service).exec_run(["python", "-c", code, address, str(port)]).exit_code == 0

    def rule_tags(self) -> dict[str, list[str]]:
        """The DRILLKIT rules' tags in the namespace of every container that runs (or is paused)."""
        return {service: netns.tags(container.attrs["State"]["Pid"])
                for service in SERVICES if (container := self.container(service)).status in ("running", "paused")}

    def open_faults(self) -> list[str]:
        return [fault.fault for fault in FaultLog(self.target.fault_log).open_faults()]


@pytest.fixture(scope="session")
def staging_target(staging: Staging, tmp_path_factory: pytest.TempPathFactory) -> Iterator[StagingTarget]:
    folder = tmp_path_factory.mktemp("staging-target")
    target_file = folder / "docker-staging-test.yaml"
    target_file.write_text(yaml.safe_dump(target_spec_for(staging, folder / "state"), sort_keys=False))
    client = docker.DockerClient(base_url=staging.engine.url)
    try:
        yield StagingTarget(staging, target_file, load_target(target_file), client)
    finally:
        client.close()


def target_spec_for(staging: Staging, fault_state: Path) -> dict:
    """drills/targets/docker.yaml pointed at STAGING: its engine, its state dir's secrets, FAULT_STATE for
    the fault log and the run lock."""
    spec = yaml.safe_load(DOCKER_TARGET.read_text())
    spec["name"] = "docker-staging-test"
    spec["state_dir"] = str(fault_state)
    spec["driver"]["base_url"] = staging.engine.url
    spec["ledger"]["dsn"] = {"file": str(staging.state_dir / Path(spec["ledger"]["dsn"]["file"]).name)}
    spec["secrets"] = {name: {"file": str(staging.state_dir / Path(ref["file"]).name)}
                       for name, ref in spec["secrets"].items()}
    return spec


@pytest.fixture
def healed(staging_target: StagingTarget) -> Iterator[StagingTarget]:
    """After the test: nothing left open in the fault log, no DRILLKIT rule in any container, and the
    staging healthy. Whatever a failed test left broken is repaired first, so that the next test starts
    whole, and the failure is still reported."""
    yield staging_target
    problems = []
    if staging_target.open_faults():
        problems.append(f"faults left open: {staging_target.open_faults()}")
    if any(staging_target.rule_tags().values()):
        problems.append(f"rules left: {staging_target.rule_tags()}")
    if not wait_until(lambda: staging_target.staging.status().healthy, HEALTHY_WITHIN_S):
        problems.append(f"not healthy within {HEALTHY_WITHIN_S} s: {staging_target.staging.status().to_dict()}")
    if problems:
        _repair(staging_target)
    assert not problems, "\n".join(problems)


def _repair(staging_target: StagingTarget) -> None:
    control = DockerControl(staging_target.target)
    for service in SERVICES:
        with contextlib.suppress(Exception):
            container = staging_target.container(service)
            if container.status in ("running", "paused"):
                for tag in set(netns.tags(container.attrs["State"]["Pid"])):
                    control.mend(tag)
    control.restore()
    FaultLog(staging_target.target.fault_log).path.unlink(missing_ok=True)


def wait_until(check: Callable[[], object], timeout_s: float, interval_s: float = 0.5) -> bool:
    """Whether CHECK came true within TIMEOUT_S."""
    deadline = time.monotonic() + timeout_s
    while not check():
        if time.monotonic() > deadline:
            return False
        time.sleep(interval_s)
    return True


def drillkit(*args: str, timeout: float = 300) -> subprocess.CompletedProcess:
    """The real CLI, run from the repository's root as SREs and pipelines run it."""
    return subprocess.run([sys.executable, "-m", "drillkit", *args], capture_output=True, text=True, cwd=ROOT,
                          timeout=timeout, check=False, env=CLI_ENV)
