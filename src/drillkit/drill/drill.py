"""Run a whole drill: validate everything, measure a baseline, run every experiment with its
repetitions, score, and write the reports and the history line. Nothing measured is lost: each run's
journal and measurements are on disk before the next one starts, and results.json is rewritten
after every run."""

from __future__ import annotations

import signal
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from rich.markup import escape

from drillkit import patroni_api
from drillkit.drill import blast_radius
from drillkit.drill.progress import DrillProgress
from drillkit.drill.runner import RunResult, run_experiment
from drillkit.errors import Aborted
from drillkit.faults.environment import new_run_id
from drillkit.guard.kinds import Sources
from drillkit.guard.watch import Watch
from drillkit.lock import target_lock
from drillkit.measure import replay
from drillkit.measure.session import MeasurementSession, MeasureSettings
from drillkit.model.drill import Drill
from drillkit.model.measurements import Measurements
from drillkit.model.needs import lacking
from drillkit.model.objectives import Objectives
from drillkit.model.plan import DrillPlan
from drillkit.model.result import DrillRun, RunRecord, RunStatus
from drillkit.model.stop import StopFiring
from drillkit.model.target import Target
from drillkit.report.notify import Notifier


def default_run_dir(root: Path, now: datetime | None = None) -> Path:
    """reports/<YYYY>-Q<n>-<timestamp>/"""
    now = now or datetime.now(UTC)
    return root / f"{now.year}-Q{(now.month - 1) // 3 + 1}-{now.strftime('%Y%m%dT%H%M%SZ')}"


def outline(plan: DrillPlan) -> list[str]:
    """The dry run: what would happen, in order, how long it should take, and each fault's blast radius."""
    drill, target = plan.drill, plan.target
    stops = f"stop conditions {', '.join(f'{c.name} ({c.kind})' for c in drill.stop_conditions)}" \
        if drill.stop_conditions else "no drill-wide stop condition"
    lines = [f"drill {drill.name} against {target.name} ({target.kind}, {target.driver.type} driver); {stops}",
             f"  baseline: {drill.baseline.duration_s:.0f} s of steady traffic, no fault"]
    if drill.leader:
        lines.append(f"  before each experiment: {drill.leader} leads the database (switchover if needed)")
    for entry, planned in zip(drill.experiments, plan.experiments, strict=True):
        experiment = planned.as_written
        reason = lacking(target, planned.resolved())
        if reason is not None:
            lines.append(f"  {entry.name}: not run, {reason} (weight {entry.weight:g} earns nothing)")
            continue
        faults = [a["provider"]["func"] for a in experiment.get("method", []) if a.get("type") == "action"]
        rollbacks = [a["provider"]["func"] for a in experiment.get("rollbacks", [])]
        overrides = f"; overrides {entry.variables}" if entry.variables else ""
        lines.append(f"  {entry.name} x{entry.repetitions} (weight {entry.weight:g}, "
                     f"~{entry.expected_seconds:.0f} s each): faults {', '.join(faults)}; "
                     f"rollbacks {', '.join(rollbacks) or 'none'}{overrides}")
        lines += [f"    {line}" for line in blast_radius.lines(target, planned.resolved(), planned.stop_conditions,
                                                                     drill.stop_conditions)]
    if target.backups is not None:
        lines.append(f"  after the experiments: the backup policy {target.backups.policy} is checked on backup "
                     f"server {target.backups.server} (time scale {target.backups.time_scale:g}); read only")
    lines.append(f"  expected duration: about {expected_seconds(plan) / 60:.1f} min")
    return lines


def expected_seconds(plan: DrillPlan) -> float:
    """How long the drill should take: its baseline and the experiments its target can run."""
    runnable = [entry for entry, planned in zip(plan.drill.experiments, plan.experiments, strict=True)
                if lacking(plan.target, planned.resolved()) is None]
    return plan.drill.baseline.duration_s + sum(e.expected_seconds * e.repetitions for e in runnable)


