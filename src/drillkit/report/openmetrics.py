"""A scored drill in the OpenMetrics text format: what monitoring reads of a Report.

Every series is a gauge labelled by `drill`, `target` and `run_id` (the drill's run id); per-experiment
series add `experiment`, per-run series add `repetition` (and `fault` for an RTO). Gauges only, without
timestamps, so that the same text is also valid for node_exporter's textfile collector and a Pushgateway
(both read the Prometheus text format, to which `# UNIT` and `# EOF` are comments).

A figure that was not measured has no sample, never a 0: `drillkit_figure_measured{figure=...}` says 0
for it (and 1 for each figure that has a sample), so an alert can tell "zero" from "unknown". An RTO that
never recovered within the wait is measured: its lower bound is a figure, its upper bound is +Inf; a
fault with no impact on the user path has an RTO of [0, 0], as the RTO objective counts it.

A target with backups adds the policy's verdict (`drillkit_backup_policy_held`, no sample when it was not
checked) and one gauge per rule; each restore drill adds its RTO bounds (upper +Inf: the copy never
served), its RPO and whether its checks passed, labelled by `restore` (the restore's activity).
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime

from prometheus_client import exposition
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.openmetrics import exposition as openmetrics_exposition
from prometheus_client.registry import Collector, CollectorRegistry

from drillkit.model.measurements import FaultTimeline
from drillkit.model.report import BackupsReport, ExperimentReport, Report, RestoreReport, RunReport

__all__ = ["CONTENT_TYPE", "registry", "render", "render_text_format"]

CONTENT_TYPE = openmetrics_exposition.CONTENT_TYPE_LATEST
DRILL = ("drill", "target", "run_id")
EXPERIMENT = (*DRILL, "experiment")
RUN = (*EXPERIMENT, "repetition")
BUDGET_OBJECTIVES = {"availability": "availability", "error rate": "errors", "latency": "latency"}


def render(report: Report) -> str:
    """REPORT in the OpenMetrics text format, ending with `# EOF`."""
    return openmetrics_exposition.generate_latest(registry(report)).decode()


def render_text_format(report: Report) -> str:
    """The same series in the Prometheus text format 0.0.4 (what a Pushgateway is sent)."""
    return exposition.generate_latest(registry(report)).decode()


def registry(report: Report) -> CollectorRegistry:
    """A registry of its own (never the process-wide one) that holds only REPORT's series."""
    own = CollectorRegistry(auto_describe=False)
    own.register(_ReportCollector(report))
    return own


class _ReportCollector(Collector):
    def __init__(self, report: Report) -> None:
        self.report = report

    def collect(self) -> Iterator[Metric]:
        families = _Families()
        _drill_series(self.report, families)
        for experiment in self.report.experiments:
            _experiment_series(self.report, experiment, families)
        if self.report.backups is not None:
            _backup_series(self.report, self.report.backups, families)
        yield from families.all()


class _Families:
    """The gauge families of one report, declared once each, in the order they were first used."""

    def __init__(self) -> None:
        self._families: dict[str, tuple[GaugeMetricFamily, list[str]]] = {}

    def add(self, name: str, doc: str, labels: dict[str, str], value: float, unit: str = "") -> None:
        if name not in self._families:
            self._families[name] = GaugeMetricFamily(name, doc, labels=list(labels), unit=unit), list(labels)
        family, names = self._families[name]
        if list(labels) != names:  # a family's series all carry the same label names
            raise ValueError(f"{name}: labels {list(labels)} differ from {names}")
        family.add_metric(list(labels.values()), value)

    def measured(self, labels: dict[str, str], figure: str, value: float | None) -> bool:
        """Say whether FIGURE was measured; a figure that was not has no sample of its own. Labels that
        do not apply (a drill-wide figure's experiment) are empty, which Prometheus reads as absent."""
        every = {name: "" for name in (*RUN, "fault", "restore")} | labels | {"figure": figure}
        self.add("drillkit_figure_measured", "1 when the figure has a sample, 0 when it was not measured",
                 every, 0 if value is None else 1)
        return value is not None

    def all(self) -> list[GaugeMetricFamily]:
        return [family for family, _ in self._families.values()]


