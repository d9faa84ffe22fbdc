"""The docker driver's pure parts, without an engine: the rules a cut adds, the tags read back, the
namespaces refused, and components resolved through a fake of the SDK's container listing."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest
from chaoslib.exceptions import ActivityFailed
from docker.errors import NotFound

from drillkit.errors import InvalidInput, SandboxError
from drillkit.faults.app import actions as app_actions
from drillkit.faults.drivers import netns
from drillkit.faults.drivers.docker import DockerControl, Peer, cut_rules, replication_rules
from drillkit.faults.drivers.netns import Drop
from drillkit.faults.drivers.patroni_cluster import ADMIN_TOKEN_SECRET
from drillkit.faults.environment import driver_for
from drillkit.model.target import Target
from drillkit.validation import target_problems
from tests.unit.targets import unreachable_target_spec

LISTING = """-N DRILLKIT
-A DRILLKIT -d 10.231.1.21/32 -m comment --comment drillkit:partition:region-a -j DROP
-A DRILLKIT -s 10.231.1.21/32 -m comment --comment "drillkit:isolate:pg b" -j DROP
-A DRILLKIT -d 10.231.1.22/32 -j DROP
"""


def test_a_drop_to_a_peer_names_its_address_and_carries_the_tag():
    assert Drop(destination="10.231.1.21").spec("t") == [
        "-d", "10.231.1.21/32", "-m", "comment", "--comment", "t", "-j", "DROP"]


def test_a_drop_to_a_port_matches_tcp_to_that_port_only():
    assert Drop(source="10.231.1.22", port=5432).spec("t")[:6] == [
        "-s", "10.231.1.22/32", "-p", "tcp", "--dport", "5432"]


def test_an_ipv6_peer_takes_a_128_bit_mask():
    rule = Drop(destination="fd00::5")
    assert rule.ipv6 and rule.spec("t")[:2] == ["-d", "fd00::5/128"]


def test_a_drop_that_names_no_peer_is_refused():
    with pytest.raises(ValueError, match="names a source or a destination"):
        Drop()


def test_tags_are_read_back_from_the_chain_listing_quotes_and_all():
    assert [netns.tag_of(rule) for rule in netns.listed_rules(LISTING)] == [
        "drillkit:partition:region-a", "drillkit:isolate:pg b", None]


def test_the_hosts_own_namespace_is_refused():
    with pytest.raises(SandboxError, match="shares the host's network namespace"):
        netns.namespace_of(os.getpid())


def test_a_stopped_container_has_no_namespace():
    with pytest.raises(SandboxError, match="not a running container's"):
        netns.namespace_of(0)


def test_adding_rules_to_the_hosts_namespace_is_refused_before_iptables_runs(monkeypatch):
    monkeypatch.setattr(netns, "_run", lambda *a: pytest.fail("iptables ran"))
    with pytest.raises(SandboxError, match="never adds rules to the host's own namespace"):
        netns.add(os.getpid(), "t", [Drop(destination="10.0.0.1")])


A = [Peer("app-a", 11, ("10.1.0.1", "10.2.0.1")), Peer("pg-a", 12, ("10.1.0.2",))]
B = [Peer("app-b", 21, ("10.1.0.3",)), Peer("etcd", 31, ("10.1.0.9",))]


def test_a_cut_drops_both_ways_on_both_sides_for_every_address():
    plan = dict((peer.name, rules) for peer, rules in cut_rules(A, B))
    both_ways_to_b = [Drop(destination="10.1.0.3"), Drop(source="10.1.0.3"),
                      Drop(destination="10.1.0.9"), Drop(source="10.1.0.9")]
    assert plan["app-a"] == plan["pg-a"] == both_ways_to_b
    assert plan["etcd"] == [Drop(destination="10.1.0.1"), Drop(source="10.1.0.1"), Drop(destination="10.2.0.1"),
                            Drop(source="10.2.0.1"), Drop(destination="10.1.0.2"), Drop(source="10.1.0.2")]


def test_a_replication_cut_drops_the_replicas_packets_to_the_primarys_port_only():
    plan = dict((peer.name, rules) for peer, rules in replication_rules([B[0]], [A[1]], 5432))
    assert plan == {"app-b": [Drop(destination="10.1.0.2", port=5432)],
                    "pg-a": [Drop(source="10.1.0.3", port=5432)]}


class FakeContainer:
    def __init__(self, service: str, status: str = "running", oneoff: str = "False", project: str = "shop") -> None:
        self.name = f"{project}_{service}_1"
        self.status = status
        self.labels = {"com.docker.compose.project": project, "com.docker.compose.service": service,
                       "com.docker.compose.oneoff": oneoff}
        self.attrs: dict[str, Any] = {"State": {"Pid": 0}, "NetworkSettings": {"Networks": {}}}


class FakeContainers:
    """The SDK's `client.containers`, as far as the driver lists and gets them."""

    def __init__(self, containers: list[FakeContainer]) -> None:
        self.containers = containers

    def list(self, all: bool = False, filters: dict | None = None) -> list[FakeContainer]:
        wanted = dict(label.split("=", 1) for label in (filters or {}).get("label", []))
        listed = self.containers if all else [c for c in self.containers if c.status == "running"]
        return [c for c in listed if wanted.items() <= c.labels.items()]

    def get(self, name: str) -> FakeContainer:
        found = [c for c in self.containers if c.name == name]
        if not found:
            raise NotFound(f"No such container: {name}")
        return found[0]


