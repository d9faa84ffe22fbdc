"""The embedded staging sandbox: real etcd, Patroni/PostgreSQL, Feed Hub apps and Caddy."""

from __future__ import annotations

import os
import signal
import time
import uuid

import httpx
import psutil
import psycopg

from drillkit.faults.drivers.process import ProcessControl
from drillkit.sandbox import netfilter

from .conftest import TEST_PORTS, wait_until


def test_every_part_is_up_and_healthy(sandbox):
    status = sandbox.status()
    assert status["healthy"], status
    assert [part["name"] for part in status["parts"]] == ["etcd", "pg-a", "pg-b", "backup", "app-a", "app-b", "lb"]
    assert all(part["pid"] for part in status["parts"])


def test_patroni_reports_one_leader_and_one_streaming_replica(sandbox):
    members = {part["name"]: part for part in sandbox.status()["parts"] if part["kind"] == "postgres"}
    roles = sorted(member["role"] for member in members.values())
    assert roles == ["leader", "replica"]
    replica = next(member for member in members.values() if member["role"] == "replica")
    assert replica["detail"] == "streaming"
    cluster = httpx.get(f"http://127.0.10.1:{TEST_PORTS['patroni_api']}/cluster", timeout=2).json()
    assert len(cluster["members"]) == 2


def test_under_root_each_database_member_and_app_runs_as_its_own_unprivileged_user(sandbox):
    def expected_user(name: str) -> str:
        return f"drillkit-{name}" if os.geteuid() == 0 else psutil.Process().username()

    for part in sandbox.status()["parts"]:
        if part["kind"] in ("postgres", "app"):
            assert psutil.Process(part["pid"]).username() == expected_user(part["name"])
    postmasters = [
        proc for proc in psutil.process_iter(["name", "username", "cmdline"])
        if proc.info["name"] == "postgres"
        and str(sandbox.state_dir) in " ".join(proc.info["cmdline"] or [])
    ]
    assert {proc.info["username"] for proc in postmasters} == {expected_user("pg-a"), expected_user("pg-b")}


def test_a_write_through_the_load_balancer_reads_back(sandbox):
    title = f"drill-{uuid.uuid4()}"
    with httpx.Client(base_url=sandbox.endpoint, timeout=5) as client:
        created = client.post("/api/items", json={"title": title, "tenant": "acme"})
        assert created.status_code == 201, created.text
        item_id = created.json()["id"]
        read = client.get(f"/api/items/{item_id}")
        assert read.status_code == 200
        assert read.json()["title"] == title
        feed = client.get("/api/feed", params={"tenant": "acme"}).json()["items"]
        assert title in [item["title"] for item in feed]


def test_ledger_acknowledges_each_write_once_and_lists_them(sandbox):
    writer = f"w-{uuid.uuid4().hex[:8]}"
    with httpx.Client(base_url=sandbox.endpoint, timeout=5) as client:
        for seq in range(5):
            assert client.post("/api/ledger", json={"writer": writer, "seq": seq}).status_code == 201
        again = client.post("/api/ledger", json={"writer": writer, "seq": 3})
        assert again.status_code == 200 and again.json()["created"] is False
        assert client.get(f"/api/ledger/{writer}").json()["seqs"] == [0, 1, 2, 3, 4]


def test_bad_request_bodies_get_422_not_a_server_error(sandbox):
    response = httpx.post(f"{sandbox.endpoint}/api/items", json={"body": "no title"}, timeout=5)
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["title"]


def test_both_regions_serve_traffic_through_the_load_balancer(sandbox):
    with httpx.Client(base_url=sandbox.endpoint, timeout=5) as client:
        served_by = {client.get("/api/feed").headers["x-served-by"] for _ in range(20)}
    assert served_by == {"app-a", "app-b"}


def test_with_app_a_killed_the_load_balancer_serves_every_request_from_app_b(sandbox):
    app_a = sandbox.part("app-a")
    os.killpg(app_a["pid"], signal.SIGKILL)
    try:
        wait_until(lambda: not sandbox.part("app-a")["running"], timeout_s=10)
        with httpx.Client(base_url=sandbox.endpoint, timeout=5) as client:
            answers = [client.get("/api/feed") for _ in range(50)]
        assert [r.status_code for r in answers] == [200] * 50
        assert {r.headers["x-served-by"] for r in answers} == {"app-b"}
    finally:
        sandbox.up()  # brings app-a back: up starts exactly what does not run
    assert sandbox.part("app-a")["healthy"]


def test_up_is_idempotent_and_keeps_running_processes(sandbox):
    before = {part["name"]: part["pid"] for part in sandbox.status()["parts"]}
    sandbox.up()
    after = {part["name"]: part["pid"] for part in sandbox.status()["parts"]}
    assert after == before


def test_down_leaves_no_process_or_port_behind_and_up_brings_the_data_back(sandbox):
    with httpx.Client(base_url=sandbox.endpoint, timeout=5) as client:
        item_id = client.post("/api/items", json={"title": "survives a restart"}).json()["id"]
    pids = [part["pid"] for part in sandbox.status()["parts"]]
    netfilter.add("drillkit:test:left-behind", [netfilter.DropRule(uid=65534, destination="127.0.20.1")])

    sandbox.down()

    assert not netfilter.chain_exists(), "sandbox down must remove every DRILLKIT rule"
    assert not [pid for pid in pids if psutil.pid_exists(pid) and _not_zombie(pid)]
    assert not _sandbox_processes(sandbox.state_dir)
    assert not _listening_ports(set(TEST_PORTS.values()))
    status = sandbox.status()
    assert not any(part["running"] for part in status["parts"])

    sandbox.up()
    with httpx.Client(base_url=sandbox.endpoint, timeout=5) as client:
        assert client.get(f"/api/items/{item_id}").json()["title"] == "survives a restart"


