"""Stop conditions on the real sandbox, with a real Prometheus (Debian's, started by the `prometheus`
fixture and scraping the two regions' Patroni REST APIs and apps every second).

One Prometheus condition queries `up` of the Patroni job: when region-a is lost, its Patroni stops
answering its /metrics and `up{job="patroni", region="region-a"}` turns 0 within a scrape or two. Another
reads the apps' own /metrics: the rate of 5xx answers rises when region-a's app fails half its requests."""

from __future__ import annotations

import json
from pathlib import Path

import yaml

from .conftest import ROOT, drillkit

REGION_A_PATRONI_DOWN = {"name": "region-a-patroni-down", "kind": "prometheus",
                         "query": 'up{job="patroni", region="region-a"} == 0', "every_s": 0.5}
SHORT = {"stable_window": 3, "recovery_timeout": 60}


def guarded_outage(folder: Path, *stop_conditions: dict) -> Path:
    """experiments/region-a-outage.yaml with STOP_CONDITIONS in its drillkit extension, region-a kept lost
    for 5 s before the method waits for users (a quick failover must not end the method before the
    condition's next scrape and evaluation)."""
    experiment = yaml.safe_load((ROOT / "experiments" / "region-a-outage.yaml").read_text())
    experiment["method"][0]["pauses"] = {"after": 5}
    experiment["extensions"] = [{"name": "drillkit", "stop_conditions": list(stop_conditions)}]
    path = folder / "guarded-region-a-outage.yaml"
    path.write_text(yaml.safe_dump(experiment, sort_keys=False))
    return path


def with_prometheus(target_file: Path, folder: Path, url: str) -> Path:
    target = yaml.safe_load(target_file.read_text())
    target["prometheus"] = {"url": url}
    path = folder / "target.yaml"
    path.write_text(yaml.safe_dump(target, sort_keys=False))
    return path


def run(experiment: Path, target: Path, out: Path):
    variables = [arg for name, value in SHORT.items() for arg in ("--var", f"{name}={value}")]
    return drillkit("run", str(experiment), "--target", str(target), "--out", str(out), *variables,
                    check=False, timeout=300)


def fault_log(sandbox) -> str:
    path = Path(sandbox.state_dir) / "faults.jsonl"
    return path.read_text() if path.exists() else ""


def test_an_unreachable_prometheus_stops_the_run_before_the_first_fault(sandbox, target_file, tmp_path):
    target = with_prometheus(target_file, tmp_path, "http://127.0.0.1:9")  # nothing listens on the discard port
    before = fault_log(sandbox)

    result = run(guarded_outage(tmp_path, REGION_A_PATRONI_DOWN), target, tmp_path / "out")

    assert result.returncode == 3, result.stdout + result.stderr
    assert ("ABORTED by stop condition region-a-patroni-down: could not be evaluated before the first fault: "
            "Prometheus at http://127.0.0.1:9/ did not answer: ConnectError") in result.stdout
    assert fault_log(sandbox) == before, "nothing may be injected"
    journal = json.loads((tmp_path / "out" / "journal.json").read_text())
    assert journal["run"] == [] and journal["drillkit"]["faults"] == []
    assert journal["drillkit"]["stopped_by"]["before_faults"] is True


def test_a_prometheus_stop_condition_fires_on_a_real_fault_and_the_rollbacks_are_played(
        sandbox, target_file, prometheus, tmp_path):
    assert prometheus.query(REGION_A_PATRONI_DOWN["query"]) == []  # it must not fire before the fault
    target = with_prometheus(target_file, tmp_path, prometheus.url)

    result = run(guarded_outage(tmp_path, REGION_A_PATRONI_DOWN), target, tmp_path / "out")

    assert result.returncode == 3, result.stdout + result.stderr
    assert "ABORTED by stop condition region-a-patroni-down: fired at" in result.stdout
    journal = json.loads((tmp_path / "out" / "journal.json").read_text())
    stopped = journal["drillkit"]["stopped_by"]
    assert 'region="region-a"' in stopped["value"] and stopped["value"].endswith(" 0")
    assert journal["status"] == "interrupted", "the method must have been interrupted, not waited out"
    assert journal["drillkit"]["status"] == "aborted" and journal["drillkit"]["left_open"] == []
    assert [r["status"] for r in journal["rollbacks"]] == ["succeeded"]
    assert [f["fault"] for f in journal["drillkit"]["faults"]] == ["fail_region"]
    measurements = json.loads((tmp_path / "out" / "measurements.json").read_text())
    assert measurements["user_path"]["requests"] > 0 and stopped["at_s"] > measurements["faults"][0]["confirmed"]
    assert sandbox.part("app-a")["healthy"] and sandbox.part("pg-a")["healthy"]


