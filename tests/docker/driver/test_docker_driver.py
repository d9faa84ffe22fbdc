"""The docker driver on a real engine: every fault observed from outside (container states, servers that
stop and start answering, connections that stop and start going through), and every fault healed."""

from __future__ import annotations

import time

import psutil
import pytest

from drillkit.errors import SandboxError
from drillkit.faults.drivers.docker import DockerControl
from drillkit.model.target import DockerDriver
from drillkit.staging.engine import HostNetwork
from tests.docker.driver.conftest import SUPERUSER_ENV

REGION_A = ("app-a", "pg-a")
OUTSIDE_A = ("app-b", "pg-b", "etcd")  # the other region and the witness


def test_a_killed_app_stops_answering_and_restore_brings_it_back(clean):
    clean.control().kill("app-a", graceful=False)
    container = clean.container("app-a")
    assert container.status == "exited" and container.attrs["State"]["ExitCode"] == 137
    assert not clean.answers("app-a")
    clean.control().restore()
    assert clean.status("app-a") == "running" and clean.answers("app-a")


def test_a_graceful_kill_stops_the_container_cleanly(clean):
    clean.control().kill("pg-b", graceful=True)
    container = clean.container("pg-b")
    assert container.status == "exited" and container.attrs["State"]["ExitCode"] == 0, "SIGTERM, not SIGKILL"
    assert not clean.answers("pg-b", 8008)


def test_a_paused_app_answers_nothing_until_resumed(clean):
    control = clean.control()
    control.pause("app-b")
    assert clean.status("app-b") == "paused" and not clean.answers("app-b")
    control.resume("app-b")
    assert clean.status("app-b") == "running" and clean.answers("app-b")


def test_restore_unpauses_and_starts_whatever_is_down(clean):
    control = clean.control()
    control.pause("app-b")
    control.kill("etcd", graceful=False)
    control.restore()
    assert clean.status("app-b") == "running" and clean.status("etcd") == "running"
    assert clean.answers("app-b") and clean.answers("etcd")


def test_restore_fails_with_a_sentence_when_the_environment_stays_unhealthy(clean, monkeypatch):
    clean.control().kill("app-a", graceful=False)
    impatient = DockerControl(clean.target, restore_timeout_s=1)
    monkeypatch.setattr(impatient, "_every_container", lambda missing_ok=False: [])  # it starts nothing
    with pytest.raises(SandboxError, match=r"target 'driver-test' was not healthy within 1 s of a restore: "
                                           r"region-a is not healthy"):
        impatient.restore()


def test_kill_postgres_kills_the_postmaster_and_its_patroni_stays(clean):
    pid = clean.container("pg-a").attrs["State"]["Pid"]
    before = _postgres_processes(pid)
    assert len(before) == 2, "a postmaster and its backend"
    assert clean.reaches("app-a", "pg-a", 5432)
    clean.control().kill_postgres("pg-a")
    time.sleep(0.5)  # its backend notices and ends
    assert clean.status("pg-a") == "running" and clean.answers("pg-a", 8008), "Patroni stays"
    assert _postgres_processes(pid) == [] and not clean.reaches("app-a", "pg-a", 5432)
    clean.control().kill("pg-a", graceful=False)  # the stand-in Patroni does not restart it: a restart does


def _postgres_processes(pid: int) -> list[int]:
    tree = psutil.Process(pid).children(recursive=True)
    return [p.pid for p in tree if p.name() == "postgres" and p.status() != psutil.STATUS_ZOMBIE]


def test_a_region_cut_separates_it_from_the_other_region_and_the_witness_both_ways(clean):
    host_rules = HostNetwork.now().rules
    control = clean.control()
    control.cut("drillkit:partition:region-a", "region-a", ["region-b"])
    for inside in REGION_A:
        for outside in OUTSIDE_A:
            assert not clean.reaches(inside, outside, _port(outside)), f"{inside} -> {outside}"
            assert not clean.reaches(outside, inside, _port(inside)), f"{outside} -> {inside}"
    assert not clean.reaches("app-a", "pg-b", 8008, network="side"), "every network of every container"
    assert clean.reaches("app-a", "pg-a", 8008), "inside the region, nothing changes"
    assert clean.reaches("lb", "app-a") and clean.reaches("lb", "app-b"), "clients outside the regions see both"
    assert HostNetwork.now().rules == host_rules, "no rule in the host's own namespace"
    expected = _cut_rule_count()
    assert sum(len(tags) for tags in clean.rule_tags().values()) == expected
    assert control.mend("drillkit:partition:region-a") == expected
    assert all(not tags for tags in clean.rule_tags().values())
    for inside in REGION_A:
        for outside in OUTSIDE_A:
            assert clean.reaches(inside, outside, _port(outside)) and clean.reaches(outside, inside, _port(inside))


