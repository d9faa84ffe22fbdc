"""Reports rendered from a stored drill run: JSON against its schema, Markdown, JUnit, HTML, trend."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import jsonschema
import pytest

from drillkit.drill.drill import DrillRun
from drillkit.report import history
from drillkit.report.build import build, exit_code, history_entry
from drillkit.report.render import to_html, to_junit, to_markdown, write_all

ROOT = Path(__file__).resolve().parents[2]
FIXTURE = ROOT / "tests" / "fixtures" / "drill-run"
SCHEMA = json.loads((ROOT / "docs" / "schemas" / "report.schema.json").read_text())


@pytest.fixture
def run_dir(tmp_path) -> Path:
    shutil.copy(FIXTURE / "results.json", tmp_path / "results.json")
    results = json.loads((tmp_path / "results.json").read_text())
    results["run_dir"] = str(tmp_path)
    (tmp_path / "results.json").write_text(json.dumps(results))
    return tmp_path


@pytest.fixture
def report(run_dir) -> dict:
    return build(DrillRun.load(run_dir), history=[])


def test_report_json_matches_its_documented_schema(report):
    jsonschema.validate(report, SCHEMA)
    assert {e["name"] for e in report["experiments"]} == {
        "db-primary-outage", "region-a-outage", "region-partition", "replica-lag-failover",
        "load-spike", "app-latency"}


def test_every_point_lost_is_explained(report):
    for experiment in report["experiments"]:
        explained = round(sum(d["points"] for d in experiment["deductions"]), 2)
        assert round(100 - explained, 2) == pytest.approx(experiment["score_worst"], abs=0.01)
        assert all(d["reason"] for d in experiment["deductions"])


def test_the_html_opens_with_the_summary_and_carries_a_chart_per_experiment(report):
    html = to_html(report)
    assert html.index("Executive summary") < html.index('id="experiments"')
    assert html.count('<svg class="chart"') == len(report["experiments"])
    assert "<script" not in html and "http://" not in html.split("<body>")[0]
    for marker in ("T0 +0.0 s", "detect +", "promoted +", "stable +"):
        assert marker in html


def test_junit_has_one_case_per_gate_per_experiment_and_parses(report):
    suite = ET.fromstring(to_junit(report).split("\n", 1)[1])
    cases = suite.findall("testcase")
    assert len(cases) == sum(len(e["gates"]) for e in report["experiments"])
    assert int(suite.get("failures")) == sum(not ok for e in report["experiments"] for ok in e["gates"].values())


def test_markdown_is_a_short_summary(report):
    text = to_markdown(report)
    assert text.startswith(f"# Drill quarterly: {report['status'].upper()}")
    assert "| db-primary-outage |" in text and len(text.splitlines()) < 40


def test_a_lower_score_than_last_quarter_is_flagged_as_a_regression(report):
    earlier = {**history_entry(report), "started_utc": "2026-08-20T10:00:00+00:00", "quarter": "2026-Q3",
               "run_dir": "reports/2026-Q3-old", "score": 99.5, "worst_rto_s": 10.0}
    again = build(DrillRun.load(Path(report["run_dir"])), history=[earlier])
    assert [run["quarter"] for run in again["trend"]["runs"]] == ["2026-Q3", "2026-Q4"]
    assert any("score fell from 99.5" in r for r in again["trend"]["regressions"])
    assert any("worst RTO rose from 10.0 s" in r for r in again["trend"]["regressions"])
    assert "Regression: score fell" in to_html(again)


def test_history_survives_a_torn_line(tmp_path):
    path = tmp_path / "history.jsonl"
    history.append(path, {"drill": "quarterly", "started_utc": "2026-01-01", "score": 90})
    with path.open("a") as handle:
        handle.write('{"drill": "quar')
    history.append(path, {"drill": "quarterly", "started_utc": "2026-04-01", "score": 91})
    assert [entry["score"] for entry in history.read(path)] == [90, 91]


def test_drillkit_report_renders_a_saved_run_again_without_running_anything(run_dir):
    result = subprocess.run(
        [sys.executable, "-m", "drillkit", "report", str(run_dir), "--history", str(run_dir / "h.jsonl")],
        capture_output=True, text=True, cwd=ROOT, timeout=120, check=False)
    report = json.loads((run_dir / "report.json").read_text())
    assert result.returncode == exit_code(report), result.stderr
    for name in ("report.html", "report.md", "junit.xml"):
        assert (run_dir / name).stat().st_size > 0
    assert not (run_dir / "h.jsonl").exists(), "re-rendering must not add a history line"


def test_an_aborted_run_is_never_a_pass(run_dir):
    run = DrillRun.load(run_dir)
    run.aborted = "interrupted"
    report = build(run, history=[])
    assert report["status"] == "aborted" and exit_code(report) == 3
    assert write_all(report, run_dir)
