"""Sandbox settings: defaults, validation and the errors a person sees."""

from __future__ import annotations

import subprocess
import sys

import pytest
from pydantic import ValidationError

from drillkit.errors import InvalidInput
from drillkit.model.sandbox import SAVED_CONFIG, PatroniTimings, SandboxConfig, load_config


def test_defaults_place_regions_and_witness_on_their_loopback_addresses():
    config = SandboxConfig()
    assert config.regions == {"region-a": "127.0.10.1", "region-b": "127.0.20.1"}
    assert config.witness == "127.0.30.1"
    assert (config.lb_address, config.ports.lb) == ("127.0.0.1", 8080)


def test_an_address_outside_loopback_is_refused():
    with pytest.raises(ValidationError, match="outside 127.0.0.0/8"):
        SandboxConfig(witness="10.0.0.5")
    with pytest.raises(ValidationError, match="outside 127.0.0.0/8"):
        SandboxConfig(regions={"region-a": "127.0.10.1", "region-b": "192.168.1.20"})


def test_regions_need_two_distinct_addresses():
    with pytest.raises(ValidationError, match="address of its own"):
        SandboxConfig(regions={"region-a": "127.0.10.1", "region-b": "127.0.10.1"})


def test_patroni_timings_obey_patronis_own_rule():
    assert PatroniTimings(ttl=20, loop_wait=1, retry_timeout=5)
    with pytest.raises(ValidationError, match="must not exceed ttl"):
        PatroniTimings(ttl=10, loop_wait=2, retry_timeout=5)


def test_load_config_prefers_the_file_then_the_saved_settings_then_defaults(tmp_path):
    assert load_config(tmp_path).ports.lb == 8080
    SandboxConfig(state_dir=tmp_path, ports={"lb": 9090}).save()
    assert load_config(tmp_path).ports.lb == 9090
    given = tmp_path / "given.yaml"
    given.write_text("ports:\n  lb: 9191\n")
    assert load_config(tmp_path, given).ports.lb == 9191


def test_a_bad_config_file_names_the_file_and_the_field(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("ports:\n  lb: 99999\npatroni:\n  ttl: soon\n")
    with pytest.raises(InvalidInput) as caught:
        load_config(tmp_path, bad)
    lines = str(caught.value).splitlines()
    assert f"{bad}: ports.lb: Input should be less than or equal to 65535" in lines
    assert any(line.startswith(f"{bad}: patroni.ttl: ") for line in lines)


def test_the_cli_exits_2_on_a_bad_config_and_starts_nothing(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("witness: 8.8.8.8\n")
    result = subprocess.run(
        [sys.executable, "-m", "drillkit", "sandbox", "up", "--state-dir", str(tmp_path / "state"),
         "--config", str(bad)],
        capture_output=True, text=True, timeout=60, check=False,
    )
    assert result.returncode == 2, result.stderr
    assert "witness" in result.stderr and "outside 127.0.0.0/8" in result.stderr
    assert not (tmp_path / "state" / SAVED_CONFIG).exists()
