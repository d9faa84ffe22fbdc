"""Run one experiment of a plan through chaoslib against its target, with rollbacks always played and
a safety net behind them: whatever the run leaves open in the fault log is healed before it returns.

Any Chaos Toolkit experiment runs as `chaos run` would run it, with the user's Chaos Toolkit settings
(CHAOSTOOLKIT_SETTINGS, else ~/.chaostoolkit/settings.yaml), except that rollbacks are always played.
The run's target, run id and folder reach the activities and the measure control through the
configuration chaoslib hands them, never through the process environment.

Stop conditions (the experiment's, with its drill's) are checked once before the run (one that fires or
cannot be evaluated refuses the run: nothing is injected), then evaluated from the start of the method
until the rollbacks begin; the first that fires interrupts the method as chaoslib's SIGUSR1 does
(`chaoslib.exit.exit_gracefully`: the rollbacks are kept), and the run ends "aborted", naming it."""

from __future__ import annotations

import copy
import logging
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from chaoslib.exceptions import InterruptExecution
from chaoslib.exit import exit_gracefully
from chaoslib.run import RunEventHandler, Runner
from chaoslib.types import Strategy

from drillkit import durable, interrupts
from drillkit.controls import measure
from drillkit.controls.measure import OUT_KEY
from drillkit.drill import blast_radius
from drillkit.errors import EXIT_ABORTED, EXIT_BREACHED, EXIT_PASS, InvalidInput
from drillkit.faultlog import FaultLog
from drillkit.faults import recovery
from drillkit.faults.environment import TARGET_KEY, new_run_id, plan_configuration
from drillkit.guard.kinds import Sources
from drillkit.guard.live import LiveSamples
from drillkit.guard.watch import Watch
from drillkit.lock import target_lock
from drillkit.model.plan import Plan, PlannedExperiment
from drillkit.model.result import RunStatus
from drillkit.model.stop import StopCondition, StopFiring
from drillkit.model.target import Target

logger = logging.getLogger("drillkit")
SETTINGS_ENV = "CHAOSTOOLKIT_SETTINGS"
DEFAULT_SETTINGS_FILE = Path("~/.chaostoolkit/settings.yaml")
GRACEFUL_EXIT = 20  # chaoslib's SystemExit code for SIGUSR1: stop the method, keep the rollbacks
SIGNAL_GRACE_S = 0.5
FLUSH_S = 1.0  # the probe process flushes its samples every second
ROLLBACKS = "always"  # drillkit's one departure from `chaos run`: a fault is never left in place
STOPPED = frozenset({RunStatus.INTERRUPTED, RunStatus.ABORTED})  # chaoslib stopped the run short
EXIT_CODES = {RunStatus.COMPLETED: EXIT_PASS, RunStatus.INTERRUPTED: EXIT_ABORTED,
              RunStatus.ABORTED: EXIT_ABORTED, RunStatus.ROLLBACK_FAILED: EXIT_ABORTED}  # else breached


@dataclass
class RunResult:
    journal: dict[str, Any]
    journal_path: Path
    healed_by_safety_net: list[str] = field(default_factory=list)
    left_open: list[str] = field(default_factory=list)
    stopped_by: StopFiring | None = None  # the stop condition that aborted it

    @property
    def journal_status(self) -> RunStatus:
        """chaoslib's own status of the run."""
        try:
            return RunStatus(self.journal.get("status", RunStatus.UNKNOWN))
        except ValueError:
            return RunStatus.UNKNOWN

    @property
    def status(self) -> RunStatus:
        if self.stopped_by is not None:
            return RunStatus.ABORTED
        if self.journal_status in STOPPED:
            return self.journal_status
        if self.left_open or self.healed_by_safety_net or _failed(self.journal.get("rollbacks", [])):
            return RunStatus.ROLLBACK_FAILED
        if self.journal.get("deviated"):
            return RunStatus.DEVIATED
        if _failed(self.journal.get("run", [])):
            return RunStatus.ACTIVITY_FAILED
        return self.journal_status

    @property
    def exit_code(self) -> int:
        return EXIT_CODES.get(self.status, EXIT_BREACHED)

    @property
    def rollbacks_ok(self) -> bool:
        """Every rollback played and succeeded, nothing left to the safety net."""
        if self.status is RunStatus.ROLLBACK_FAILED or (self.status in STOPPED and self.stopped_by is None):
            return False
        return not (self.left_open or self.healed_by_safety_net or _failed(self.journal.get("rollbacks", [])))


