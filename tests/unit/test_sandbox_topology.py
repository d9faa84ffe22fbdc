"""Where the parts live and how they are configured, without starting anything."""

from __future__ import annotations

import stat

from drillkit.model.sandbox import SandboxConfig
from drillkit.sandbox import caddy, feedhub, patroni
from drillkit.sandbox.topology import Credentials, Kind, Paths, named, of_kind, parts


def test_parts_are_listed_in_start_order_with_their_regions():
    assert [(p.name, p.region, p.address) for p in parts(SandboxConfig())] == [
        ("etcd", "witness", "127.0.30.1"),
        ("pg-a", "region-a", "127.0.10.1"),
        ("pg-b", "region-b", "127.0.20.1"),
        ("app-a", "region-a", "127.0.10.1"),
        ("app-b", "region-b", "127.0.20.1"),
        ("lb", "global", "127.0.0.1"),
    ]


def test_each_app_reaches_the_primary_through_a_multi_host_dsn_own_region_first():
    config = SandboxConfig()
    creds = Credentials("s", "r", "w", "app-secret", "t")
    dsn_b = feedhub.dsn(config, named(config, "app-b"), creds)
    assert "host=127.0.20.1,127.0.10.1" in dsn_b
    assert "target_session_attrs=read-write" in dsn_b
    assert "password=app-secret" in dsn_b


def test_patroni_config_carries_the_timings_and_the_members_own_address(tmp_path):
    config = SandboxConfig(state_dir=tmp_path, patroni={"ttl": 30, "loop_wait": 2, "retry_timeout": 6})
    member = named(config, "pg-b")
    rendered = patroni.render(config, Paths(tmp_path), member, Credentials("s", "r", "w", "a", "t"))
    assert rendered["bootstrap"]["dcs"]["ttl"] == 30
    assert rendered["bootstrap"]["dcs"]["loop_wait"] == 2
    assert rendered["postgresql"]["listen"] == "127.0.20.1:5432"
    assert rendered["restapi"]["listen"] == "127.0.20.1:8008"
    assert rendered["etcd3"]["hosts"] == ["127.0.30.1:2379"]
    assert (patroni.bin_dir() / "postgres").exists()


def test_patroni_config_file_is_private_to_its_owner(tmp_path):
    config = SandboxConfig(state_dir=tmp_path)
    creds = Credentials("s", "r", "w", "a", "t")
    written = patroni.write_config(config, Paths(tmp_path), named(config, "pg-a"), creds)
    assert stat.S_IMODE(written.stat().st_mode) == 0o600
    assert stat.S_IMODE(written.parent.stat().st_mode) == 0o700


def test_the_load_balancer_checks_both_regions_actively_and_passively():
    config = SandboxConfig(lb_checks={"interval_ms": 400})
    (lb,) = of_kind(config, Kind.LB)
    text = caddy.caddyfile(config, lb)
    assert "reverse_proxy 127.0.10.1:8000 127.0.20.1:8000" in text
    assert "health_uri /healthz" in text
    assert "health_interval 400ms" in text
    assert "max_fails 1" in text
    assert "fail_duration 3s" in text
    assert "bind 127.0.0.1" in text
    assert caddy.binary().exists()


def test_credentials_are_made_once_and_kept_private(tmp_path):
    path = tmp_path / "credentials.json"
    first = Credentials.load_or_create(path)
    assert Credentials.load_or_create(path) == first
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert len({first.superuser, first.replication, first.rewind, first.app, first.admin}) == 5
