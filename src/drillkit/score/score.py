"""score(run, objectives, history) -> Report: the whole verdict of a drill, a pure function of what the
runner recorded (docs/scoring.md explains every rule). Two verdicts, never one number mixing them: the
platform's (its score and grade, from observed harm only) and the evidence's (what was run and judged)."""

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
from drillkit.score.deductions import loss_figures
from drillkit.score.evidence import evidence
from drillkit.score.rows import objective_rows
from drillkit.score.run import score_run

GRADES: tuple[tuple[float, Grade], ...] = ((90, "A"), (80, "B"), (70, "C"), (60, "D"), (0, "F"))
LETTERS: list[Grade] = ["A", "B", "C", "D", "F"]
CAP_UNLESS_PASSED: Grade = "C"
ABORTING_STATUSES = ("interrupted", "aborted", "rollback failed")


def score(run: DrillRun, objectives: Objectives, history: Sequence[HistoryEntry] = ()) -> Report:
    scale = backups.time_scale(run)
    experiments = [_experiment(name, weight, records, objectives, scale, run.aborted)
                   for name, weight, records in _grouped(run)]
    policy = backups.policy_verdict(run)
    judged = [e for e in experiments if e.score is not None]
    deductions = drill_deductions(judged) + [d for d in [backups.policy_deduction(run)] if d is not None]
    total = round(max(0.0, 100.0 - sum(d.points for d in deductions)), 2) if judged else None
    rows = objective_rows(run.runs, objectives, scale)
    baseline = judge_baseline(run.baseline, objectives)
    found_evidence = evidence(experiments, rows, policy, baseline)
    status, why = verdict(run, experiments, rows, baseline)
    letter, cap = capped_grade(total, status)
    found = [f for e in experiments for r in e.runs for f in say.run_findings(r)] + say.row_findings(rows)
    found += [say.not_run(e) for e in experiments if e.status == "not run" and not e.runs]
    found += [f for f in [backups.policy_finding(run)] if f is not None]
    found = list({f.text: f for f in found}.values())  # repetitions repeat themselves: say each thing once
    now = trend.entry(drill=str(run.drill.get("name", "")), started_utc=run.started_utc, run_dir=run.run_dir,
                      status=status, score=total, grade=letter or "", target_kind=run.target_kind,
                      target=run.target_name, rows=rows, lost_writes=_lost_writes(run.runs),
                      evidence=found_evidence)
    return Report(drill=now.drill, description=str(run.drill.get("description", "")), target=run.target,
                  target_name=run.target_name, target_kind=run.target_kind,
                  scope_note=SANDBOX_NOTE if run.target_kind == "sandbox" else "", run_dir=run.run_dir,
                  run_id=run.run_id,
                  started_utc=run.started_utc, finished_utc=run.finished_utc, status=status, status_reason=why,
                  stopped_by=run.stopped_by, platform=platform_sentence(experiments, rows, policy, total),
                  score=total, grade=letter, grade_from_score=grade(total), grade_cap=cap,
                  evidence=found_evidence, deductions=deductions,
                  objectives=rows, objectives_config=objectives, findings=found, fixes=say.fixes(found),
                  baseline=baseline, experiments=experiments, backups=backups.backups_report(run, objectives),
                  trend=trend.trend(now, history))


def platform_sentence(experiments: list[ExperimentReport], rows: list[ObjectiveRow],
                      policy: tuple[str, str] | None, total: float | None) -> str:
    """What was observed about the platform, in one sentence, whatever the evidence."""
    failed = [e.name for e in experiments if e.status == "failed"]
    failed += [f"the {row.name} objective" for row in rows if row.verdict == "not met"]
    if policy is not None and policy[0] == "not met":
        failed.append(backups.POLICY)
    judged = sum(e.score is not None for e in experiments)
    if total is None:
        return "no experiment produced a figure about the platform" + (
            f"; what was judged failed: {', '.join(failed)}" if failed else "")
    if failed:
        return f"failed on what was judged ({judged} of {len(experiments)} experiments): {', '.join(failed)}"
    return f"held on everything judged ({judged} of {len(experiments)} experiments)"


def grade(points: float | None) -> Grade | None:
    if points is None:
        return None
    return next(letter for floor, letter in GRADES if points >= floor)


def capped_grade(points: float | None, status: Status) -> tuple[Grade | None, str]:
    """A drill that failed, aborted or was invalid is never graded above C, whatever its score. An
    incomplete one keeps the platform's grade: what the tool could not see never lowers it."""
    letter = grade(points)
    if letter is not None and status not in ("passed", "incomplete") \
            and LETTERS.index(letter) < LETTERS.index(CAP_UNLESS_PASSED):
        return CAP_UNLESS_PASSED, f"the drill {status}: a drill that did not pass is graded C at best"
    return letter, ""