def _drill_labels(report: Report) -> dict[str, str]:
    return {"drill": report.drill, "target": report.target_name or report.target, "run_id": report.run_id}


def _drill_series(report: Report, families: _Families) -> None:
    labels = _drill_labels(report)
    if families.measured(labels, "drill_score", report.score) and report.score is not None:
        families.add("drillkit_drill_score", "the platform's score, 0 to 100, on what was judged", labels,
                     report.score)
    families.add("drillkit_drill_passed", "1 when the drill passed", labels, 1 if report.passed else 0)
    families.add("drillkit_drill_evidence_complete", "1 when every planned check was judged", labels,
                 1 if report.evidence.verdict == "complete" else 0)
    families.add("drillkit_drill_evidence_coverage_ratio", "the weighted share of the planned checks judged",
                 labels, report.evidence.coverage, unit="ratio")
    families.add("drillkit_drill_info", "the drill's grade, status and target kind (always 1)",
                 {**labels, "grade": report.grade or "", "status": report.status,
                  "target_kind": report.target_kind}, 1)
    finished = _timestamp(report.finished_utc)
    if finished is not None:
        families.add("drillkit_drill_finished_timestamp_seconds", "when the drill ended (Unix time)",
                     labels, finished, unit="seconds")
    for row in report.objectives:
        met = None if row.verdict == "not measured" else (1 if row.verdict == "met" else 0)
        objective = {**labels, "objective": row.name}
        if families.measured(labels, "objective_" + row.name.replace(" ", "_"), met) and met is not None:
            families.add("drillkit_objective_met", "1 when the drill met the objective, 0 when not", objective, met)
        if row.name in BUDGET_OBJECTIVES and row.budget_consumed is not None:
            families.add("drillkit_drill_budget_consumed_ratio", "the share of the period's error budget "
                         "the drill consumed", objective, row.budget_consumed, unit="ratio")


def _experiment_series(report: Report, experiment: ExperimentReport, families: _Families) -> None:
    labels = {**_drill_labels(report), "experiment": experiment.name}
    if families.measured(labels, "experiment_score", experiment.score) and experiment.score is not None:
        families.add("drillkit_experiment_score", "the experiment's platform score (its worst judged repetition's), "
                     "0 to 100", labels, experiment.score)
    families.add("drillkit_experiment_passed", "1 when every repetition of the experiment passed",
                 labels, 1 if experiment.passed else 0)
    for run in experiment.runs:
        _run_series({**labels, "repetition": str(run.repetition)}, run, families)


def _run_series(labels: dict[str, str], run: RunReport, families: _Families) -> None:
    families.add("drillkit_run_score", "one repetition's score, 0 to 100", labels, run.score)
    for fault, timeline in _unique_faults(run.recoveries):
        _rto_series({**labels, "fault": fault}, timeline, families)
    # a restore drill's own ledger is vacuous: its losses are the restored copy's (drillkit_restore_lost_writes)
    rpo = run.rpo if run.rpo is not None and run.rpo.status == "measured" and not run.restores else None
    seconds = rpo.seconds if rpo is not None else None
    if families.measured(labels, "rpo", seconds) and seconds is not None:
        families.add("drillkit_rpo_seconds", "span of acknowledged writes lost before T0 (a lower bound "
                     "when the loss reaches the ledger's first write)", labels, seconds, unit="seconds")
    if families.measured(labels, "lost_writes", rpo.lost if rpo is not None else None) and rpo is not None:
        families.add("drillkit_lost_writes", "acknowledged writes lost, made before T0", labels, rpo.lost)
        families.add("drillkit_split_brain_lost_writes", "acknowledged writes lost, made after T0",
                     labels, rpo.split_brain.count)
    for kind in ("availability", "errors", "latency"):
        share = run.budget_consumed.get(kind)
        if families.measured(labels, f"budget_{kind}", share) and share is not None:
            families.add("drillkit_budget_consumed_ratio", "the share of the period's error budget the run "
                         "consumed", {**labels, "slo": kind}, share, unit="ratio")


