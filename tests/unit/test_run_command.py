"""`drillkit run`, `drill`, `preflight` and `loadtest` through the real CLI, on input they must refuse or
on a target that does not run: exit codes, messages, and nothing written or logged."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from drillkit.drill import runner

ROOT = Path(__file__).resolve().parents[2]
INVALID = ROOT / "tests" / "fixtures" / "invalid"
PLAIN = ROOT / "tests" / "fixtures" / "chaos" / "plain.yaml"
PARTITION = ROOT / "experiments" / "region-partition.yaml"


def drillkit(*args: str, cwd: Path = ROOT, **env: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "drillkit", *args], capture_output=True, text=True, cwd=cwd,
                          timeout=120, check=False, env={**os.environ, **env})


@pytest.fixture
def down_target(tmp_path: Path) -> Path:
    """The sandbox target with a state dir of its own and closed ports: nothing runs there."""
    spec = yaml.safe_load((ROOT / "drills" / "targets" / "sandbox.yaml").read_text())
    spec["driver"]["state_dir"] = str(tmp_path / "state")
    spec["endpoint"] = "http://127.0.0.1:3"
    for region in spec["regions"].values():
        region["app"]["url"] = region["app"]["url"].rsplit(":", 1)[0] + ":1"
        region["database"]["patroni_api"] = region["database"]["patroni_api"].rsplit(":", 1)[0] + ":2"
    path = tmp_path / "target.yaml"
    path.write_text(yaml.safe_dump(spec))
    return path


def test_run_stops_at_preflight_with_exit_3_when_the_target_is_down(down_target, tmp_path):
    result = drillkit("run", str(PARTITION), "--target", str(down_target), "--out", str(tmp_path / "out"))
    assert result.returncode == 3, result.stderr
    assert "preflight:" in result.stderr and "component (app-a)" in result.stderr
    assert not (tmp_path / "state" / "faults.jsonl").exists(), "no fault may be logged"
    assert not (tmp_path / "out").exists()


def test_run_without_iptables_names_the_missing_binary(down_target, tmp_path):
    result = drillkit("run", str(PARTITION), "--target", str(down_target), "--out", str(tmp_path / "out"),
                      DRILLKIT_IPTABLES="/nonexistent/iptables")
    assert result.returncode == 3
    assert "iptables (network faults)" in result.stderr and "apt" not in result.stdout


def test_run_on_a_kubernetes_target_with_an_unbound_member_exits_2_and_logs_no_fault(tmp_path):
    result = drillkit("run", str(PARTITION), "--target", str(INVALID / "target-kubernetes.yaml"),
                      "--out", str(tmp_path / "out"))
    assert result.returncode == 2
    assert "'pg-b' is bound to no pods" in result.stderr
    assert not (tmp_path / "out").exists()


def test_run_takes_the_target_from_drillkit_target(tmp_path):
    result = drillkit("run", str(PARTITION), "--dry-run", "--out", str(tmp_path / "out"),
                      DRILLKIT_TARGET=str(INVALID / "target-kubernetes.yaml"))
    assert result.returncode == 2
    assert "│ compose" in result.stdout and "(exit 2)" in result.stdout


@pytest.mark.parametrize("out", ["/etc", "file"])
def test_run_refuses_an_out_folder_that_is_not_a_run_folder(out, down_target, tmp_path):
    (tmp_path / "file").write_text("keep me")
    out_dir = out if out.startswith("/") else str(tmp_path / out)
    result = drillkit("run", str(PLAIN), "--target", str(down_target), "--out", out_dir, "--force")
    assert result.returncode == 2, result.stderr
    assert f"run-folder ({out_dir})" in result.stderr
    assert (tmp_path / "file").read_text() == "keep me"


def test_the_dry_run_shows_the_plan_and_the_preflight_and_writes_nothing(tmp_path):
    result = drillkit("run", str(PLAIN), "--dry-run", "--out", str(tmp_path / "out"))
    assert result.returncode == 0, result.stderr
    assert "action touch-nothing: run true" in result.stdout and "rollbacks (always played)" in result.stdout
    assert "preflight: all checks passed" in result.stdout
    assert not (tmp_path / "out").exists()


def test_measure_adds_the_control_without_editing_the_file(tmp_path):
    before = PLAIN.read_text()
    result = drillkit("run", str(PLAIN), "--measure", "--dry-run", "--out", str(tmp_path / "out"))
    assert "controls: measure" in result.stdout
    assert PLAIN.read_text() == before


def test_an_unknown_variable_is_invalid_input(tmp_path):
    result = drillkit("run", str(PARTITION), "--var", "nope=1", "--dry-run", "--out", str(tmp_path / "o"))
    assert result.returncode == 2 and "no key nope to override" in result.stderr


def test_a_region_given_through_a_variable_is_checked_before_anything_runs(tmp_path):
    result = drillkit("run", str(INVALID / "region-variable.yaml"), "--var", "region=region-z",
                      "--out", str(tmp_path / "o"))
    assert result.returncode == 2 and "has no region 'region-z'" in result.stderr


def test_preflight_prints_json_and_exits_3_when_the_target_is_down(down_target):
    result = drillkit("preflight", str(PARTITION), "--target", str(down_target), "--json")
    report = json.loads(result.stdout)
    assert result.returncode == 3 and report["exit_code"] == 3
    assert {"target", "root", "iptables", "component", "database-leader", "load-balancer", "target-lock"} <= {
        check["name"] for check in report["checks"]}


def test_drill_stops_at_preflight_before_any_baseline(down_target, tmp_path):
    manifest = tmp_path / "drill.yaml"
    manifest.write_text(yaml.safe_dump({
        "name": "short", "objectives": str(ROOT / "probes" / "objectives.yaml"),
        "experiments": [{"path": str(PARTITION), "variables": {"fault_duration": 5}}]}))
    result = drillkit("drill", str(manifest), "--target", str(down_target), "--out", str(tmp_path / "run"),
                      "--history", str(tmp_path / "history.jsonl"))
    assert result.returncode == 3, result.stderr
    assert "preflight:" in result.stderr
    assert not (tmp_path / "run").exists() and not (tmp_path / "history.jsonl").exists()


def test_a_closed_port_says_nothing_answered_and_exits_3(tmp_path):
    result = drillkit("loadtest", str(ROOT / "loadtests" / "profiles" / "steady.yaml"), "--host",
                      "http://127.0.0.1:9", "--duration", "5", "--out", str(tmp_path / "out"))
    assert result.returncode == 3, result.stderr
    assert "nothing answered at 127.0.0.1:9" in result.stderr
    assert "BREACHED" not in result.stdout


def test_user_settings_are_kept_with_rollbacks_always(tmp_path, monkeypatch, caplog):
    settings = tmp_path / "settings.yaml"
    settings.write_text("runtime: {rollbacks: {strategy: never}, hypothesis: {strategy: default}}\n"
                        "notifications: []\n")
    monkeypatch.setenv(runner.SETTINGS_ENV, str(settings))
    with caplog.at_level(logging.WARNING, logger="drillkit"):
        loaded = runner.chaos_settings()
    assert "drillkit always plays rollbacks" in caplog.text
    merged = runner.with_drillkit_rollbacks(loaded)
    assert merged["runtime"] == {"rollbacks": {"strategy": "always"}, "hypothesis": {"strategy": "default"}}
    assert merged["notifications"] == []


def test_an_explicit_settings_file_that_does_not_exist_is_invalid_input(tmp_path):
    result = drillkit("run", str(PLAIN), "--settings", str(tmp_path / "none.yaml"), "--dry-run")
    assert result.returncode == 2 and "no such Chaos Toolkit settings file" in result.stderr