def drill_deductions(experiments: list[ExperimentReport]) -> list[DrillDeduction]:
    """Each experiment's lost points, weighted: the drill's score is 100 minus their sum exactly."""
    weight = sum(e.weight for e in experiments)
    return [DrillDeduction(experiment=e.name, points=round((100 - e.score) * e.weight / weight, 2),
                           reason=f"{e.name} scored {e.score:g} (run {e.scored_repetition}); weight "
                                  f"{e.weight:g} of {weight:g} judged")
            for e in experiments if e.score is not None and e.score < 100]


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
        return "incomplete", "no experiment was planned or run"
    failing = [f"{e.name} failed a gate" for e in experiments if e.status == "failed"]
    failing += [f"{row.name} not met" for row in rows if row.verdict == "not met"]
    missing = [f"{e.name} {e.status}" for e in experiments if e.status in ("not run", "incomplete")]
    missing += [f"{row.name} not measured" for row in rows if row.verdict == "not measured"]
    policy = backups.policy_verdict(run)
    if policy is not None and policy[0] != "met":
        (failing if policy[0] == "not met" else missing).append(f"{backups.POLICY} {policy[0]}")
    if failing:
        return "failed", "; ".join([*failing, *missing])
    if missing:
        return "incomplete", "nothing judged failed, but the evidence is incomplete: " + "; ".join(missing)
    passed = "every gate of every run passed and every objective was met"
    return "passed", passed + (" and the backup policy held" if policy is not None else "")


def judge_baseline(m: Measurements | None, objectives: Objectives) -> Baseline:
    """A baseline that already breaches an SLO (or saw nothing) makes the run invalid, not failed."""
    if m is None:
        return Baseline(valid=False, reason="no baseline was measured")
    sli = m.user_path
    # one line per unmet SLI; "not measured" is said once, whichever SLIs it hides
    problems = list(dict.fromkeys(_baseline_problem(v) for v in sli_verdicts(sli, objectives) if not v.met))
    observed, needed, share = _baseline_coverage(m)
    if observed < share * needed:
        problems.append(f"the baseline was not measured: the user path was judged for {observed} of its {needed} s "
                        f"(at least {text.share(share, 0)} are needed)")
    if m.incidents:
        problems.append(f"{len(m.incidents)} incident(s) during the baseline, before any fault")
    return Baseline(valid=not problems, reason="; ".join(problems) or "the baseline met every SLO",
                    duration_s=m.duration_s, user_path=sli.model_copy(update={"histogram": ""}),
                    incidents=m.incidents)


def _baseline_coverage(m: Measurements) -> tuple[int, int, float]:
    """Seconds judged (good or bad), whole seconds the baseline lasted but its last (the measurement's
    stop may cut it), and the share needed (min_coverage, as for every second judged)."""
    share = m.settings.get("min_coverage", 0.9)
    observed = sum(p.state in ("good", "bad") for p in m.series)
    return observed, max(1, int(m.duration_s) - 1), float(share)


def _baseline_problem(verdict: SliVerdict) -> str:
    name = verdict.name.replace("_", " ")
    if verdict.value is None:
        return f"the baseline was not measured: {verdict.reason}"
    return f"baseline {name} {text.share(verdict.value, 3)} misses its objective ({verdict.objective})"


def _experiment(name: str, weight: float, records: list[RunRecord], objectives: Objectives,
                time_scale: float = 1.0, aborted: str | None = None) -> ExperimentReport:
    """Scored by its worst judged run: the score shown and the deductions listed are that run's."""
    runs = [score_run(r, objectives, time_scale) for r in records]
    judged = [r for r in runs if r.status != RunStatus.NOT_RUN and r.measured and r.coverage > 0]
    if not judged:
        ran = any(r.status != RunStatus.NOT_RUN for r in runs)
        why = ("; ".join(c.removeprefix("not run: ") for r in runs for c in r.causes) or "no run of it was measured") \
            if runs else \
            (f"the drill stopped before it: {aborted}" if aborted else "no run of it was recorded")
        return ExperimentReport(name=name, weight=weight, score=None, scored_repetition=runs[0].repetition if runs
                                else 0, deductions=[], status="incomplete" if ran else "not run",
                                reason=f"nothing about the platform was judged: {why}" if ran else why,
                                coverage=0.0, passed=False, runs=runs)
    worst: RunReport = min(judged, key=lambda r: (r.score, r.passed))
    status, why = _experiment_status(runs)
    return ExperimentReport(name=name, weight=weight, score=worst.score, scored_repetition=worst.repetition,
                            deductions=worst.deductions, status=status, reason=why,
                            coverage=min(r.coverage if r in judged else 0.0 for r in runs),
                            passed=all(r.passed for r in runs), runs=runs)


def _experiment_status(runs: list[RunReport]) -> tuple[str, str]:
    failed = [g.reason for r in runs if r.platform_failed for g in r.gates if g.verdict == "not met"]
    if failed:
        return "failed", "; ".join(dict.fromkeys(failed))
    unjudged = [why for r in runs for why in r.unjudged]
    if unjudged:
        return "incomplete", "; ".join(dict.fromkeys(unjudged))
    return "passed", ""


def _grouped(run: DrillRun) -> list[tuple[str, float, list[RunRecord]]]:
    """Every experiment the drill planned, in its order, with its runs (none when the drill stopped before
    it: it is listed as not run, never left out), then any recorded run the manifest does not name."""
    weights = {Path(str(e["path"])).stem: float(e.get("weight", 1.0)) for e in run.drill.get("experiments", [])}
    for record in run.runs:
        weights.setdefault(record.experiment, 1.0)
    return [(name, weight, [r for r in run.runs if r.experiment == name]) for name, weight in weights.items()]


def _lost_writes(records: list[RunRecord]) -> int | None:
    """Acknowledged writes lost anywhere: at failover (before and after the fault) and missing from a restored
    copy. None when any of them was not measured."""
    figures = [f for r in records if r.measurements is not None and r.status != RunStatus.NOT_RUN
               for f in loss_figures(r.measurements)]
    if not figures or any(f is None or f.status != "measured" for f in figures):
        return None
    return sum(f.lost + f.split_brain.count for f in figures if f is not None)