def _rto_series(labels: dict[str, str], timeline: FaultTimeline, families: _Families) -> None:
    bounds = _rto_bounds(timeline)
    if not families.measured(labels, "rto", None if bounds is None else bounds[0]) or bounds is None:
        return
    families.add("drillkit_rto_lower_seconds", "the RTO's lower bound", labels, bounds[0], unit="seconds")
    families.add("drillkit_rto_upper_seconds", "the RTO's upper bound (+Inf: not recovered within the wait)",
                 labels, bounds[1], unit="seconds")


def _rto_bounds(timeline: FaultTimeline) -> tuple[float, float] | None:
    """[lower, upper] as the RTO objective counts them; None when there is no figure."""
    if timeline.fault.confirmed is None or timeline.status == "not measured":
        return None
    if timeline.status == "no impact":
        return 0.0, 0.0
    if timeline.rto is None:
        return None
    upper = timeline.rto.upper
    return timeline.rto.lower, float("inf") if upper is None else upper


def _backup_series(report: Report, backups: BackupsReport, families: _Families) -> None:
    labels = _drill_labels(report)
    held = None if backups.policy == "not measured" else (1 if backups.policy == "met" else 0)
    if families.measured(labels, "backup_policy", held) and held is not None:
        families.add("drillkit_backup_policy_held", "1 when every rule of the backup policy held, 0 when not",
                     labels, held)
    for item in backups.check.items if backups.check is not None else []:
        families.add("drillkit_backup_policy_rule_ok", "1 when the rule of the backup policy held, 0 when not",
                     {**labels, "rule": item.name}, 1 if item.ok else 0)
    families.add("drillkit_backup_time_scale", "policy seconds per real second of the backups (1: real time)",
                 labels, backups.time_scale)
    seen: dict[tuple[str, int, str], int] = {}
    for shown in backups.restores:
        key = (shown.experiment, shown.repetition, shown.restore.activity)
        seen[key] = seen.get(key, 0) + 1
        name = shown.restore.activity if seen[key] == 1 else f"{shown.restore.activity}#{seen[key]}"
        _restore_series({**labels, "experiment": shown.experiment, "repetition": str(shown.repetition),
                         "restore": name}, shown, families)


def _restore_series(labels: dict[str, str], shown: RestoreReport, families: _Families) -> None:
    r = shown.restore
    measured = r.status == "measured"
    if families.measured(labels, "restore_rto", 1 if measured else None) and measured:
        if r.rto is not None:
            families.add("drillkit_restore_rto_lower_seconds", "a restore's RTO lower bound (T0 to serving)",
                         labels, r.rto.lower, unit="seconds")
        upper = r.rto.upper if r.rto is not None and r.rto.upper is not None else float("inf")
        families.add("drillkit_restore_rto_upper_seconds", "a restore's RTO upper bound (+Inf: the copy never "
                     "served)", labels, upper, unit="seconds")
    rpo = r.rpo.seconds if measured and r.rpo is not None and r.rpo.status == "measured" else None
    if families.measured(labels, "restore_rpo", rpo) and rpo is not None:
        families.add("drillkit_restore_rpo_seconds", "T0 minus the newest acknowledged write the restored copy "
                     "holds, counted from the ledger (a lower bound when at least)", labels, rpo, unit="seconds")
        families.add("drillkit_restore_lost_writes", "acknowledged writes before the loss that the restored copy "
                     "lacks", labels, r.rpo.lost if r.rpo is not None else 0)
    ok = None if shown.checks == "not measured" else (1 if shown.checks == "met" else 0)
    if families.measured(labels, "restore_checks", ok) and ok is not None:
        families.add("drillkit_restore_checks_passed", "1 when every check of the restored copy passed",
                     labels, ok)


def _unique_faults(timelines: list[FaultTimeline]) -> Iterator[tuple[str, FaultTimeline]]:
    """Each timeline with a label value of its own: the activity's name, numbered when it repeats."""
    seen: dict[str, int] = {}
    for timeline in timelines:
        name = timeline.fault.activity or timeline.fault.fault
        seen[name] = seen.get(name, 0) + 1
        yield (name if seen[name] == 1 else f"{name}#{seen[name]}"), timeline


def _timestamp(utc: str | None) -> float | None:
    if not utc:
        return None
    try:
        return datetime.fromisoformat(utc).timestamp()
    except ValueError:
        return None
