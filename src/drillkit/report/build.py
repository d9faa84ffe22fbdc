"""Score a saved drill run and write its reports: the one path from results.json to report.*."""

from __future__ import annotations

from pathlib import Path

from drillkit.model.objectives import Objectives
from drillkit.model.report import Report
from drillkit.model.result import DrillRun
from drillkit.report import history, render
from drillkit.score import score


def publish(run: DrillRun, history_file: Path, *, append: bool) -> Report:
    """Score RUN against the objectives it was run with, write report.{json,md,html} and junit.xml into
    its folder, and (for a new run, not a re-rendering) add its line to the history."""
    report = score(run, Objectives.model_validate(run.objectives), history.read(history_file))
    render.write_all(report, Path(run.run_dir))
    if append:
        history.append(history_file, report.trend.runs[-1])
    return report