class FakeClient:
    def __init__(self, *containers: FakeContainer) -> None:
        self.containers = FakeContainers(list(containers))


def docker_target(tmp_path: Path, **driver: Any) -> Target:
    spec = unreachable_target_spec(tmp_path)
    spec["driver"] = {"type": "docker", "base_url": f"unix://{tmp_path}/none.sock", **driver}
    return Target.model_validate(spec)


def test_a_component_names_the_containers_of_its_compose_service(tmp_path):
    control = DockerControl(docker_target(tmp_path, compose_project="shop"),
                            client=FakeClient(FakeContainer("app-a"), FakeContainer("app-b"),
                                              FakeContainer("app-a", project="other")))
    assert [c.name for c in control._containers("app-a")] == ["shop_app-a_1"]


def test_a_service_the_project_lacks_names_the_target_and_the_services_it_has(tmp_path):
    control = DockerControl(docker_target(tmp_path, compose_project="shop"),
                            client=FakeClient(FakeContainer("app-a"), FakeContainer("pg-a")))
    with pytest.raises(SandboxError, match=r"target 't': the Compose project 'shop' has no service 'app-b' "
                                           r"\(it has: app-a, pg-a\)"):
        control.kill("app-b", graceful=False)


def test_one_off_containers_are_not_the_services(tmp_path):
    control = DockerControl(docker_target(tmp_path, compose_project="shop"),
                            client=FakeClient(FakeContainer("app-a", oneoff="True")))
    with pytest.raises(SandboxError, match="no service 'app-a'"):
        control.pause("app-a")


def test_without_a_project_a_missing_container_is_named(tmp_path):
    control = DockerControl(docker_target(tmp_path), client=FakeClient())
    with pytest.raises(SandboxError, match=r"target 't': the Docker engine failed looking up app-a: .*app-a"):
        control.resume("app-a")


def test_mend_skips_containers_that_do_not_run_and_ones_gone(tmp_path):
    control = DockerControl(docker_target(tmp_path), client=FakeClient(FakeContainer("x", status="exited")))
    assert control.mend("drillkit:partition:region-a") == 0


def test_a_stopped_component_is_not_running(tmp_path):
    control = DockerControl(docker_target(tmp_path, compose_project="shop"),
                            client=FakeClient(FakeContainer("app-a", status="exited")))
    with pytest.raises(SandboxError, match="app-a is not running"):
        control.kill_postgres("app-a")


def test_the_superuser_dsn_needs_the_secret_the_driver_names(tmp_path):
    control = DockerControl(docker_target(tmp_path, superuser="pg_root"), client=FakeClient())
    with pytest.raises(InvalidInput, match=r"driver.superuser names the secret 'pg_root', which `secrets`"):
        control.superuser_dsn("pg-a")


def test_the_admin_token_comes_from_the_secret_the_app_actions_read(tmp_path):
    assert ADMIN_TOKEN_SECRET == app_actions.ADMIN_TOKEN_SECRET == "app_admin_token"
    with pytest.raises(InvalidInput, match="names no secret 'app_admin_token'"):
        DockerControl(docker_target(tmp_path), client=FakeClient()).admin_token()


def test_driver_for_a_docker_target_asks_its_engine(tmp_path):
    with pytest.raises(ActivityFailed, match=rf"target 't': the Docker engine at unix://{tmp_path}/none.sock does "
                                             "not answer"):
        driver_for(docker_target(tmp_path, compose_project="shop"))


def test_a_witness_inside_a_region_is_refused_at_validation(tmp_path):
    assert target_problems(docker_target(tmp_path, witness=["etcd", "pg-b"])) == [
        "driver.witness[1]: 'pg-b' is a region's component, and the witness lies outside every region"]
    assert target_problems(docker_target(tmp_path, witness=["etcd"])) == []


def test_problems_name_every_component_and_witness_without_a_running_container(tmp_path):
    running = [FakeContainer(name) for name in ("app-a", "pg-a", "app-b")]
    control = DockerControl(docker_target(tmp_path, compose_project="shop", witness=["etcd"]),
                            client=FakeClient(*running, FakeContainer("pg-b", status="exited")))
    assert control.problems() == [
        "pg-b is not running (target 't')",
        "target 't': the Compose project 'shop' has no service 'etcd' (it has: app-a, app-b, pg-a, pg-b)"]


def test_the_preflight_names_a_docker_engine_that_does_not_answer(tmp_path):
    from drillkit import preflight

    checks = {c.name: c for c in preflight.live_checks(docker_target(tmp_path), {preflight.NETWORK}).checks}
    assert checks["nsenter"].ok
    assert not checks["docker-engine"].ok and "does not answer" in checks["docker-engine"].detail
