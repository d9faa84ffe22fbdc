"""Every Docker fault, injected through drillkit's fault activities called the way an experiment calls them
(keyword arguments, the configuration naming the target file and the run id), seen on the real staging
from outside, then healed by its rollback activity. The `healed` fixture then demands that nothing is left
open in the fault log, no DRILLKIT rule in any container, and the staging healthy."""

from __future__ import annotations

import time

import httpx
import psycopg

from drillkit.faults.app import actions as app_faults
from drillkit.faults.database import actions as database_faults
from drillkit.faults.drivers.docker import DockerControl
from drillkit.faults.region import actions as region_faults
from drillkit.staging import topology
from drillkit.staging.topology import RegionParts
from tests.docker.staging.conftest import StagingTarget, wait_until

RUN_ID = "staging-fault-tests"
FAILOVER_WITHIN_S = 60  # Patroni's ttl is 20 s: the lock expires, then a replica is promoted


def test_killing_the_primary_moves_the_leader_and_the_heal_runs_both_members_again(healed: StagingTarget):
    primary = healed.leader()
    assert primary is not None

    injected = database_faults.kill_primary(scope="node", configuration=healed.configuration(RUN_ID))
    assert injected["member"] == primary and healed.status(primary) == "exited"
    assert wait_until(lambda: healed.leader() not in (None, primary), FAILOVER_WITHIN_S), healed.member_states()

    database_faults.restore_database(configuration=healed.configuration(RUN_ID))
    assert healed.status(primary) == "running"
    assert sorted(healed.member_states().values()) == ["running", "streaming"]


def test_a_graceful_stop_of_the_primary_hands_the_leader_over_and_the_heal_starts_it_again(healed: StagingTarget):
    primary = healed.leader()
    assert primary is not None

    database_faults.stop_primary(configuration=healed.configuration(RUN_ID))
    assert healed.status(primary) == "exited"
    assert wait_until(lambda: healed.leader() not in (None, primary), FAILOVER_WITHIN_S), healed.member_states()

    database_faults.restore_database(configuration=healed.configuration(RUN_ID))
    assert healed.status(primary) == "running"
    assert sorted(healed.member_states().values()) == ["running", "streaming"]


def test_a_killed_app_stops_answering_while_the_load_balancer_serves_from_the_other_region(healed: StagingTarget):
    app_faults.kill_app(region="region-a", configuration=healed.configuration(RUN_ID))
    assert healed.status("app-a") == "exited"
    assert not _answers(_app_url("app-a"))
    assert wait_until(lambda: _served_by(6) == {"app-b"}, 10)

    app_faults.restart_app(region="region-a", configuration=healed.configuration(RUN_ID))
    assert _answers(_app_url("app-a"))


def test_a_paused_app_answers_nothing_until_it_is_resumed(healed: StagingTarget):
    app_faults.pause_app(region="region-b", configuration=healed.configuration(RUN_ID))
    assert healed.status("app-b") == "paused"
    assert not _answers(_app_url("app-b"))
    assert wait_until(lambda: _served_by(6) == {"app-a"}, 10)

    app_faults.resume_app(region="region-b", configuration=healed.configuration(RUN_ID))
    assert healed.status("app-b") == "running"
    assert _answers(_app_url("app-b"))


def test_a_partitioned_region_reaches_neither_the_other_region_nor_etcd_until_healed(healed: StagingTarget):
    # the replica's region: cutting the leader's off would wait out Patroni's ttl for nothing more to see
    cut, other = _regions_by_role(healed)
    assert healed.reaches(cut.app, other.member_wan, topology.PATRONI_PORT)

    region_faults.partition_region(region=cut.region, configuration=healed.configuration(RUN_ID))
    assert not healed.reaches(cut.app, other.member_wan, topology.PATRONI_PORT)
    assert not healed.reaches(cut.app, topology.ETCD, topology.ETCD_PORT)
    assert not healed.reaches(other.app, cut.member_wan, topology.PATRONI_PORT)
    assert healed.reaches(cut.app, cut.member_local, topology.PATRONI_PORT), "its own region stays reachable"
    assert _answers(_app_url(cut.app), "/livez"), "clients outside every region (the host, the LB) still reach it"

    region_faults.heal_partition(region=cut.region, wait_s=60, configuration=healed.configuration(RUN_ID))
    assert healed.reaches(cut.app, topology.ETCD, topology.ETCD_PORT)
    assert all(not tags for tags in healed.rule_tags().values()), healed.rule_tags()
    assert wait_until(lambda: healed.staging.status().healthy, 60), healed.staging.status().to_dict()


