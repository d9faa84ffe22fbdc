"""Reports rendered from a Report built by hand-made runs: JSON against the generated schema, the first
screen (target, verdict, rows, findings with causes, what to fix), charts, JUnit, Markdown, the CLI."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import jsonschema
import pytest

from drillkit.model.measurements import Budget, Span
from drillkit.model.objectives import Objectives
from drillkit.model.report import Chart, Report
from drillkit.model.result import DrillRun
from drillkit.model.schemas import render
from drillkit.report import history
from drillkit.report.charts import Label, place_labels, timeline_chart, trend_chart
from drillkit.report.render import to_html, to_junit, to_markdown, write_all
from drillkit.score import score
from tests.unit.drill_runs import drill_run, fault, measurements, record, series, timeline, user_path

ROOT = Path(__file__).resolve().parents[2]
SCHEMA_FILE = ROOT / "docs" / "schemas" / "report.schema.json"
PARTITION = fault(activity="partition-region", fault="partition_region", confirmed=None,
                  error="network faults need iptables")


def failed_injection_run():
    healthy = user_path(succeeded=1200, fast=1200, timeouts=0, availability=1.0, error_rate=0.0, latency_sli=1.0)
    unmeasured = measurements(faults=[PARTITION], incidents=[], series=series(bad=()), user_path=healthy,
                              timelines=[timeline(fault=PARTITION, status="not measured", rto=None, incident=None)],
                              budget=Budget(availability=0, errors=0, latency=0))
    return drill_run(record(), record("region-partition", status="activity failed", measurements=unmeasured,
                                      causes=["partition-region: network faults need iptables"]))


@pytest.fixture
def report() -> Report:
    return score(failed_injection_run(), Objectives(), [])


def first_screen(html: str) -> str:
    return html.split('id="experiments"')[0]


def test_report_json_matches_the_generated_schema(report):
    jsonschema.validate(json.loads(report.to_json()), json.loads(SCHEMA_FILE.read_text()))
    assert Report.model_validate_json(report.to_json()) == report


def test_the_committed_report_schema_is_generated_from_the_model():
    assert SCHEMA_FILE.read_text() == render(Report), "run `drillkit schemas` to refresh it"


def test_report_names_the_cause_of_a_failed_injection(report):
    assert any(f.cause == "network faults need iptables" and "partition-region was never injected" in f.text
               for f in report.findings)
    assert "network faults need iptables" in first_screen(to_html(report))
    for rendering in (to_markdown(report), report.to_json(), to_junit(report)):
        assert "network faults need iptables" in rendering


def test_a_chart_of_a_fault_never_injected_says_it_tests_nothing(report):
    section = to_html(report).split('id="region-partition"')[1]
    assert section.index("never injected (network faults need iptables): this chart tests nothing") < section.index(
        '<svg class="chart"')


def test_a_cause_known_only_to_the_runner_reaches_the_first_screen():
    crashed = record("region-partition", status="activity failed", measurements=None,
                     causes=["partition-region: the partition was never injected: network faults need iptables"])
    report = score(drill_run(record(), crashed), Objectives(), [])
    top = first_screen(to_html(report))
    assert "region-partition: the run did not complete (activity failed)" in top
    assert "the partition was never injected: network faults need iptables" in top


def test_findings_speak_to_the_reader_not_in_gate_names(report):
    assert not any(re.search(r"\b(rto|rpo|split_brain|steady_state) (failed|not met)", f.text)
                   for f in report.findings)
    assert report.fixes and any("make partition-region injectable" in fix for fix in report.fixes)


def test_the_first_screen_names_the_target_its_kind_the_verdict_and_what_to_fix(report):
    top = first_screen(to_html(report))
    for words in ("sandbox (sandbox)", "sandbox run: not evidence about production", "INCOMPLETE",
                  f"grade <strong>{report.grade}</strong>", 'id="verdicts"',
                  "the platform (what was observed about it)", "the evidence (what was run and could be judged)",
                  'id="objectives"', 'id="findings"', "What to fix"):
        assert words in top
    assert top.index('id="findings"') < top.index("What to fix")


def test_a_row_that_is_not_met_is_never_green(report):
    html = to_html(report)
    rows = re.findall(r'<td class="([a-z-]+)" title="[^"]*">(met|not met|not measured)</td>', html)
    assert ("not-measured", "not measured") in rows
    assert all(cls == "met" for cls, verdict in rows if verdict == "met")
    assert all(cls != "met" for cls, verdict in rows if verdict != "met")


def test_each_experiment_shows_rto_bounds_recovery_mode_rpo_parts_slis_instrument_and_incidents(report):
    html = to_html(report).split('id="db-primary-outage"')[1]
    for words in ("[25.0, 28.0] s", "by itself before the rollbacks (automated failover)", "split brain 0",
                  "send lag p99 1.1 ms", "caused by kill-primary", "p95 40 ms", "30 timed out (≥ 2 s)"):
        assert words in html


def test_chart_labels_do_not_overlap():
    crowded = [("T0 +0.0 s", 100.0), ("detect +0.4 s", 101.0), ("promoted +20.0 s", 104.0),
               ("first ok +24.5 s", 104.5), ("stable +27.5 s", 105.0)]
    labels = place_labels(crowded, 0, 760, 56)
    assert len(labels) == len(crowded)
    for i, a in enumerate(labels):
        assert a.box[0] >= 0 and a.box[2] <= 760
        assert not any(a.intersects(b) for b in labels[i + 1:]), (a, labels)


def test_the_rendered_timeline_chart_places_its_labels_apart():
    m = measurements(timelines=[timeline(detect_after_t0=0.1, promoted_after_t0=0.3, first_ok_after_t0=0.5,
                                         stable_after_t0=0.6)])
    svg = timeline_chart(score(drill_run(record(measurements=m)), Objectives(), []).experiments[0].runs[0].chart)
    texts = re.findall(r'<text class="marker-label" x="([\d.]+)" y="([\d.]+)">([^<]+)</text>', svg)
    labels = [Label(t, float(x), float(y), 0) for x, y, t in texts]
    assert len(labels) == 5
    assert not any(a.intersects(b) for i, a in enumerate(labels) for b in labels[i + 1:])


def test_trend_values_do_not_overlap_even_when_runs_score_alike(report):
    runs = [report.trend.runs[-1].model_copy(update={"started_utc": f"2026-0{m}-01", "score": 90.0 + m / 10,
                                                     "worst_rto_s": 14400.0 - m, "worst_rpo_s": 60.0 - m,
                                                     "quarter": f"2026-M{m}"})
            for m in range(1, 9)]
    charts = trend_chart(runs).split("</svg>")[:3]
    for svg in charts:
        texts = re.findall(r'<text class="value-label" x="([\d.-]+)" y="([\d.-]+)">([^<]+)</text>', svg)
        labels = [Label(t, float(x), float(y), 0) for x, y, t in texts]
        assert len(labels) == 8
        assert not any(a.intersects(b) for i, a in enumerate(labels) for b in labels[i + 1:]), labels


def test_degraded_seconds_are_shaded_apart_from_the_fault():
    lagging = measurements(instrument=measurements().instrument.model_copy(
        update={"degraded_s": 3.0, "degraded": [Span(start=80.0, end=83.0)]}),
        series=series(degraded=range(80, 83)))
    chart = score(drill_run(record(measurements=lagging)), Objectives(), []).experiments[0].runs[0].chart
    svg = timeline_chart(chart)
    assert '<rect class="degraded"' in svg and '<rect class="fault"' in svg and "degraded-second" in svg


def test_the_chart_keeps_a_one_second_outage_when_downsampled():
    long = measurements(series=series(bad=range(5000, 5001), seconds=20000))
    chart = score(drill_run(record(measurements=long)), Objectives(), []).experiments[0].runs[0].chart
    assert len(chart.points) <= 600 and chart.raw_seconds == 20000
    assert [p.state for p in chart.points].count("bad") == 1 and min(p.ok for p in chart.points) == 0.0


def test_the_trend_chart_shows_score_worst_rto_and_worst_rpo_with_values(report):
    earlier = report.trend.runs[-1].model_copy(update={"started_utc": "2026-08-20T10:00:00+00:00", "score": 88.0,
                                                       "worst_rto_s": 31.0, "worst_rpo_s": 1.5, "quarter": "2026-Q3"})
    svg = trend_chart([earlier, report.trend.runs[-1]])
    for words in ('aria-label="platform score per run"', 'aria-label="worst failover RTO per run"',
                  'aria-label="worst failover RPO per run"',
                  ">88</text>", ">31 s</text>", ">1.5 s</text>", "2026-Q3", 'class="axis"'):
        assert words in svg


def test_an_empty_chart_says_so():
    assert "no samples" in timeline_chart(Chart())


def test_junit_has_a_case_per_gate_per_run_and_per_objective_and_parses(report):
    suite = ET.fromstring(to_junit(report).split("\n", 1)[1])
    gates = sum(len(run.gates) for e in report.experiments for run in e.runs)
    assert len(suite.findall("testcase")) == gates + len(report.objectives)
    failed = sum(not g.passed for e in report.experiments for run in e.runs for g in run.gates)
    assert int(suite.get("failures")) == failed + sum(r.verdict != "met" for r in report.objectives)


def test_markdown_opens_with_the_verdict_and_says_how_the_score_is_made(report):
    text = to_markdown(report)
    assert text.startswith("# Drill quarterly: INCOMPLETE")
    assert f"**Platform: score {report.score:g}, grade {report.grade}: " in text
    assert "**Evidence: incomplete: 2 of 2 experiments run, 1 of them judged in full" in text
    assert "sandbox run: not evidence about production" in text and "What to fix:" in text
    assert f"Platform score {report.score:g} = 100 − " in text


def test_aborted_drill_is_never_passed(tmp_path):
    run = failed_injection_run().model_copy(update={"aborted": "interrupted by SIGTERM", "run_dir": str(tmp_path)})
    report = score(run, Objectives(), [])
    assert report.status == "aborted" and report.exit_code() == 3 and report.grade != "A"
    write_all(report, tmp_path)
    html = (tmp_path / "report.html").read_text()
    assert "ABORTED" in first_screen(html) and "interrupted by SIGTERM" in first_screen(html)
    assert "[25.0, 28.0] s" in html, "an aborted run still shows what it measured"
    assert json.loads((tmp_path / "report.json").read_text())["status"] == "aborted"


def test_history_survives_a_torn_line_and_an_older_format(tmp_path, report):
    path = tmp_path / "history.jsonl"
    history.append(path, report.trend.runs[-1])
    with path.open("a") as handle:
        handle.write('{"quarter": "2026-Q1"}\n{"drill": "quar')
    history.append(path, report.trend.runs[-1].model_copy(update={"started_utc": "2026-12-01T00:00:00+00:00"}))
    assert [e.started_utc[:10] for e in history.read(path)] == ["2026-11-20", "2026-12-01"]


def test_a_saved_run_scores_the_same_after_the_round_trip_through_results_json(tmp_path):
    run = failed_injection_run().model_copy(update={"run_dir": str(tmp_path)})
    run.save(tmp_path)
    again = DrillRun.load(tmp_path)
    assert score(again, Objectives(), []) == score(run, Objectives(), [])


def test_drillkit_report_renders_a_saved_run_again_without_running_anything(tmp_path):
    run = failed_injection_run().model_copy(update={"run_dir": str(tmp_path)})
    run.save(tmp_path)
    result = subprocess.run(
        [sys.executable, "-m", "drillkit", "report", str(tmp_path), "--history", str(tmp_path / "h.jsonl")],
        capture_output=True, text=True, cwd=ROOT, timeout=120, check=False)
    assert result.returncode == 1, result.stderr
    assert "network faults need iptables" in result.stdout
    for name in ("report.html", "report.md", "junit.xml", "report.json"):
        assert (tmp_path / name).stat().st_size > 0
    assert not (tmp_path / "h.jsonl").exists(), "re-rendering must not add a history line"


def test_a_user_path_of_reads_only_is_said_beside_its_figures():
    note = "reads only: the target names no write probe (probes.write)"
    reads = record(measurements=measurements(user_path=user_path(note=note)))
    report = score(drill_run(reads), Objectives(), [])
    assert note in to_html(report).split('id="experiments"')[1]
    assert note in to_markdown(report)
