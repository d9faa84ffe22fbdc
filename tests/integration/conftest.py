"""One real sandbox per test session, on ports of its own so that a developer's sandbox may run beside it.
It runs with its backup server (Barman, `--with-backups`), so that every backup test shares it.

The sandbox is driven through the real CLI (`python -m drillkit`), the way SREs and CI drive it, and
is always taken down at the end, even when a test fails.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest
import yaml

TEST_PORTS = {
    "etcd_client": 12379, "etcd_peer": 12380, "postgres": 15432, "patroni_api": 18008,
    "app": 18000, "lb": 18080, "lb_admin": 12019,
}
PROMETHEUS_ADDRESS = "127.0.0.1:19090"
REGION_ADDRESSES = {"region-a": "127.0.10.1", "region-b": "127.0.20.1"}
RESTORE_PORT = 15440  # restored copies, on the witness address: not the developer sandbox's 5440


ROOT = Path(__file__).resolve().parents[2]
BARMAN = ROOT / ".venv" / "barman" / "bin" / "barman"


def drillkit(*args: str, check: bool = True, timeout: float = 300, env: dict | None = None
             ) -> subprocess.CompletedProcess:
    result = subprocess.run(
        [sys.executable, "-m", "drillkit", *args],
        capture_output=True, text=True, timeout=timeout, check=False, cwd=ROOT,
        env={**os.environ, **(env or {})},
    )
    if check and result.returncode != 0:
        raise AssertionError(
            f"drillkit {' '.join(args)} exited {result.returncode}\n"
            f"stdout:\n{result.stdout}\nstderr:\n{result.stderr}"
        )
    return result


class SandboxHandle:
    """The session's sandbox, as the tests see it from outside."""

    def __init__(self, state_dir: Path, config_file: Path) -> None:
        self.state_dir = state_dir
        self.config_file = config_file
        self.endpoint = f"http://127.0.0.1:{TEST_PORTS['lb']}"

    def cli(self, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        return drillkit(*args, "--state-dir", str(self.state_dir), check=check)

    def up(self) -> subprocess.CompletedProcess:
        return self.cli("sandbox", "up", "--config", str(self.config_file), "--with-backups")

    @property
    def backup_dir(self) -> Path:
        return self.state_dir / "backup"

    def down(self) -> subprocess.CompletedProcess:
        return self.cli("sandbox", "down")

    def status(self) -> dict:
        return json.loads(self.cli("sandbox", "status", "--json", check=False).stdout)

    def part(self, name: str) -> dict:
        return next(part for part in self.status()["parts"] if part["name"] == name)


def wait_until(check, timeout_s: float, what: str = "the condition") -> None:
    deadline = time.monotonic() + timeout_s
    while not check():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout_s} s waiting for {what}")
        time.sleep(0.2)


def ensure_iptables() -> None:
    """Network faults need iptables; install Debian's package when it is missing (we run as root).
    It lands in /usr/sbin, which a minimal PATH lacks: look where drillkit looks."""
    from drillkit.sandbox.netfilter import binary

    if binary():
        return
    if os.geteuid() != 0:
        pytest.fail("network faults need root and iptables: run the integration tests as root")
    for command in (["apt-get", "update", "-qq"], ["apt-get", "install", "-y", "-qq", "iptables"]):
        subprocess.run(command, check=True, capture_output=True, timeout=600,
                       env={**os.environ, "DEBIAN_FRONTEND": "noninteractive"})
    assert binary(), "apt-get installed iptables, yet drillkit cannot find it"


# Modules that need the backup server's WAL stream whole run first. A failover that promotes a lagging
# replica (test_experiments) leaves Barman's receive-wal behind the new timeline until an operator resets
# it (the sandbox does not yet follow that runbook step), and a point-in-time restore then waits for WAL
# that never comes, or misses its marker.
BACKUP_MODULES_FIRST = ("test_backups.py", "test_backup_policy.py", "test_restore.py")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    items.sort(key=lambda item: item.path.name not in BACKUP_MODULES_FIRST)  # stable: each module keeps its order