def run_drill(plan: DrillPlan, run_dir: Path, progress: DrillProgress, run_id: str | None = None) -> DrillRun:
    """Run the baseline and every experiment of the drill's PLAN; stop early (aborted) on an interrupt,
    SIGTERM or a stop condition (checked once before the baseline, then during each experiment)."""
    drill, target, objectives = plan.drill, plan.target, plan.objectives
    run_dir.mkdir(parents=True, exist_ok=True)
    result = DrillRun(drill=drill.model_dump(mode="json"), objectives=objectives.model_dump(mode="json"),
                      target=str(plan.target_file), target_name=target.name, target_kind=target.kind,
                      run_dir=str(run_dir), started_utc=datetime.now(UTC).isoformat(), run_id=run_id or new_run_id(),
                      backup_time_scale=target.backups.time_scale if target.backups is not None else None)
    result.save(run_dir)
    notifier = Notifier.for_target(target, say=lambda line: progress.say(f"[yellow]warning[/]: {escape(line)}"))
    notifier.started(result)
    previous = signal.signal(signal.SIGTERM, _interrupt)
    try:
        with target_lock(target, result.run_id, target_file=plan.target_file):  # the whole drill, baseline included
            refused = _check_stop_conditions(plan)
            if refused is not None:
                _stopped(result, refused, progress)
                return result
            result.baseline = _baseline(drill, target, objectives, run_dir / "baseline", progress)
            result.save(run_dir)
            _experiments(plan, run_dir, progress, result)
            if result.aborted is None:
                check_backups(target, result, progress)
    except KeyboardInterrupt:
        result.aborted = "interrupted (Ctrl-C or SIGTERM); rollbacks of the running experiment were played"
        progress.say("[red]interrupted[/]: the drill stops here")
    finally:
        signal.signal(signal.SIGTERM, previous)
        if result.backup_time_scale is not None and result.backup_check is None and not result.backup_check_error:
            result.backup_check_error = f"the drill ended before the policy was checked ({result.aborted or 'crashed'})"
        result.finished_utc = datetime.now(UTC).isoformat()
        result.save(run_dir)
        notifier.ended(result, error=sys.exc_info()[1])  # an error escaping the drill aborted it
    return result


def check_backups(target: Target, result: DrillRun, progress: DrillProgress) -> None:
    """After the experiments, before scoring: the backup policy checked (read only) and kept with the runs.
    A check that cannot run is recorded with its reason (scored "not checked"); it never costs the drill
    what it measured, so any error of the check is kept, not raised."""
    if target.backups is None:
        return
    from drillkit.backup.check import check_policy  # the backup tooling, loaded only for a target with backups

    progress.say(f"checking the backup policy {target.backups.policy} on {target.backups.server}")
    try:
        result.backup_check = check_policy(target, progress=lambda line: progress.say(escape(line)))
    except Exception as exc:  # noqa: BLE001 - an unreachable server or a failing check: recorded, never fatal
        result.backup_check_error = f"{type(exc).__name__}: {exc}"
        progress.say(f"[yellow]warning[/]: the backup policy was not checked: {escape(result.backup_check_error)}")
        return
    held = "held" if result.backup_check.held else "[red]did not hold[/]"
    progress.say(f"the backup policy {held}")
    result.save(Path(result.run_dir))


def _check_stop_conditions(plan: DrillPlan) -> StopFiring | None:
    """Every stop condition of the drill, evaluated once before anything runs (each name once)."""
    conditions = {c.name: c for planned in plan.experiments for c in planned.stop_conditions}
    return Watch(list(conditions.values()), Sources(prometheus=plan.target.prometheus),
                 on_fire=lambda firing: None).check_before_faults()


def _stopped(result: DrillRun, firing: StopFiring, progress: DrillProgress) -> None:
    result.aborted = firing.describe()
    result.stopped_by = firing
    progress.say(f"[red]{firing.verdict}[/]: the drill stops here")


def _lead_with(target: Target, member: str, progress: DrillProgress) -> None:
    """Start each experiment from the same state: MEMBER leads, every member streams."""
    leader = patroni_api.wait_for_leader(target.patroni_apis(), 120)
    if leader != member:
        progress.say(f"switching the database leader back to {member} (not measured)")
        patroni_api.switchover(target.patroni_api(leader), leader, member)
        patroni_api.wait_for_leader(target.patroni_apis(), 60, other_than=leader)
    deadline = time.monotonic() + 120
    while any(m.get("state") not in ("running", "streaming") for m in patroni_api.members(target.patroni_apis())):
        if time.monotonic() > deadline:
            raise Aborted(f"the cluster did not settle with {member} leading within 120 s")
        time.sleep(1)


