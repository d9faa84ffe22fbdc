"""On the real sandbox: a fault the environment cannot carry out stops at preflight and injects nothing;
a plain Chaos Toolkit experiment runs under `drillkit run` as it would under `chaos run`."""

from __future__ import annotations

import json
from pathlib import Path

import yaml

from drillkit.sandbox import netfilter

from .conftest import ROOT, drillkit

PLAIN = ROOT / "tests" / "fixtures" / "chaos" / "plain.yaml"


def fault_log(sandbox) -> str:
    path = Path(sandbox.state_dir) / "faults.jsonl"
    return path.read_text() if path.exists() else ""


def test_network_faults_without_the_netfilter_tool_stop_at_preflight_and_inject_nothing(
        sandbox, target_file, tmp_path):
    before = fault_log(sandbox)
    result = drillkit("run", str(ROOT / "experiments" / "region-partition.yaml"), "--target", str(target_file),
                      "--out", str(tmp_path / "out"), "--var", "fault_duration=5", check=False,
                      env={netfilter.BINARY_ENV: str(tmp_path / "no-iptables")})
    assert result.returncode == 3, result.stdout + result.stderr
    assert "preflight: 1 check(s) failed; nothing was touched" in result.stderr
    assert "iptables (network faults)" in result.stderr and "install the Debian package iptables" in result.stderr
    assert fault_log(sandbox) == before, "no fault may be logged"
    assert not (tmp_path / "out").exists()
    assert not netfilter.chain_exists(), "no rule may be added"
    assert sandbox.status()["healthy"]


def test_a_plain_chaos_toolkit_experiment_runs_with_its_rollbacks(sandbox, target_file, tmp_path):
    experiment = tmp_path / "plain.yaml"
    spec = yaml.safe_load(PLAIN.read_text())
    spec["configuration"]["base_url"]["default"] = sandbox.endpoint
    experiment.write_text(yaml.safe_dump(spec, sort_keys=False))
    before = fault_log(sandbox)
    result = drillkit("run", str(experiment), "--target", str(target_file), "--out", str(tmp_path / "out"),
                      check=False, env={"CHAOSTOOLKIT_SETTINGS": str(_settings(tmp_path))})
    assert result.returncode == 0, result.stdout + result.stderr
    journal = json.loads((tmp_path / "out" / "journal.json").read_text())
    assert journal["status"] == "completed" and journal["deviated"] is False
    assert [step["activity"]["name"] for step in journal["run"]] == [
        "the-endpoint-answers", "touch-nothing", "the-endpoint-still-answers"]
    assert all(step["status"] == "succeeded" for step in journal["run"])
    assert journal["run"][0]["output"]["status"] == 200
    assert [(r["activity"]["name"], r["status"]) for r in journal["rollbacks"]] == [("say-done", "succeeded")]
    assert "drillkit always plays rollbacks" in result.stderr
    assert "measurements" not in journal
    assert fault_log(sandbox) == before


def _settings(tmp_path: Path) -> Path:
    """A user's Chaos Toolkit settings that say never: drillkit warns and plays the rollbacks anyway."""
    path = tmp_path / "settings.yaml"
    path.write_text("runtime: {rollbacks: {strategy: never}}\n")
    return path


def test_measure_adds_drillkits_measurements_to_a_plain_experiment(sandbox, target_file, tmp_path):
    experiment = tmp_path / "plain.yaml"
    spec = yaml.safe_load(PLAIN.read_text())
    spec["configuration"]["base_url"]["default"] = sandbox.endpoint
    experiment.write_text(yaml.safe_dump(spec, sort_keys=False))
    result = drillkit("run", str(experiment), "--target", str(target_file), "--out", str(tmp_path / "out"),
                      "--measure", check=False)
    journal = json.loads((tmp_path / "out" / "journal.json").read_text())
    assert journal["status"] == "completed", result.stderr
    assert "measurements" in journal, result.stderr
    assert (tmp_path / "out" / "measurements.json").exists()
    assert yaml.safe_load(experiment.read_text()) == spec, "the file is left as it is"