def test_an_isolated_replica_stops_replicating_and_streams_again_once_rejoined(healed: StagingTarget):
    replica_region, primary_region = _regions_by_role(healed)
    replica, primary = replica_region.member, primary_region.member
    control = DockerControl(healed.target)
    assert _replicated_within(control, primary, replica, 10), "the replica must follow before the fault"

    injected = database_faults.isolate_replica(configuration=healed.configuration(RUN_ID))
    assert (injected["replica"], injected["primary"]) == (replica, primary)
    time.sleep(1)  # a commit made within a few hundred ms of the cut was seen to reach the replica still
    assert not _replicated_within(control, primary, replica, 3)

    database_faults.rejoin_replica(replica=replica, configuration=healed.configuration(RUN_ID))
    assert _replicated_within(control, primary, replica, 30)
    assert wait_until(lambda: healed.member_states().get(replica) == "streaming", 30), healed.member_states()


def test_an_apps_fault_endpoint_slows_and_fails_its_api_until_the_faults_are_removed(healed: StagingTarget):
    feed = f"{_app_url('app-a')}/api/feed?limit=1"
    app_faults.inject_http_faults(region="region-a", latency_ms=400, configuration=healed.configuration(RUN_ID))
    assert _seconds_to_get(feed) >= 0.4
    assert _seconds_to_get(f"{_app_url('app-a')}/healthz") < 0.4, "health checks stay untouched"
    assert _seconds_to_get(f"{_app_url('app-b')}/api/feed?limit=1") < 0.4, "the other region is not slowed"
    app_faults.remove_http_faults(region="region-a", configuration=healed.configuration(RUN_ID))
    assert _seconds_to_get(feed) < 0.4

    app_faults.inject_http_faults(region="region-a", error_rate=1.0, configuration=healed.configuration(RUN_ID))
    assert [httpx.get(feed, timeout=5).status_code for _ in range(3)] == [503] * 3
    app_faults.remove_http_faults(region="region-a", configuration=healed.configuration(RUN_ID))
    assert httpx.get(feed, timeout=5).status_code == 200


# -- helpers ---------------------------------------------------------------------------------------


def _app_url(app: str) -> str:
    return topology.app_urls()[app]


def _answers(url: str, path: str = "/healthz") -> bool:
    try:
        return httpx.get(f"{url}{path}", timeout=2.0).status_code == 200
    except httpx.HTTPError:
        return False


def _served_by(requests: int) -> set[str] | None:
    """The apps that answered REQUESTS health checks through the load balancer; None unless all answered."""
    try:
        answers = [httpx.get(f"{topology.endpoint()}/healthz", timeout=2.0) for _ in range(requests)]
    except httpx.HTTPError:
        return None
    if any(answer.status_code != 200 for answer in answers):
        return None
    return {answer.json()["app"] for answer in answers}


def _regions_by_role(staging: StagingTarget) -> tuple[RegionParts, RegionParts]:
    """The replica's region, then the leader's."""
    leader = staging.leader()
    assert leader is not None, staging.member_states()
    replica_region = next(region for region in topology.REGIONS if region.member != leader)
    leader_region = next(region for region in topology.REGIONS if region.member == leader)
    return replica_region, leader_region


def _replicated_within(control: DockerControl, primary: str, replica: str, timeout_s: float) -> bool:
    """Whether a transaction committed on PRIMARY now reaches REPLICA's disk within TIMEOUT_S."""
    with psycopg.connect(control.superuser_dsn(primary), autocommit=True) as conn:
        conn.execute("SELECT txid_current()")  # a commit record in the WAL
        (committed,) = conn.execute("SELECT pg_current_wal_flush_lsn()").fetchone()
    with psycopg.connect(control.superuser_dsn(replica), autocommit=True) as conn:
        return wait_until(lambda: conn.execute("SELECT pg_last_wal_receive_lsn() >= %s::pg_lsn",
                                               (str(committed),)).fetchone()[0], timeout_s, interval_s=0.2)


def _seconds_to_get(url: str) -> float:
    started = time.monotonic()
    httpx.get(url, timeout=5.0)
    return time.monotonic() - started