def _failed(runs: list[dict[str, Any]]) -> list[str]:
    return [run["activity"]["name"] for run in runs if run.get("status") != "succeeded"]


def outline(planned: PlannedExperiment, target: Target) -> list[str]:
    """The dry run of one experiment: each activity in order, what it calls, the rollbacks, and the blast
    radius of its faults against TARGET."""
    experiment = planned.document()
    hypothesis = experiment.get("steady-state-hypothesis") or {}
    sections = [("steady state", hypothesis.get("probes") or []), ("method", experiment.get("method") or []),
                ("rollbacks (always played)", experiment.get("rollbacks") or [])]
    lines = [f"experiment {experiment.get('title')!r}"]
    for title, activities in sections:
        lines.append(f"  {title}: {'none' if not activities else ''}".rstrip())
        lines += [f"    {_describe(activity)}" for activity in activities]
    controls = [c.get("name", "?") for c in experiment.get("controls", [])]
    lines.append(f"  controls: {', '.join(controls) or 'none'}")
    return lines + [f"  {line}" for line in blast_radius.lines(target, planned.resolved(), planned.stop_conditions)]


def _describe(activity: dict[str, Any]) -> str:
    if "ref" in activity:
        return f"(ref) {activity['ref']}"
    provider = activity.get("provider") or {}
    calls = {"python": lambda: f"{provider.get('module')}.{provider.get('func')}",
             "http": lambda: f"{provider.get('method', 'GET')} {provider.get('url')}",
             "process": lambda: f"run {provider.get('path')}"}.get(str(provider.get("type")), lambda: "?")()
    pauses = activity.get("pauses") or {}
    waits = "".join(f", pause {when} {pauses[when]} s" for when in ("before", "after") if when in pauses)
    return f"{activity.get('type')} {activity.get('name')}: {calls}{waits}"


def chaos_settings(settings_file: Path | None = None) -> dict[str, Any]:
    """The user's Chaos Toolkit settings: SETTINGS_FILE, else CHAOSTOOLKIT_SETTINGS, else the default
    file ({} when that does not exist); an explicit file that does not exist is invalid input."""
    from chaoslib.settings import load_settings

    explicit = settings_file or (Path(os.environ[SETTINGS_ENV]) if os.environ.get(SETTINGS_ENV) else None)
    path = (explicit or DEFAULT_SETTINGS_FILE).expanduser()
    if explicit is not None and not path.is_file():
        raise InvalidInput(f"{path}: (file): no such Chaos Toolkit settings file")
    settings = copy.deepcopy(load_settings(str(path)) or {}) if path.is_file() else {}
    if not isinstance(settings, dict):
        raise InvalidInput(f"{path}: (top level): Chaos Toolkit settings must be a mapping")
    _warn_if_rollbacks_never(settings.get("runtime"), f"the Chaos Toolkit settings {path}")
    return settings


def with_drillkit_rollbacks(settings: dict[str, Any]) -> dict[str, Any]:
    """SETTINGS with the rollback strategy "always", everything else kept."""
    runtime = _mapping(settings.get("runtime"))
    rollbacks = _mapping(runtime.get("rollbacks"))
    return {**settings, "runtime": {**runtime, "rollbacks": {**rollbacks, "strategy": ROLLBACKS}}}