def test_a_live_availability_floor_aborts_a_region_outage_drill_keeping_its_measurements(
        sandbox, target_file, tmp_path):
    manifest = tmp_path / "guarded.yaml"
    manifest.write_text(yaml.safe_dump({
        "name": "guarded", "description": "a region outage that costs more than the drill tolerates",
        "leader": "pg-a", "baseline": {"duration_s": 5},
        "experiments": [
            {"path": "experiments/region-a-outage.yaml", "variables": SHORT, "expected_seconds": 30},
            {"path": "experiments/app-latency.yaml", "variables": {"fault_duration": 2, "stable_window": 2}},
        ],
        "stop_conditions": [{"name": "users-served", "kind": "sli", "sli": "availability", "below": 0.99,
                             "window_s": 5, "every_s": 0.5}],
    }, sort_keys=False))

    result = drillkit("drill", str(manifest), "--target", str(target_file), "--out", str(tmp_path / "run"),
                      "--history", str(tmp_path / "history.jsonl"), check=False, timeout=600)

    assert result.returncode == 3, result.stdout + result.stderr
    report = json.loads((tmp_path / "run" / "report.json").read_text())
    assert report["status"] == "aborted" and report["grade"] in ("C", "D", "F")
    assert report["status_reason"].startswith("ABORTED by stop condition users-served: fired at")
    assert report["stopped_by"]["value"].startswith("availability ")
    # the drill stops its other experiments: listed as not run (a gap in the evidence), never left out
    assert [(e["name"], e["status"], len(e["runs"])) for e in report["experiments"]][1] == ("app-latency", "not run", 0)
    assert report["evidence"]["verdict"] == "incomplete" and report["evidence"]["run"] == 1
    outage = report["experiments"][0]["runs"][0]
    assert outage["measured"] and outage["user_path"]["requests"] > 0 and outage["stopped_by"]["name"] == "users-served"
    results = json.loads((tmp_path / "run" / "results.json").read_text())
    assert results["runs"][0]["rollbacks_ok"] is True
    journal = json.loads((tmp_path / "run" / outage["run_dir"] / "journal.json").read_text())
    assert journal["status"] == "interrupted" and [r["status"] for r in journal["rollbacks"]] == ["succeeded"]
    assert "ABORTED by stop condition users-served" in (tmp_path / "run" / "report.md").read_text()
    assert sandbox.part("app-a")["healthy"] and sandbox.part("pg-a")["healthy"]


FIVE_HUNDREDS = {"name": "five-hundreds", "kind": "prometheus", "every_s": 0.5,
                 "query": 'sum(rate(feedhub_http_requests_total{job="feedhub", status=~"5.."}[5s])) > 1'}


def erroring_region_a(folder: Path) -> Path:
    """experiments/app-latency.yaml turned into errors: region-a's app fails half its /api/ requests for
    up to 20 s (the stop condition must end it long before)."""
    experiment = yaml.safe_load((ROOT / "experiments" / "app-latency.yaml").read_text())
    experiment["method"][0]["provider"]["arguments"] = {"region": "region-a", "latency_ms": 0, "error_rate": 0.5}
    experiment["method"][0]["pauses"] = {"after": 20}
    experiment["extensions"] = [{"name": "drillkit", "stop_conditions": [FIVE_HUNDREDS]}]
    path = folder / "erroring-region-a.yaml"
    path.write_text(yaml.safe_dump(experiment, sort_keys=False))
    return path


def test_a_prometheus_rate_of_five_hundreds_from_the_apps_metrics_stops_an_error_fault(
        sandbox, target_file, prometheus, tmp_path):
    assert prometheus.query(FIVE_HUNDREDS["query"]) == []  # no 5xx before the fault
    target = with_prometheus(target_file, tmp_path, prometheus.url)

    result = run(erroring_region_a(tmp_path), target, tmp_path / "out")

    assert result.returncode == 3, result.stdout + result.stderr
    assert "ABORTED by stop condition five-hundreds: fired at" in result.stdout
    journal = json.loads((tmp_path / "out" / "journal.json").read_text())
    stopped = journal["drillkit"]["stopped_by"]
    assert float(stopped["value"].split()[-1]) > 1, stopped["value"]  # the 5xx rate the condition saw
    assert journal["status"] == "interrupted" and [r["status"] for r in journal["rollbacks"]] == ["succeeded"]
    measurements = json.loads((tmp_path / "out" / "measurements.json").read_text())
    assert stopped["at_s"] - measurements["faults"][0]["confirmed"] < 15, "stopped well before the 20 s fault"
