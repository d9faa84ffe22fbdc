"""The Docker staging's files agree with each other: compose.yaml with the topology, the target with the
engine and the services, the secrets with what the target expects; the image's tag follows its sources."""

from __future__ import annotations

import ipaddress
import stat
from pathlib import Path
from types import SimpleNamespace

import pytest
import yaml

from drillkit.errors import SandboxError
from drillkit.model.sandbox import SandboxConfig
from drillkit.model.target import DockerDriver, load_target
from drillkit.sandbox import patroni
from drillkit.sandbox.topology import Credentials, Paths, named
from drillkit.staging import serve, stack, topology
from drillkit.staging.engine import DEFAULT_ROOT, Engine, HostNetwork
from drillkit.staging.images import ImageBuilder
from drillkit.staging.secrets import write_secrets
from tests.conftest import DOCKER_TESTS, pytest_ignore_collect

ROOT = Path(__file__).resolve().parents[2]
COMPOSE = yaml.safe_load((ROOT / "deploy/docker/compose.yaml").read_text())


def networks_of(service: str) -> dict[str, str]:
    return {name: settings["ipv4_address"] for name, settings in COMPOSE["services"][service]["networks"].items()}


def test_compose_has_the_services_that_the_target_names_as_components():
    assert set(COMPOSE["services"]) == set(stack.SERVICES)


def test_compose_puts_each_container_at_the_topologys_addresses():
    for region in topology.REGIONS:
        assert networks_of(region.member) == {region.region: region.member_local, "wan": region.member_wan}
        assert networks_of(region.app) == {region.region: region.app_local, "wan": region.app_wan}
    assert networks_of("etcd") == {"wan": topology.ETCD}
    assert networks_of("lb") == {"wan": topology.LB}


def test_compose_networks_have_the_fixed_subnets_and_bridges_named_for_the_down_check():
    for name, network in COMPOSE["networks"].items():
        assert network["ipam"]["config"][0]["subnet"] == topology.SUBNETS[name]
        assert network["driver_opts"]["com.docker.network.bridge.name"] == f"{topology.BRIDGE_PREFIX}{name}"


def test_the_load_balancer_balances_over_both_apps_on_the_wan():
    upstreams = COMPOSE["services"]["lb"]["environment"]["STAGING_UPSTREAMS"].split()
    assert upstreams == [f"{region.app_wan}:{topology.APP_PORT}" for region in topology.REGIONS]


def test_the_docker_target_binds_the_staging_on_its_default_engine():
    target = load_target(ROOT / "drills/targets/docker.yaml")
    assert isinstance(target.driver, DockerDriver)
    assert target.driver.base_url == Engine(DEFAULT_ROOT).url
    assert target.driver.compose_project == topology.PROJECT
    assert set(target.components().values()) | set(target.driver.witness) <= set(COMPOSE["services"])
    assert str(target.endpoint).rstrip("/") == topology.endpoint()
    assert [api.rstrip("/") for api in target.patroni_apis()] == topology.patroni_apis()
    assert target.ledger.mode == "dsn"


def test_secrets_are_private_files_and_the_superuser_dsn_names_no_host(tmp_path: Path):
    write_secrets(tmp_path)
    for path in tmp_path.iterdir():
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path.name
    superuser = (tmp_path / "database_superuser").read_text()
    assert "user=postgres" in superuser and "host=" not in superuser and "port=" not in superuser


def test_the_ledger_dsn_names_both_members_and_asks_for_the_primary(tmp_path: Path):
    write_secrets(tmp_path)
    ledger = (tmp_path / "ledger.dsn").read_text()
    assert "host=10.230.0.21,10.230.0.22 " in ledger and "target_session_attrs=read-write" in ledger


def test_each_apps_dsn_names_its_own_regions_member_first(tmp_path: Path):
    write_secrets(tmp_path)
    app_b = dict(line.split("=", 1) for line in (tmp_path / "app-b.env").read_text().splitlines())
    assert "@10.230.2.20:5432,10.230.0.21:5432/feedhub?target_session_attrs=read-write" in app_b["FEEDHUB_DSN"]


def test_secrets_are_made_once_per_staging(tmp_path: Path):
    first = write_secrets(tmp_path)
    assert write_secrets(tmp_path) == first
    assert first != write_secrets(tmp_path / "another")


