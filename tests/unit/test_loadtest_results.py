"""A load test's results, judged by the drill's SLI judge and rendered by the drill report's JUnit writer,
charts and templates; the histogram settings the drill and the Locust plugin share."""

from __future__ import annotations

import json
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from drillkit import histograms
from drillkit.loadtest import process
from drillkit.loadtest.judge import judge
from drillkit.loadtest.records import Buckets
from drillkit.measure import slo
from drillkit.measure.samples import Sample
from drillkit.model.objectives import Objectives
from drillkit.model.sli_verdict import sli_verdicts
from drillkit.report.loadtest import sli_lines, to_html, to_junit, write_all

OBJECTIVES = Objectives()
PLUGIN = Path(process.__file__).with_name("locust_plugin.py")


def locust_results(*requests: tuple[int, float, str | None]) -> dict:
    """What the plugin leaves when it quits, for (second, latency ms, error) requests."""
    buckets = Buckets(OBJECTIVES.latency_threshold_ms)
    for second, latency_ms, error in requests:
        buckets.record(second, latency_ms, error)
    return {"threshold_ms": OBJECTIVES.latency_threshold_ms, "workers": [], "seconds": buckets.drain()}


def result_of(results: dict) -> dict:
    return {"profile": {"name": "steady"}, "host": "http://127.0.0.1:8080", "workers_requested": 0,
            **judge(results, OBJECTIVES)}


def junit_cases(xml: str) -> dict[str, str | None]:
    suite = ET.fromstring(xml.split("\n", 1)[1])
    return {case.get("name"): (case.find("failure").get("message") if case.find("failure") is not None else None)
            for case in suite.findall("testcase")}


HEALTHY = [(100 + n // 20, 20.0, None) for n in range(200)]


def test_an_empty_run_is_not_measured_by_the_drill_and_by_the_load_test_alike():
    drill = slo.sli([], excluded=0, threshold=OBJECTIVES.latency_threshold_ms / 1000)
    load = judge(locust_results(), OBJECTIVES)
    assert drill.status == "not measured" and drill.availability is None
    assert [(s["name"], s["value"], s["verdict"]) for s in load["slis"]] == [
        (v.name, v.value, v.verdict) for v in sli_verdicts(drill, OBJECTIVES)]
    assert {s["verdict"] for s in load["slis"]} == {"not measured"}
    assert all(s["value"] is None for s in load["slis"]), "no request: no ratio, never 0 % or 100 %"


def test_an_empty_load_test_fails_its_gate_as_not_measured():
    result = result_of(locust_results())
    assert result["passed"] is False
    assert set(junit_cases(to_junit(result)).values()) == {
        f"{name} was not measured: Locust recorded no request" for name in ("availability", "error_rate",
                                                                           "latency_500ms")}
    assert all("NOT MEASURED" in line and "not measured" in line for line in sli_lines(result))
    assert "not measured" in to_html(result)


def test_a_healthy_run_passes_with_exact_shares_and_percentiles():
    result = result_of(locust_results(*HEALTHY))
    assert result["passed"] and result["requests"] == 200 and result["duration_s"] == 10
    assert [(s["name"], s["value"], s["met"]) for s in result["slis"]] == [
        ("availability", 1.0, True), ("error_rate", 0.0, True), ("latency_500ms", 1.0, True)]
    assert result["p95_ms"] == pytest.approx(20, rel=0.01)
    assert sum(point["requests"] for point in result["series"]) == 200


def test_junit_has_one_case_per_sli_and_names_the_breached_one():
    slow = [(100, 900.0, None)] * 20 + HEALTHY
    result = result_of(locust_results(*slow))
    cases = junit_cases(to_junit(result))
    assert list(cases) == ["availability", "error_rate", "latency_500ms"]
    assert cases["availability"] is None and cases["error_rate"] is None
    assert cases["latency_500ms"] == "latency_500ms was 0.909091, objective >= 0.95"
    assert any("latency_500ms" in line and "BREACHED" in line for line in sli_lines(result))


def test_the_page_shows_the_slis_throughput_latency_and_errors(tmp_path):
    failing = [*HEALTHY, (104, 30.0, "HTTPError: 503"), (104, 31.0, "HTTPError: 503")]
    written = write_all(result_of(locust_results(*failing)), tmp_path)
    assert [path.name for path in written] == ["loadtest.json", "junit.xml", "loadtest.html"]
    page = (tmp_path / "loadtest.html").read_text()
    assert "<title>Load test steady: FAILED</title>" in page
    assert "Throughput (requests/s) and failures" in page and "Latency percentiles over time" in page
    assert page.count('<svg class="chart"') == 2 and "<title>2 failed</title>" in page
    assert "<td>HTTPError: 503</td><td>2</td>" in page
    assert json.loads((tmp_path / "loadtest.json").read_text())["failures"] == 2


def test_the_histogram_settings_reach_the_drill_and_the_locust_plugin(monkeypatch):
    monkeypatch.setattr(histograms, "DIGITS", 2)
    monkeypatch.setattr(histograms, "HIGHEST_US", 60_000_000)
    three_minutes = Sample("global/read", "global", "read", 0, 0, 180.0, 200, "")
    drill = histograms.decode(slo.sli([three_minutes], excluded=0, threshold=0.5).histogram)
    assert (drill.significant_figures, drill.highest_trackable_value) == (2, 60_000_000)
    assert _plugin_histogram(digits=2, highest_us=60_000_000) == {
        "digits": 2, "highest_us": 60_000_000, "clamped_to": drill.get_max_value()}


def _plugin_histogram(*, digits: int, highest_us: int) -> dict:
    """Load the real Locust plugin in a process of its own (Locust patches the standard library), with
    the settings changed in drillkit.histograms only, and record one request of three minutes."""
    script = f"""
import importlib.util, json, os
from drillkit import histograms
histograms.DIGITS, histograms.HIGHEST_US = {digits}, {highest_us}
os.environ["DRILLKIT_LATENCY_THRESHOLD_MS"] = "500"
spec = importlib.util.spec_from_file_location("locust_plugin", {str(PLUGIN)!r})
plugin = importlib.util.module_from_spec(spec)
spec.loader.exec_module(plugin)
plugin.unsent.record(1, 180_000.0, None)
recorded = histograms.decode(plugin.unsent.drain()[0]["histogram"])
print(json.dumps({{"digits": recorded.significant_figures, "highest_us": recorded.highest_trackable_value,
                  "clamped_to": recorded.get_max_value()}}))
"""
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])