@pytest.fixture(scope="session")
def target_file(sandbox, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The session sandbox as a drillkit target."""
    ports = TEST_PORTS
    regions = {
        name: {
            "address": address,
            "app": {"component": f"app-{suffix}", "url": f"http://{address}:{ports['app']}"},
            "database": {"component": f"pg-{suffix}", "patroni_api": f"http://{address}:{ports['patroni_api']}"},
        }
        for name, address, suffix in (("region-a", "127.0.10.1", "a"), ("region-b", "127.0.20.1", "b"))
    }
    target = {
        "name": "test-sandbox", "kind": "sandbox",
        "driver": {"type": "process", "state_dir": str(sandbox.state_dir)},
        "endpoint": sandbox.endpoint, "regions": regions,
        "backups": {
            "policy": str(ROOT / "drills" / "backup-policy.yaml"), "time_scale": 60,
            "barman": str(BARMAN), "barman_config": str(sandbox.backup_dir / "barman.conf"),
            "server": "feedhub", "run_as": "drillkit-backup" if os.geteuid() == 0 else None,
            "database": {"file": str(sandbox.backup_dir / "app.dsn")},
            "restore_address": "127.0.30.1", "restore_port": RESTORE_PORT,
        },
    }
    path = tmp_path_factory.mktemp("target") / "target.yaml"
    path.write_text(yaml.safe_dump(target, sort_keys=False))
    return path


@pytest.fixture(scope="session")
def sandbox():
    # Not under pytest's tmp dir: every pytest session resets /tmp/pytest-of-<user> to mode 0700,
    # which would lock the sandbox's unprivileged users out of their own files mid-run.
    state_dir = Path(tempfile.mkdtemp(prefix="drillkit-test-sandbox-"))
    config_file = state_dir.with_name(state_dir.name + ".yaml")
    # With backups in the settings file itself, every `sandbox up --config` of the session keeps them.
    backups = {"policy": str(ROOT / "drills" / "backup-policy.yaml"), "barman": str(BARMAN)}
    config_file.write_text(yaml.safe_dump({"ports": TEST_PORTS, "backups": backups}))
    handle = SandboxHandle(state_dir, config_file)
    ensure_iptables()
    ensure_barman()
    try:
        handle.up()
        yield handle
    finally:
        handle.down()
        shutil.rmtree(state_dir, ignore_errors=True)
        config_file.unlink(missing_ok=True)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo):
    report = yield
    if report.when == "call" and report.failed:
        item.stash[FAILED] = True
    return report


FAILED = pytest.StashKey[bool]()


@pytest.fixture(autouse=True)
def heal_the_sandbox_after_a_failure(request: pytest.FixtureRequest):
    """A test that failed half-way may leave the shared sandbox broken (a member down, say): bring it up
    again, so that one failure is reported once and not by every test after it."""
    yield
    if not request.node.stash.get(FAILED, False) or "sandbox" not in request.fixturenames:
        return
    if "target_file" in request.fixturenames:  # heal its open faults first: a cut left in place, say
        drillkit("recover", "--target", str(request.getfixturevalue("target_file")), check=False)
    request.getfixturevalue("sandbox").up()


def ensure_barman() -> None:
    """Barman's venv (`make barman`) and rsync, which barman restores with; built or installed when missing."""
    if not BARMAN.exists():
        subprocess.run(["make", "-C", str(ROOT), "barman"], check=True, capture_output=True, timeout=600)
    ensure_debian_binary("rsync", "rsync")


class PrometheusHandle:
    """The session's Prometheus server: its URL, and instant queries against it."""

    def __init__(self, url: str) -> None:
        self.url = url

    def query(self, promql: str) -> list:
        import httpx

        response = httpx.get(f"{self.url}/api/v1/query", params={"query": promql}, timeout=5)
        response.raise_for_status()
        return response.json()["data"]["result"]


def prometheus_config() -> dict:
    """Every second: the two apps' /metrics (job feedhub) and the two Patroni REST APIs' /metrics (job
    patroni), each labelled with its region."""
    def job(name: str, port: int) -> dict:
        return {"job_name": name, "static_configs": [
            {"targets": [f"{address}:{port}"], "labels": {"region": region}}
            for region, address in REGION_ADDRESSES.items()]}

    return {"global": {"scrape_interval": "1s", "scrape_timeout": "900ms", "evaluation_interval": "1s"},
            "scrape_configs": [job("feedhub", TEST_PORTS["app"]), job("patroni", TEST_PORTS["patroni_api"])]}


@pytest.fixture(scope="session")
def prometheus(sandbox, tmp_path_factory: pytest.TempPathFactory):
    """A real Prometheus (Debian's package) on a loopback port, with a data dir and a config of its own,
    scraping the session sandbox; stopped at the end of the session, whatever happened."""
    binary = ensure_debian_binary("prometheus", "--no-install-recommends", "prometheus")
    folder = tmp_path_factory.mktemp("prometheus")
    (folder / "prometheus.yml").write_text(yaml.safe_dump(prometheus_config(), sort_keys=False))
    with (folder / "prometheus.log").open("wb") as log:
        server = subprocess.Popen(
            [binary, f"--config.file={folder / 'prometheus.yml'}", f"--storage.tsdb.path={folder / 'data'}",
             f"--web.listen-address={PROMETHEUS_ADDRESS}", "--storage.tsdb.retention.time=1h"],
            stdout=log, stderr=log, stdin=subprocess.DEVNULL, start_new_session=True)
    handle = PrometheusHandle(f"http://{PROMETHEUS_ADDRESS}")
    try:
        wait_until(lambda: _ready(handle, server), 60, f"Prometheus to be ready (see {folder / 'prometheus.log'})")
        wait_until(lambda: len(handle.query('up{job="patroni"} == 1')) == 2, 30, "Prometheus to scrape both Patronis")
        yield handle
    finally:
        server.terminate()
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()


def _ready(handle: PrometheusHandle, server: subprocess.Popen) -> bool:
    import httpx

    if server.poll() is not None:
        pytest.fail(f"Prometheus exited with code {server.returncode}")
    try:
        return httpx.get(f"{handle.url}/-/ready", timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


def ensure_debian_binary(binary: str, *install: str) -> str:
    """BINARY from Debian's package (`make test-packages` installs it); installed here with
    `apt-get install INSTALL...` when missing, which needs root."""
    found = shutil.which(binary)
    if found:
        return found
    if os.geteuid() != 0:
        pytest.fail(f"this test needs Debian's {binary} package, and root to install it")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    for command in (["apt-get", "update", "-qq"], ["apt-get", "install", "-y", "-qq", *install]):
        subprocess.run(command, check=True, capture_output=True, timeout=900, env=env)
    return shutil.which(binary) or pytest.fail(f"apt-get installed {binary}, yet it is not on PATH")
