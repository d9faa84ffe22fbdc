"""A short drill end to end on the real sandbox, and its report opened in a real browser."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import jsonschema
import pytest
import yaml

from .conftest import ROOT, drillkit, ensure_debian_binary

SHORT_DRILL = {
    "name": "short",
    "description": "two experiments, shortened",
    "leader": "pg-a",
    "baseline": {"duration_s": 6},
    "experiments": [
        {"path": "experiments/app-latency.yaml", "weight": 1,
         "variables": {"fault_duration": 3, "stable_window": 3}, "expected_seconds": 15},
        {"path": "experiments/db-primary-outage.yaml", "weight": 2,
         "variables": {"stable_window": 4}, "expected_seconds": 45},
    ],
}


@pytest.fixture(scope="module")
def drill_run(sandbox, target_file, tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("drill")
    manifest = folder / "short.yaml"
    manifest.write_text(yaml.safe_dump(SHORT_DRILL, sort_keys=False))
    result = drillkit("drill", str(manifest), "--target", str(target_file), "--out", str(folder / "run"),
                      "--history", str(folder / "history.jsonl"), check=False, timeout=600)
    assert result.returncode in (0, 1), result.stdout + result.stderr
    assert "report:" in result.stdout
    return folder / "run"


def test_a_short_drill_writes_every_report_and_a_history_line(drill_run):
    report = json.loads((drill_run / "report.json").read_text())
    jsonschema.validate(report, json.loads((ROOT / "docs/schemas/report.schema.json").read_text()))
    assert report["status"] in ("passed", "failed", "incomplete") and report["baseline"]["valid"]
    assert report["scope_note"] == "sandbox run: not evidence about production"
    assert report["evidence"]["planned"] == 2 and report["evidence"]["run"] == 2
    assert [e["name"] for e in report["experiments"]] == ["app-latency", "db-primary-outage"]
    outage = report["experiments"][1]["runs"][0]
    assert outage["recoveries"][0]["rto"]["upper"] > 0
    assert outage["rpo"]["acknowledged"] > 0
    assert report["baseline"]["user_path"]["availability"] >= 0.999
    for name in ("report.html", "report.md", "junit.xml", "results.json", "drill.log"):
        assert (drill_run / name).stat().st_size > 0, name
    for experiment in ("app-latency-1", "db-primary-outage-1"):
        for name in ("journal.json", "measurements.json", "samples.csv", "ledger.csv"):
            assert (drill_run / "experiments" / experiment / name).exists()
    history = (drill_run.parent / "history.jsonl").read_text().splitlines()
    assert len(history) == 1 and json.loads(history[0])["score"] == report["score"]


def test_the_dry_run_prints_the_plan_and_touches_nothing(sandbox, target_file, tmp_path):
    manifest = tmp_path / "short.yaml"
    manifest.write_text(yaml.safe_dump(SHORT_DRILL, sort_keys=False))
    fault_log = Path(sandbox.state_dir) / "faults.jsonl"
    before = fault_log.read_text() if fault_log.exists() else ""
    result = drillkit("drill", str(manifest), "--target", str(target_file), "--dry-run", "--out",
                      str(tmp_path / "run"))
    assert "db-primary-outage x1" in result.stdout and "expected duration" in result.stdout
    assert not (tmp_path / "run").exists()
    assert (fault_log.read_text() if fault_log.exists() else "") == before


def test_the_html_report_renders_in_headless_chromium_without_a_console_error(drill_run, tmp_path):
    chromium = ensure_debian_binary("chromium", "chromium")
    result = subprocess.run(
        [chromium, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         f"--user-data-dir={tmp_path / 'profile'}", "--enable-logging=stderr", "--v=0",
         "--dump-dom", (drill_run / "report.html").as_uri()],
        capture_output=True, text=True, timeout=120, check=False,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    console = [line for line in result.stderr.splitlines() if ":CONSOLE" in line]
    assert console == [], console
    assert "<h2>Summary</h2>" in result.stdout and "What to fix" in result.stdout
    assert result.stdout.count('class="chart"') == 2
