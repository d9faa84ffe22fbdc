"""Run a whole drill: validate everything, measure a baseline, run every experiment with its
repetitions, score, and write the reports and the history line. Nothing measured is lost: each run's
journal and measurements are on disk before the next one starts, and results.json is rewritten
after every run."""

from __future__ import annotations

import json
import signal
import time
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from drillkit import durable
from drillkit.drill.progress import DrillProgress
from drillkit.drill.runner import run_experiment
from drillkit.drill.scoring import RunRecord
from drillkit.errors import Aborted, InvalidInput
from drillkit.faults.database import cluster
from drillkit.faults.environment import new_run_id
from drillkit.lock import target_lock
from drillkit.measure.session import MeasurementSession, MeasureSettings
from drillkit.model.drill import Drill
from drillkit.model.objectives import Objectives, load_objectives
from drillkit.model.target import Target, load_target
from drillkit.validation import validate_files

RESULTS = "results.json"


@dataclass
class DrillRun:
    """What a drill run produced, saved as results.json: enough to score and render it again."""

    drill: dict[str, Any]
    objectives: dict[str, Any]
    target: str
    run_dir: str
    started_utc: str
    finished_utc: str | None = None
    aborted: str | None = None
    baseline: dict[str, Any] | None = None
    runs: list[dict[str, Any]] = field(default_factory=list)
    run_id: str = ""  # its experiments' faults are logged under <run_id>/<experiment>-<n>

    def save(self, run_dir: Path) -> None:
        durable.write_json(run_dir / RESULTS, asdict(self))  # rewritten after every run: never half-written

    def records(self) -> list[RunRecord]:
        return [RunRecord(**run) for run in self.runs]

    @classmethod
    def load(cls, run_dir: Path) -> DrillRun:
        path = run_dir / RESULTS
        try:
            return cls(**json.loads(path.read_text()))
        except (OSError, ValueError, TypeError) as exc:
            raise InvalidInput(f"{path}: (file): not the results of a drill run: {exc}") from exc


def default_run_dir(root: Path, now: datetime | None = None) -> Path:
    """reports/<YYYY>-Q<n>-<timestamp>/"""
    now = now or datetime.now(UTC)
    return root / f"{now.year}-Q{(now.month - 1) // 3 + 1}-{now.strftime('%Y%m%dT%H%M%SZ')}"


def check(drill: Drill, drill_file: Path, target_file: Path) -> tuple[Target, Objectives]:
    """Validate the drill's target, objectives and every experiment before anything runs."""
    target = load_target(target_file)
    objectives = load_objectives(drill.objectives) if drill.objectives.exists() else None
    if objectives is None:
        raise InvalidInput(f"{drill_file}: objectives: no such file {drill.objectives}")
    if drill.leader and drill.leader not in target.members():
        raise InvalidInput(f"{drill_file}: leader: target {target.name!r} has no database member "
                           f"{drill.leader!r} (it has: {', '.join(target.members())})")
    missing = [e.path for e in drill.experiments if not e.path.exists()]
    if missing:
        raise InvalidInput("\n".join(f"{drill_file}: experiments: no such file {p}" for p in missing))
    problems = validate_files([e.path for e in drill.experiments], target)
    if problems:
        raise InvalidInput("\n".join(problems))
    return target, objectives


def plan(drill: Drill, target: Target) -> list[str]:
    """The dry run: what would happen, in order, and how long it should take."""
    import yaml

    lines = [f"drill {drill.name} against {target.name} ({target.kind}, {target.driver.type} driver)",
             f"  baseline: {drill.baseline.duration_s:.0f} s of steady traffic, no fault"]
    if drill.leader:
        lines.append(f"  before each experiment: {drill.leader} leads the database (switchover if needed)")
    for entry in drill.experiments:
        experiment = yaml.safe_load(entry.path.read_text())
        faults = [a["provider"]["func"] for a in experiment.get("method", []) if a.get("type") == "action"]
        rollbacks = [a["provider"]["func"] for a in experiment.get("rollbacks", [])]
        overrides = f"; overrides {entry.variables}" if entry.variables else ""
        lines.append(f"  {entry.name} x{entry.repetitions} (weight {entry.weight:g}, "
                     f"~{entry.expected_seconds:.0f} s each): faults {', '.join(faults)}; "
                     f"rollbacks {', '.join(rollbacks) or 'none'}{overrides}")
    lines.append(f"  expected duration: about {drill.expected_seconds() / 60:.1f} min")
    return lines