def test_a_member_runs_the_sandboxs_patroni_settings_without_any_password_in_its_file():
    env = {"STAGING_MEMBER": "pg-a", "STAGING_REGION": "region-a", "STAGING_ADDRESS": "10.230.0.21",
           "STAGING_ETCD": "10.230.0.5:2379"}
    config = serve.patroni_config(env)
    sandbox = SandboxConfig()
    creds = Credentials("s" * 20, "r" * 20, "w" * 20, "a" * 20, "t" * 20)
    mirrored = patroni.render(sandbox, Paths(Path("/x")), named(sandbox, "pg-a"), creds)
    assert config["bootstrap"] == mirrored["bootstrap"]
    assert config["postgresql"]["parameters"] == {**mirrored["postgresql"]["parameters"],
                                                  "unix_socket_directories": str(serve.HOME)}
    assert config["postgresql"]["connect_address"] == "10.230.0.21:5432"
    assert "authentication" not in config["postgresql"] and "s" * 20 not in yaml.safe_dump(config)


def make_repo(root: Path) -> Path:
    (root / "deploy/docker").mkdir(parents=True)
    (root / "deploy/docker/Dockerfile").write_text("FROM ${BASE}\n")
    (root / "pyproject.toml").write_text("[project]\nname = 'drillkit'\ndependencies = []\n")
    (root / "src/drillkit").mkdir(parents=True)
    (root / "src/drillkit/app.py").write_text("A = 1\n")
    return root


def test_the_image_tag_is_kept_for_the_same_sources_and_changes_with_a_source_file(tmp_path: Path):
    builder = ImageBuilder(Engine(tmp_path / "engine"), make_repo(tmp_path / "repo"), cache=tmp_path / "cache")
    first = builder.image_key("base:1", Path("wheels-1"))
    assert builder.image_key("base:1", Path("wheels-1")) == first
    (tmp_path / "repo/src/drillkit/app.py").write_text("A = 2\n")
    assert builder.image_key("base:1", Path("wheels-1")) != first
    assert builder.image_key("base:2", Path("wheels-1")) != builder.image_key("base:1", Path("wheels-1"))


def test_down_counts_only_what_this_staging_left_on_the_host(monkeypatch: pytest.MonkeyPatch):
    before = HostNetwork(frozenset({"lo", "eth0"}), ("-P INPUT ACCEPT",))
    after = HostNetwork(frozenset({"lo", "eth0", "dkstg-wan", "br-0123456789ab"}),
                        ("-P INPUT ACCEPT", "-A FORWARD -o dkstg-wan -j DOCKER", "-A DRILLKIT -s 127.0.10.1 -j DROP"))
    monkeypatch.setattr(HostNetwork, "now", classmethod(lambda cls: after))
    assert stack.left_on_host(before) == ["interface dkstg-wan", "rule -A FORWARD -o dkstg-wan -j DOCKER"]


@pytest.mark.parametrize(("args", "skipped"), [(["tests"], True), ([], True), (["tests/docker"], False),
                                               (["tests/docker/test_staging.py::test_x"], False)])
def test_the_docker_tests_run_only_when_named(monkeypatch: pytest.MonkeyPatch, args: list[str], skipped: bool):
    monkeypatch.chdir(ROOT)
    assert pytest_ignore_collect(DOCKER_TESTS, SimpleNamespace(args=args)) is skipped


def test_staging_up_names_the_missing_debian_packages_and_how_to_install_them(monkeypatch: pytest.MonkeyPatch,
                                                                                tmp_path: Path):
    monkeypatch.setattr(stack, "missing_packages", lambda: ["debootstrap"])
    with pytest.raises(SandboxError, match=r"missing Debian packages: debootstrap; `make docker-packages`"):
        stack.Staging(state_dir=tmp_path, engine_root=tmp_path / "engine", repo=ROOT).up()
    assert not (tmp_path / "engine").exists()


def test_the_compose_example_target_validates_with_a_dsn_ledger_and_its_own_probe_routes():
    target = load_target(ROOT / "drills/targets/compose.example.yaml")
    assert target.ledger.mode == "dsn" and target.probes.write is None
    assert isinstance(target.driver, DockerDriver) and target.driver.compose_project == "shop"


def test_a_member_lets_its_own_patroni_open_a_local_replication_connection():
    # Patroni reads a replica's timeline over a replication connection to localhost; refused, it never sees
    # that a demoted primary diverged, so it never runs pg_rewind and the member never streams again
    env = {"STAGING_MEMBER": "pg-b", "STAGING_REGION": "region-b", "STAGING_ADDRESS": "10.230.0.22"}
    rules = [line.split() for line in serve.patroni_config(env)["postgresql"]["pg_hba"]]
    local = [rule for rule in rules if rule[:3] == ["host", "replication", "replicator"]
             and ipaddress.ip_address("127.0.0.1") in ipaddress.ip_network(rule[3])]
    assert local, rules