def _cut_rule_count() -> int:
    """Two rules (to and from) per address on the other side, in every container on either side."""
    addresses_a = 3  # app-a on two networks, pg-a on one
    addresses_outside = 4  # app-b, pg-b on two networks, etcd
    return 2 * (len(REGION_A) * addresses_outside + len(OUTSIDE_A) * addresses_a)


def _port(service: str) -> int:
    return 8008 if service.startswith("pg-") else 8000


def test_a_cut_reaches_a_paused_container_and_mend_only_removes_its_own_tag(clean):
    control = clean.control()
    control.pause("pg-a")
    control.cut("drillkit:partition:region-a", "region-a", ["region-b"])
    control.cut_replication("drillkit:isolate:pg-b", "pg-b", "pg-a")
    assert "drillkit:partition:region-a" in clean.tags("pg-a")
    control.resume("pg-a")
    assert not clean.reaches("pg-a", "pg-b", 8008)
    assert control.mend("drillkit:partition:region-a") == _cut_rule_count()
    assert set(tag for tags in clean.rule_tags().values() for tag in tags) == {"drillkit:isolate:pg-b"}
    assert control.mend("drillkit:isolate:pg-b") == 3


def test_a_container_restarted_during_a_cut_stays_cut_off_by_its_peers(clean):
    control = clean.control()
    control.cut("drillkit:partition:region-a", "region-a", ["region-b"])
    control.kill("app-a", graceful=False)
    control.restore()
    assert clean.tags("app-a") == [], "its new namespace starts empty"
    assert not clean.reaches("app-a", "app-b") and not clean.reaches("app-b", "app-a")
    assert control.mend("drillkit:partition:region-a") == _cut_rule_count() - 2 * 4, "app-a's eight went with it"
    assert clean.reaches("app-a", "app-b")


def test_a_replication_cut_drops_only_the_replicas_packets_to_the_primarys_postgres_port(clean):
    control = clean.control()
    control.cut_replication("drillkit:isolate:pg-b", "pg-b", "pg-a")
    assert not clean.reaches("pg-b", "pg-a", 5432)
    assert clean.reaches("pg-b", "pg-a", 8008), "Patroni's API is another port"
    assert clean.reaches("app-b", "pg-a", 5432), "other clients still connect"
    assert clean.reaches("pg-a", "pg-b", 8008), "the primary still reaches the replica"
    assert control.mend("drillkit:isolate:pg-b") == 2 + 1, "pg-b's two addresses at pg-a, pg-a's one at pg-b"
    assert clean.reaches("pg-b", "pg-a", 5432)


def test_mend_without_rules_removes_nothing(clean):
    assert clean.control().mend("drillkit:partition:nowhere") == 0


def test_superuser_dsn_takes_host_and_port_from_patroni(clean, monkeypatch):
    monkeypatch.setenv(SUPERUSER_ENV, "user=postgres password=not-a-real-one dbname=feedhub")
    dsn = clean.control().superuser_dsn("pg-b")
    assert "host=10.231.1.22" in dsn and "port=5432" in dsn and "dbname=feedhub" in dsn


def test_a_service_the_project_lacks_is_named_with_the_target(clean):
    with pytest.raises(SandboxError, match=r"target 'driver-test': the Compose project 'drillkit-driver-test' has "
                                           r"no service 'pg-c' \(it has: app-a, app-b, etcd, lb, pg-a, pg-b\)"):
        clean.control().kill("pg-c", graceful=False)


def test_a_stopped_component_cannot_be_paused(clean):
    clean.control().kill("app-b", graceful=False)
    with pytest.raises(SandboxError, match="app-b is not running"):
        clean.control().pause("app-b")


def test_an_engine_that_does_not_answer_is_named(clean, tmp_path):
    driver = DockerDriver(type="docker", base_url=f"unix://{tmp_path}/none.sock", compose_project="x")
    target = clean.target.model_copy(update={"driver": driver})
    with pytest.raises(SandboxError, match=rf"target 'driver-test': the Docker engine at unix://{tmp_path}/none"):
        DockerControl(target)


def test_the_preflight_asks_the_engine_for_every_component_and_witness(clean):
    from drillkit import preflight

    def containers_check():
        return next(c for c in preflight.live_checks(clean.target).checks if c.name == "containers")

    assert containers_check().ok
    clean.control().kill("etcd", graceful=False)
    assert containers_check().detail == "etcd is not running (target 'driver-test')"
