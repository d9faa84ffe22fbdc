"""A short drill against the real staging (tests/fixtures/drills/docker-short.yaml): a primary's crash and a
region partition are run and measured, the restore is recorded "not run" (the target has no backups), and
the run folder holds the reports."""

from __future__ import annotations

import json

from tests.docker.staging.conftest import ROOT, StagingTarget, drillkit

DRILL = ROOT / "tests" / "fixtures" / "drills" / "docker-short.yaml"


def test_a_short_drill_on_the_staging_writes_its_reports_and_records_the_restore_as_not_run(
        healed: StagingTarget, tmp_path):
    out = tmp_path / "run"
    result = drillkit("drill", str(DRILL), "--target", str(healed.target_file), "--yes", "--out", str(out),
                      "--history", str(tmp_path / "history.jsonl"), timeout=420)
    assert result.returncode in (0, 1), f"drillkit drill exited {result.returncode}\n{result.stdout}\n{result.stderr}"

    for name in ("report.html", "report.json", "results.json"):
        assert (out / name).stat().st_size > 0, name
    runs = {run["experiment"]: run for run in json.loads((out / "results.json").read_text())["runs"]}
    assert runs["restore-from-incremental"]["status"] == "not run", runs["restore-from-incremental"]
    for name in ("db-primary-outage", "region-partition"):
        assert runs[name]["status"] not in ("not run", "interrupted", "aborted", "rollback failed"), runs[name]
        assert runs[name]["rollbacks_ok"] and runs[name]["measurements"] is not None, runs[name]
    report = json.loads((out / "report.json").read_text())
    assert [e["name"] for e in report["experiments"]] == ["db-primary-outage", "region-partition",
                                                           "restore-from-incremental"]