def _mapping(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _warn_if_rollbacks_never(runtime: Any, where: str) -> None:
    strategy = ((runtime or {}).get("rollbacks") or {}).get("strategy") if isinstance(runtime, dict) else None
    if strategy not in (None, ROLLBACKS):
        logger.warning("%s ask for the rollback strategy %r: drillkit always plays rollbacks", where, strategy)


def run_experiment(
    plan: Plan, out_dir: Path, handlers: list[RunEventHandler] | None = None, *,
    experiment: PlannedExperiment | None = None, settings: dict[str, Any] | None = None, run_id: str | None = None,
) -> RunResult:
    """Run EXPERIMENT of the validated PLAN (its only one when None) under the target's lock, and write
    journal.json. Every fault is logged under RUN_ID (a new one when None).

    SETTINGS are Chaos Toolkit settings (default: the user's, see chaos_settings), whose rollback
    strategy is always replaced by "always"."""
    planned = experiment or _only(plan)
    document = planned.document()  # chaoslib writes into the experiment it runs
    _warn_if_rollbacks_never(document.get("runtime"), f"the experiment {planned.path}")
    settings = with_drillkit_rollbacks(chaos_settings() if settings is None else settings)
    out_dir.mkdir(parents=True, exist_ok=True)
    journal_path = out_dir / "journal.json"
    run_id = run_id or new_run_id()
    runner = _PlanRunner({**plan_configuration(plan.target, plan.target_file, run_id), OUT_KEY: str(out_dir)})
    watch = _watch(plan, planned.stop_conditions)
    for handler in [_JournalKeeper(journal_path), _WatchSwitch(watch), _RollbacksPlayOut(), *(handlers or [])]:
        runner.register_event_handler(handler)
    # the target's path also as a variable: an experiment may declare drillkit_target from an unset env var
    variables = {TARGET_KEY: str(plan.target_file.absolute()), **planned.variables}
    with target_lock(plan.target, run_id, target_file=plan.target_file):  # one run per target
        refused = watch.check_before_faults()
        if refused is not None:
            return _refused(plan, planned, journal_path, run_id, refused)
        try:
            journal = runner.run(document, settings=settings, experiment_vars=(variables, {}))
        finally:
            watch.close()
            healed, left_open = _safety_net(plan, run_id)
    result = RunResult(journal, journal_path, healed, left_open, stopped_by=watch.fired)
    if planned.measured and "measurements" not in journal:
        logger.error("the experiment asks for measurements, yet none were taken (see the log above)")
        result.left_open.append("measurement")
    _close_journal(plan, result, run_id)
    return result


def _close_journal(plan: Plan, result: RunResult, run_id: str) -> None:
    result.journal["drillkit"] = {
        "target": plan.target.name, "run_id": run_id, "status": result.status.value,
        "healed_by_safety_net": result.healed_by_safety_net, "left_open": result.left_open,
        "faults": FaultLog(plan.target.fault_log).marks(run_id),  # each fault's T0 interval, even when interrupted
        "stopped_by": None if result.stopped_by is None else result.stopped_by.model_dump(mode="json"),
    }
    durable.write_json(result.journal_path, result.journal)


def _watch(plan: Plan, conditions: tuple[StopCondition, ...]) -> Watch:
    """The watch over CONDITIONS: it interrupts the method as `chaos run` does on SIGUSR1, keeping the rollbacks."""
    return Watch(conditions, Sources(prometheus=plan.target.prometheus), on_fire=lambda firing: exit_gracefully())


def _refused(plan: Plan, planned: PlannedExperiment, journal_path: Path, run_id: str, firing: StopFiring) -> RunResult:
    """A run a stop condition refused before its first fault: nothing ran, nothing was injected."""
    logger.error("%s; the run does not start", firing.describe())
    journal: dict[str, Any] = {"title": planned.as_written.get("title"), "status": RunStatus.ABORTED.value,
                               "run": [], "rollbacks": [], "deviated": False}
    result = RunResult(journal, journal_path, stopped_by=firing)
    _close_journal(plan, result, run_id)
    return result


def _only(plan: Plan) -> PlannedExperiment:
    if len(plan.experiments) != 1:
        raise InvalidInput(f"the plan holds {len(plan.experiments)} experiments: name the one to run")
    return plan.experiments[0]


class _PlanRunner(Runner):
    """chaoslib's runner, with the plan's values (target, run id, run folder) in the configuration that
    every activity and control receives: chaoslib keeps only the keys an experiment declares, so they
    are added once it has loaded those."""

    config: dict[str, Any]

    def __init__(self, values: dict[str, str]) -> None:
        super().__init__(Strategy.DEFAULT)
        self.values = values

    def configure(self, experiment: dict, settings: dict, experiment_vars: Any) -> None:
        super().configure(experiment, settings, experiment_vars)
        self.config = {**(self.config or {}), **self.values}


def _safety_net(plan: Plan, run_id: str) -> tuple[list[str], list[str]]:
    """Heal the faults this run's rollbacks left open (a rollback failed, or was cut short); another
    run's faults are not this run's to heal (`drillkit recover` heals those)."""
    healed, left_open = [], []
    with interrupts.held() as caught:  # a second Ctrl-C or SIGTERM waits until the heals are done
        outcomes = list(recovery.recover(plan.target_file, FaultLog(plan.target.fault_log), run_id, plan.target))
    for outcome in outcomes:
        if outcome.healed:
            logger.warning("safety net healed %s (%s)", outcome.fault.fault, outcome.fault.heal_action)
            healed.append(outcome.fault.fault)
        else:
            logger.error("safety net could not heal %s: %s", outcome.fault.fault, outcome.error)
            left_open.append(outcome.fault.fault)
    if caught:
        raise KeyboardInterrupt  # the signal held during the heals, delivered now
    return healed, left_open


class _WatchSwitch(RunEventHandler):
    """Switches the watch on when the method starts (with the live measurement, when there is one) and
    off when the rollbacks begin: a stop condition interrupts the faults, never their rollbacks."""

    def __init__(self, watch: Watch) -> None:
        self.watch = watch

    def start_method(self, experiment: dict) -> None:
        session = measure.live()
        if session is None:
            self.watch.start()
            return
        keep = max((getattr(c, "window_s", 0.0) for c in self.watch.conditions), default=0.0)
        live = LiveSamples(session.out_dir / "samples.csv", interval=session.settings.interval_s,
                           objectives=session.objectives, origin=session.origin, keep_s=keep,
                           min_coverage=session.settings.min_coverage, lag_s=session.settings.timeout_s + FLUSH_S)
        self.watch.start(Sources(prometheus=self.watch.sources.prometheus, live=live), origin=session.origin)

    def start_rollbacks(self, experiment: dict) -> None:
        try:
            if self.watch.close() is not None:
                time.sleep(SIGNAL_GRACE_S)  # a stop sent as the method ended lands here, not in a rollback
        except SystemExit as exc:
            if self.watch.fired is None or exc.code != GRACEFUL_EXIT:
                raise

    def finish(self, journal: dict) -> None:
        self.watch.close()


class _RollbacksPlayOut(RunEventHandler):
    """A signal during the rollbacks lets them finish (chaoslib would skip the rest), then interrupts
    the run; a second signal cuts them short, and the safety net heals what they left open."""

    def __init__(self) -> None:
        self.patience = interrupts.Patient(say=self._say, interrupt=lambda: InterruptExecution(
            "a second signal during the rollbacks: the rest are skipped, the safety net heals"))

    @staticmethod
    def _say(signal_name: str) -> None:
        logger.warning("%s received: the rollbacks finish first, then the run stops (send it again to cut "
                       "them short)", signal_name)

    def start_rollbacks(self, experiment: dict) -> None:
        self.patience.begin()

    def rollbacks_completed(self, experiment: dict, journal: dict) -> None:
        if self.patience.end():
            journal["status"] = RunStatus.INTERRUPTED.value

    def finish(self, journal: dict) -> None:
        self.patience.end()


class _JournalKeeper(RunEventHandler):
    """Writes the journal after every activity, so a crash loses nothing already observed."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.journal: dict[str, Any] | None = None

    def started(self, experiment: dict, journal: dict) -> None:
        self.journal = journal

    def activity_completed(self, activity: dict, run: dict) -> None:
        if self.journal is not None:
            durable.write_json(self.path, self.journal)

    def finish(self, journal: dict) -> None:
        durable.write_json(self.path, journal)