def test_status_exits_non_zero_while_a_part_is_down(sandbox):
    os.killpg(sandbox.part("app-b")["pid"], signal.SIGKILL)
    try:
        wait_until(lambda: not sandbox.part("app-b")["running"], timeout_s=10)
        result = sandbox.cli("sandbox", "status", check=False)
        assert result.returncode == 1
        assert "not running" in result.stdout
    finally:
        sandbox.up()


def _not_zombie(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def _sandbox_processes(state_dir) -> list[str]:
    found = []
    for proc in psutil.process_iter(["cmdline"]):
        cmdline = " ".join(proc.info["cmdline"] or [])
        if str(state_dir) in cmdline:
            found.append(f"{proc.pid} {cmdline}")
    return found


def _listening_ports(ports: set[int]) -> list[str]:
    return [
        f"{conn.laddr.ip}:{conn.laddr.port} (pid {conn.pid})"
        for conn in psutil.net_connections(kind="inet")
        if conn.status == psutil.CONN_LISTEN and conn.laddr.port in ports
    ]


def test_up_restarts_the_only_member_fit_to_lead_when_the_replica_lagged_too_far(sandbox):
    """A replica cut off from replication while the primary wrote more than maximum_lag_on_failover,
    then the primary killed: no member leads until the primary is back. `sandbox up` (a restore) must
    start it, not wait for a leader that the lagging replica will never become."""
    control = ProcessControl(sandbox.state_dir)
    leader, replica = "pg-b", "pg-a"  # the member up starts first must be the one that lags
    if _leader_and_replica()[0] != leader:
        httpx.post(f"http://127.0.20.1:{TEST_PORTS['patroni_api']}/switchover",
                   json={"leader": replica, "candidate": leader}, timeout=30).raise_for_status()
        wait_until(lambda: _leader_and_replica()[0] == leader and sandbox.status()["healthy"], timeout_s=60,
                   what="pg-b to lead, with pg-a streaming")
    control.cut_replication("drillkit:test:lag", replica, leader)
    try:
        with psycopg.connect(control.superuser_dsn(leader), autocommit=True) as conn:
            # about 10 MB of WAL that does not compress, well past the sandbox's 1 MB maximum_lag_on_failover
            conn.execute("CREATE TABLE lag_filler AS SELECT md5(random()::text) || md5(random()::text) AS pad "
                         "FROM generate_series(1, 100000)")
            conn.execute("DROP TABLE lag_filler")
        # Patroni judges the lag by the leader's position in the DCS: wait until it is published there
        wait_until(lambda: _replica_lag(replica) > 2_000_000, timeout_s=30, what="Patroni to see the replica lag")
        control.kill(leader, graceful=False)
    finally:
        control.mend("drillkit:test:lag")
    started = time.monotonic()
    sandbox.up()
    assert _leader_and_replica()[0] == leader, "only the killed primary held every write"
    assert time.monotonic() - started < 50, "up waited out its limit before starting the member fit to lead"


def _leader_and_replica() -> tuple[str, str]:
    roles = {member["name"]: member["role"] for member in _cluster()["members"]}
    leader = next(name for name, role in roles.items() if role == "leader")
    return leader, next(name for name in roles if name != leader)


def _replica_lag(replica: str) -> int:
    lag = next(member.get("lag") for member in _cluster()["members"] if member["name"] == replica)
    return lag if isinstance(lag, int) else 0


def _cluster() -> dict:
    for address in ("127.0.10.1", "127.0.20.1"):
        try:
            return httpx.get(f"http://{address}:{TEST_PORTS['patroni_api']}/cluster", timeout=5).json()
        except httpx.HTTPError:
            continue  # that member is down: ask the other
    raise AssertionError("no Patroni answered")


def test_a_heal_brings_the_platform_back_without_waiting_for_a_frozen_backup_server(sandbox):
    """The backup server's state is a finding of the drill, never a condition of a fault's heal."""
    backup = sandbox.part("backup")
    os.kill(backup["pid"], signal.SIGSTOP)  # it runs, yet never beats nor backs up
    try:
        beat = next(sandbox.backup_dir.rglob("heartbeat*"))
        os.utime(beat, (time.time() - 120, time.time() - 120))  # its last beat, two minutes ago: stale now
        assert not sandbox.part("backup")["healthy"]
        os.killpg(sandbox.part("app-a")["pid"], signal.SIGKILL)
        wait_until(lambda: not sandbox.part("app-a")["running"], timeout_s=10)
        started = time.monotonic()
        ProcessControl(sandbox.state_dir).restore()
        took = time.monotonic() - started
        assert sandbox.part("app-a")["healthy"] and took < 30, f"the heal took {took:.1f} s"
    finally:
        os.kill(backup["pid"], signal.SIGCONT)
    wait_until(lambda: sandbox.part("backup")["healthy"], timeout_s=60, what="the backup server to beat again")