def run_drill(
    drill: Drill, drill_file: Path, target_file: Path, run_dir: Path, progress: DrillProgress,
) -> DrillRun:
    """Run the baseline and every experiment; stop early (aborted) on an interrupt or SIGTERM."""
    target, objectives = check(drill, drill_file, target_file)
    run_dir.mkdir(parents=True, exist_ok=True)
    result = DrillRun(drill=drill.model_dump(mode="json"), objectives=objectives.model_dump(),
                      target=str(target_file), run_dir=str(run_dir),
                      started_utc=datetime.now(UTC).isoformat(), run_id=new_run_id())
    result.save(run_dir)
    previous = signal.signal(signal.SIGTERM, _interrupt)
    try:
        with target_lock(target, result.run_id, target_file=target_file):  # the whole drill, baseline included
            result.baseline = _baseline(drill, target, objectives, run_dir / "baseline", progress)
            result.save(run_dir)
            _experiments(drill, target_file, run_dir, progress, result)
    except KeyboardInterrupt:
        result.aborted = "interrupted (Ctrl-C or SIGTERM); rollbacks of the running experiment were played"
        progress.say("[red]interrupted[/]: the drill stops here")
    finally:
        signal.signal(signal.SIGTERM, previous)
        result.finished_utc = datetime.now(UTC).isoformat()
        result.save(run_dir)
    return result


def _lead_with(target: Target, member: str, progress: DrillProgress) -> None:
    """Start each experiment from the same state: MEMBER leads, every member streams."""
    leader = cluster.wait_for_leader(target, 120)
    if leader != member:
        progress.say(f"switching the database leader back to {member} (not measured)")
        cluster.switchover(target, leader, member)
        cluster.wait_for_leader(target, 60, other_than=leader)
    deadline = time.monotonic() + 120
    while any(m.get("state") not in ("running", "streaming") for m in cluster.members(target)):
        if time.monotonic() > deadline:
            raise Aborted(f"the cluster did not settle with {member} leading within 120 s")
        time.sleep(1)


def _interrupt(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt


def _baseline(drill: Drill, target: Target, objectives: Objectives, out_dir: Path,
              progress: DrillProgress) -> dict[str, Any]:
    progress.say(f"measuring a {drill.baseline.duration_s:.0f} s baseline")
    session = MeasurementSession(target=target, out_dir=out_dir, settings=MeasureSettings(),
                                 objectives=objectives)
    session.start()
    try:
        time.sleep(drill.baseline.duration_s)
    finally:
        session.stop()
    summary = session.summary()
    durable.write_json(out_dir / "measurements.json", summary)
    return summary


def _experiments(drill: Drill, target_file: Path, run_dir: Path, progress: DrillProgress,
                 result: DrillRun) -> None:
    target = load_target(target_file)
    for entry in drill.experiments:
        for repetition in range(1, entry.repetitions + 1):
            progress.experiment = entry.name + (f" #{repetition}" if entry.repetitions > 1 else "")
            if drill.leader:
                _lead_with(target, drill.leader, progress)
            out = run_dir / "experiments" / f"{entry.name}-{repetition}"
            ran = run_experiment(entry.path, target_file, out, entry.variables, [progress.handler()],
                                 run_id=f"{result.run_id}/{entry.name}-{repetition}")
            result.runs.append(asdict(RunRecord(
                experiment=entry.name, repetition=repetition, status=ran.status,
                rollbacks_ok=ran.status not in ("rollback failed", "interrupted", "aborted"),
                steady_state_ok=not ran.journal.get("deviated") and ran.journal.get("status") == "completed",
                measurements=ran.journal.get("measurements"), run_dir=str(out.relative_to(run_dir)),
            )))
            result.save(run_dir)
            if ran.journal.get("status") == "interrupted":
                raise KeyboardInterrupt