def _interrupt(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt


def _baseline(drill: Drill, target: Target, objectives: Objectives, out_dir: Path,
              progress: DrillProgress) -> Measurements:
    progress.say(f"measuring a {drill.baseline.duration_s:.0f} s baseline")
    session = MeasurementSession(target=target, out_dir=out_dir, settings=MeasureSettings(),
                                 objectives=objectives)
    session.start()
    stopped = "interrupted"
    try:
        time.sleep(drill.baseline.duration_s)
        stopped = "baseline over"
    finally:  # an interrupted baseline keeps what it measured too
        summary, _ = session.finish(stopped, interrupted=stopped == "interrupted")
    return Measurements.model_validate(summary)


def _experiments(plan: DrillPlan, run_dir: Path, progress: DrillProgress, result: DrillRun) -> None:
    drill = plan.drill
    for entry, planned in zip(drill.experiments, plan.experiments, strict=True):
        reason = lacking(plan.target, planned.resolved())
        if reason is not None:
            _not_run(result, entry.name, entry.repetitions, reason, progress)
            result.save(run_dir)
            continue
        for repetition in range(1, entry.repetitions + 1):
            progress.experiment = entry.name + (f" #{repetition}" if entry.repetitions > 1 else "")
            if drill.leader:
                _lead_with(plan.target, drill.leader, progress)
            out = run_dir / "experiments" / f"{entry.name}-{repetition}"
            run_id = f"{result.run_id}/{entry.name}-{repetition}"
            ran = run_experiment(plan, out, [progress.handler()], experiment=planned, run_id=run_id)
            result.runs.append(_record(ran, entry.name, repetition, run_id, str(out.relative_to(run_dir))))
            result.save(run_dir)
            if ran.stopped_by is not None:
                _stopped(result, ran.stopped_by, progress)
                return
            if ran.journal_status is RunStatus.INTERRUPTED:
                raise KeyboardInterrupt


def _not_run(result: DrillRun, experiment: str, repetitions: int, reason: str, progress: DrillProgress) -> None:
    """An experiment the target cannot serve is recorded, not skipped in silence: it measured nothing,
    so it earns nothing, and the report says why."""
    progress.experiment = experiment
    progress.say(f"[yellow]not run[/]: {escape(reason)}")
    result.runs += [RunRecord(experiment=experiment, repetition=n, status=RunStatus.NOT_RUN, rollbacks_ok=True,
                              steady_state_ok=False, causes=[f"not run: {reason}"]) for n in range(1, repetitions + 1)]


def _record(ran: RunResult, experiment: str, repetition: int, run_id: str, run_dir: str) -> RunRecord:
    return RunRecord(
        experiment=experiment, repetition=repetition, run_id=run_id, status=ran.status,
        rollbacks_ok=ran.rollbacks_ok,
        steady_state_ok=not ran.journal.get("deviated") and ran.journal_status is RunStatus.COMPLETED,
        causes=causes(ran.journal), measurements=ran.journal.get("measurements"), run_dir=run_dir,
        stopped_by=ran.stopped_by,
    )


def causes(journal: dict[str, Any]) -> list[str]:
    """Why a run did not simply complete, in the run's own words: each failed activity with its error,
    a steady state that did not hold, what the safety net had to do."""
    extra = journal.get("drillkit") or {}
    stop = extra.get("stopped_by")
    found = [StopFiring.model_validate(stop).describe()] if stop else []
    for section in ("run", "rollbacks"):
        for run in journal.get(section, []):
            if run.get("status") != "succeeded":
                name = (run.get("activity") or {}).get("name", "?")
                role = "rollback" if section == "rollbacks" else (run.get("activity") or {}).get("type", "activity")
                found.append(f"{role} {name} failed: {_error_of(run)}")
    for phase in ("before", "after"):
        state = (journal.get("steady_states") or {}).get(phase) or {}
        if state and not state.get("steady_state_met", True):
            failed = [p["activity"]["name"] for p in state.get("probes", []) if not p.get("tolerance_met", True)]
            found.append(f"the steady state did not hold {phase} the method ({', '.join(failed) or 'a probe'})")
    found += [f"the safety net had to heal {fault}" for fault in extra.get("healed_by_safety_net", [])]
    found += [f"left open: {fault}" for fault in extra.get("left_open", [])]
    return found


def _error_of(run: dict[str, Any]) -> str:
    lines = [line.strip() for line in run.get("exception") or [] if line.strip()]
    if not lines:
        return "no error recorded"
    message = lines[-1].split(": ", 1)[-1] if lines[-1].startswith("chaoslib.") else lines[-1]
    return message.removeprefix("ActivityFailed: ")


def reanalyzed(run: DrillRun, run_dir: Path) -> tuple[DrillRun, int]:
    """RUN with each measurement analysed again from the raw files in RUN_DIR (where they are kept),
    and how many were; the reports then go to RUN_DIR, wherever the run was first written."""
    objectives = Objectives.model_validate(run.objectives)
    again = 0

    def measured(folder: Path, kept: Measurements | None) -> Measurements | None:
        nonlocal again
        if not replay.replayable(folder):
            return kept
        again += 1
        return replay.reanalyze(folder, objectives)

    runs = [r.model_copy(update={"measurements": measured(run_dir / r.run_dir, r.measurements)})
            for r in run.runs]
    baseline = measured(run_dir / "baseline", run.baseline) if run.baseline else None
    return run.model_copy(update={"runs": runs, "baseline": baseline, "run_dir": str(run_dir)}), again
