"""`drillkit loadtest` against the real sandbox: local and distributed Locust, judged against the SLOs."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path

import yaml

from .conftest import ROOT, drillkit

STEADY = str(ROOT / "loadtests" / "profiles" / "steady.yaml")


def loadtest(sandbox, out: Path, *extra: str):
    return drillkit("loadtest", STEADY, "--host", sandbox.endpoint, "--duration", "12", "--out", str(out),
                    *extra, check=False, timeout=300)


def junit_cases(out: Path) -> dict[str, bool]:
    suite = ET.fromstring((out / "junit.xml").read_text().split("\n", 1)[1])
    return {case.get("name"): case.find("failure") is None for case in suite.findall("testcase")}


def test_a_short_steady_run_passes_and_writes_its_reports(sandbox, tmp_path):
    result = loadtest(sandbox, tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    summary = json.loads((tmp_path / "loadtest.json").read_text())
    assert summary["passed"] and summary["requests"] > 50
    assert summary["p95_ms"] is not None and summary["series"]
    assert junit_cases(tmp_path) == {"availability": True, "error_rate": True, "latency_500ms": True}
    assert "Latency percentiles over time" in (tmp_path / "loadtest.html").read_text()
    assert "requests" in result.stderr  # live progress lines


def test_an_impossible_latency_objective_exits_1_and_junit_names_the_failing_sli(sandbox, tmp_path):
    objectives = tmp_path / "strict.yaml"
    objectives.write_text(yaml.safe_dump({"latency_threshold_ms": 1, "latency_target": 0.99}))
    out = tmp_path / "out"
    result = loadtest(sandbox, out, "--slo", str(objectives))
    assert result.returncode == 1, result.stdout + result.stderr
    assert junit_cases(out) == {"availability": True, "error_rate": True, "latency_1ms": False}
    assert "latency_1ms" in result.stdout and "BREACHED" in result.stdout


def test_a_distributed_run_with_two_workers_merges_their_results(sandbox, tmp_path):
    result = loadtest(sandbox, tmp_path, "--workers", "2")
    assert result.returncode == 0, result.stdout + result.stderr
    summary = json.loads((tmp_path / "loadtest.json").read_text())
    assert summary["workers"] == 2, "both workers must have shipped their histograms to the master"
    assert summary["requests"] > 50
    assert sum(point["requests"] for point in summary["series"]) == summary["requests"]
