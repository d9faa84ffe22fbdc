"""score(run, objectives, history) -> Report: the whole verdict of a drill, a pure function of what the
runner recorded (docs/scoring.md explains every rule)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from drillkit.model.measurements import Measurements
from drillkit.model.objectives import Objectives
from drillkit.model.report import (
    SANDBOX_NOTE,
    Baseline,
    DrillDeduction,
    ExperimentReport,
    Grade,
    HistoryEntry,
    ObjectiveRow,
    Report,
    RunReport,
    Status,
)
from drillkit.model.result import DrillRun, RunRecord, RunStatus
from drillkit.model.sli_verdict import SliVerdict, sli_verdicts
from drillkit.score import backups, text, trend
from drillkit.score import findings as say
from drillkit.score.rows import objective_rows
from drillkit.score.run import score_run

GRADES: tuple[tuple[float, Grade], ...] = ((90, "A"), (80, "B"), (70, "C"), (60, "D"), (0, "F"))
LETTERS: list[Grade] = ["A", "B", "C", "D", "F"]
CAP_UNLESS_PASSED: Grade = "C"
ABORTING_STATUSES = ("interrupted", "aborted", "rollback failed")


def score(run: DrillRun, objectives: Objectives, history: Sequence[HistoryEntry] = ()) -> Report:
    scale = backups.time_scale(run)
    experiments = [_experiment(name, weight, records, objectives, scale) for name, weight, records in _grouped(run)]
    deductions = drill_deductions(experiments) + [d for d in [backups.policy_deduction(run)] if d is not None]
    total = round(max(0.0, 100.0 - sum(d.points for d in deductions)), 2) if experiments else 0.0
    rows = objective_rows(run.runs, objectives, scale)
    baseline = judge_baseline(run.baseline, objectives)
    status, why = verdict(run, experiments, rows, baseline)
    letter, cap = capped_grade(total, status)
    found = [f for e in experiments for r in e.runs for f in say.run_findings(r)] + say.row_findings(rows)
    found += [f for f in [backups.policy_finding(run)] if f is not None]
    found = list({f.text: f for f in found}.values())  # repetitions repeat themselves: say each thing once
    now = trend.entry(drill=str(run.drill.get("name", "")), started_utc=run.started_utc, run_dir=run.run_dir,
                      status=status, score=total, grade=letter, target_kind=run.target_kind, target=run.target_name,
                      rows=rows, lost_writes=_lost_writes(run.runs))
    return Report(drill=now.drill, description=str(run.drill.get("description", "")), target=run.target,
                  target_name=run.target_name, target_kind=run.target_kind,
                  evidence=SANDBOX_NOTE if run.target_kind == "sandbox" else "", run_dir=run.run_dir,
                  run_id=run.run_id,
                  started_utc=run.started_utc, finished_utc=run.finished_utc, status=status, status_reason=why,
                  stopped_by=run.stopped_by,
                  score=total, grade=letter, grade_from_score=grade(total), grade_cap=cap, deductions=deductions,
                  objectives=rows, objectives_config=objectives, findings=found, fixes=say.fixes(found),
                  baseline=baseline, experiments=experiments, backups=backups.backups_report(run, objectives),
                  trend=trend.trend(now, history))


def grade(points: float) -> Grade:
    return next(letter for floor, letter in GRADES if points >= floor)


def capped_grade(points: float, status: Status) -> tuple[Grade, str]:
    """A drill that did not pass is never graded above C, whatever its score."""
    letter = grade(points)
    if status != "passed" and LETTERS.index(letter) < LETTERS.index(CAP_UNLESS_PASSED):
        return CAP_UNLESS_PASSED, f"the drill {status}: a drill that did not pass is graded C at best"
    return letter, ""


def drill_deductions(experiments: list[ExperimentReport]) -> list[DrillDeduction]:
    """Each experiment's lost points, weighted: the drill's score is 100 minus their sum exactly."""
    weight = sum(e.weight for e in experiments)
    return [DrillDeduction(experiment=e.name, points=round((100 - e.score) * e.weight / weight, 2),
                           reason=f"{e.name} scored {e.score:g} (run {e.scored_repetition}); weight "
                                  f"{e.weight:g} of {weight:g}")
            for e in experiments if e.score < 100]


def verdict(run: DrillRun, experiments: list[ExperimentReport], rows: list[ObjectiveRow],
            baseline: Baseline | None) -> tuple[Status, str]:
    broken = [r for r in run.runs if r.status in ABORTING_STATUSES or not r.rollbacks_ok]
    if run.aborted:
        return "aborted", run.aborted
    if broken:
        causes = "; ".join(c for r in broken for c in r.causes) or broken[0].status
        return "aborted", f"{broken[0].experiment} run {broken[0].repetition} ended {broken[0].status}: {causes}"
    if baseline is not None and not baseline.valid:
        return "invalid", baseline.reason
    if not experiments:
        return "failed", "no experiment ran"
    failing = [f"{e.name} was not run" if _not_run(e) else f"{e.name} failed a gate" for e in experiments
               if not e.passed]
    unmet = [f"{row.name} {row.verdict}" for row in rows if row.verdict != "met"]
    policy = backups.policy_verdict(run)
    if policy is not None and policy[0] != "met":
        unmet.append(f"{backups.POLICY} {policy[0]}")
    if failing or unmet:
        return "failed", "; ".join([*failing, *unmet])
    passed = "every gate of every run passed and every objective was met"
    return "passed", passed + (" and the backup policy held" if policy is not None else "")


def _not_run(experiment: ExperimentReport) -> bool:
    return all(run.status == RunStatus.NOT_RUN for run in experiment.runs)


def judge_baseline(m: Measurements | None, objectives: Objectives) -> Baseline:
    """A baseline that already breaches an SLO (or saw nothing) makes the run invalid, not failed."""
    if m is None:
        return Baseline(valid=False, reason="no baseline was measured")
    sli = m.user_path
    # one line per unmet SLI; "not measured" is said once, whichever SLIs it hides
    problems = list(dict.fromkeys(_baseline_problem(v) for v in sli_verdicts(sli, objectives) if not v.met))
    if m.incidents:
        problems.append(f"{len(m.incidents)} incident(s) during the baseline, before any fault")
    return Baseline(valid=not problems, reason="; ".join(problems) or "the baseline met every SLO",
                    duration_s=m.duration_s, user_path=sli.model_copy(update={"histogram": ""}),
                    incidents=m.incidents)


def _baseline_problem(verdict: SliVerdict) -> str:
    name = verdict.name.replace("_", " ")
    if verdict.value is None:
        return f"the baseline was not measured: {verdict.reason}"
    return f"baseline {name} {text.share(verdict.value, 3)} misses its objective ({verdict.objective})"


def _experiment(name: str, weight: float, records: list[RunRecord], objectives: Objectives,
                time_scale: float = 1.0) -> ExperimentReport:
    """Scored by its worst run: the score shown and the deductions listed are that run's."""
    runs = [score_run(r, objectives, time_scale) for r in records]
    worst: RunReport = min(runs, key=lambda r: (r.score, r.passed))
    return ExperimentReport(name=name, weight=weight, score=worst.score, scored_repetition=worst.repetition,
                            deductions=worst.deductions, passed=all(r.passed for r in runs), runs=runs)


def _grouped(run: DrillRun) -> list[tuple[str, float, list[RunRecord]]]:
    weights = {Path(str(e["path"])).stem: float(e.get("weight", 1.0)) for e in run.drill.get("experiments", [])}
    for record in run.runs:
        weights.setdefault(record.experiment, 1.0)
    groups = [(name, weight, [r for r in run.runs if r.experiment == name]) for name, weight in weights.items()]
    return [group for group in groups if group[2]]


def _lost_writes(records: list[RunRecord]) -> int | None:
    figures = [r.measurements.rpo for r in records if r.measurements is not None]
    if not figures or any(f is None or f.status != "measured" for f in figures):
        return None
    return sum(f.lost + f.split_brain.count for f in figures if f is not None)
