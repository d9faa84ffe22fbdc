"""Run one experiment through chaoslib against a target, with rollbacks always played and a safety
net behind them: whatever the run leaves open in the fault log is healed before it returns.

Any Chaos Toolkit experiment runs as `chaos run` would run it, with the user's Chaos Toolkit settings
(CHAOSTOOLKIT_SETTINGS, else ~/.chaostoolkit/settings.yaml), except that rollbacks are always played."""

from __future__ import annotations

import contextlib
import copy
import logging
import os
import signal
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from chaoslib.run import RunEventHandler, Runner
from chaoslib.types import Strategy

from drillkit import durable
from drillkit.controls.measure import OUT_ENV
from drillkit.errors import EXIT_ABORTED, EXIT_BREACHED, EXIT_PASS, InvalidInput
from drillkit.faultlog import FaultLog
from drillkit.faults import recovery
from drillkit.faults.environment import RUN_ID_ENV, RUN_ID_KEY, TARGET_ENV, TARGET_KEY, new_run_id
from drillkit.lock import target_lock
from drillkit.model.files import read_mapping
from drillkit.model.target import Target, load_target
from drillkit.validation import load_experiment

logger = logging.getLogger("drillkit")
SETTINGS_ENV = "CHAOSTOOLKIT_SETTINGS"
DEFAULT_SETTINGS_FILE = Path("~/.chaostoolkit/settings.yaml")
ROLLBACKS = "always"  # drillkit's one departure from `chaos run`: a fault is never left in place
MEASURE_MODULE = "drillkit.controls.measure"
MEASURE_CONTROL = {"name": "measure", "provider": {"type": "python", "module": MEASURE_MODULE}}


@dataclass
class RunResult:
    journal: dict[str, Any]
    journal_path: Path
    healed_by_safety_net: list[str] = field(default_factory=list)
    left_open: list[str] = field(default_factory=list)

    @property
    def status(self) -> str:
        if self.journal.get("status") in ("interrupted", "aborted"):
            return self.journal["status"]
        if self.left_open or self.healed_by_safety_net or _failed(self.journal.get("rollbacks", [])):
            return "rollback failed"
        if self.journal.get("deviated"):
            return "deviated"
        if _failed(self.journal.get("run", [])):
            return "activity failed"
        return self.journal.get("status", "unknown")

    @property
    def exit_code(self) -> int:
        if self.status in ("interrupted", "aborted", "rollback failed"):
            return EXIT_ABORTED
        return EXIT_PASS if self.status == "completed" else EXIT_BREACHED


def _failed(runs: list[dict[str, Any]]) -> list[str]:
    return [run["activity"]["name"] for run in runs if run.get("status") != "succeeded"]


def prepare(
    experiment_file: Path, target_file: Path, variables: dict[str, Any] | None = None, measure: bool = False,
) -> tuple[Target, dict[str, Any]]:
    """The target and the experiment as it will run (with the measure control when MEASURE), after
    every check of both files, the variables substituted; raises InvalidInput before anything runs."""
    target = load_target(target_file)
    _check_variables(experiment_file, read_mapping(experiment_file), variables or {})
    experiment = load_experiment(experiment_file, target, variables)
    return target, with_measurement(experiment) if measure else experiment


def plan(experiment: dict[str, Any]) -> list[str]:
    """The dry run of one experiment: each activity in order, what it calls, and the rollbacks."""
    hypothesis = experiment.get("steady-state-hypothesis") or {}
    sections = [("steady state", hypothesis.get("probes") or []), ("method", experiment.get("method") or []),
                ("rollbacks (always played)", experiment.get("rollbacks") or [])]
    lines = [f"experiment {experiment.get('title')!r}"]
    for title, activities in sections:
        lines.append(f"  {title}: {'none' if not activities else ''}".rstrip())
        lines += [f"    {_describe(activity)}" for activity in activities]
    controls = [c.get("name", "?") for c in experiment.get("controls", [])]
    lines.append(f"  controls: {', '.join(controls) or 'none'}")
    return lines


def _describe(activity: dict[str, Any]) -> str:
    if "ref" in activity:
        return f"(ref) {activity['ref']}"
    provider = activity.get("provider") or {}
    calls = {"python": lambda: f"{provider.get('module')}.{provider.get('func')}",
             "http": lambda: f"{provider.get('method', 'GET')} {provider.get('url')}",
             "process": lambda: f"run {provider.get('path')}"}.get(provider.get("type"), lambda: "?")()
    pauses = activity.get("pauses") or {}
    waits = "".join(f", pause {when} {pauses[when]} s" for when in ("before", "after") if when in pauses)
    return f"{activity.get('type')} {activity.get('name')}: {calls}{waits}"


def with_measurement(experiment: dict[str, Any]) -> dict[str, Any]:
    """The experiment with drillkit's measure control added (the file is left as it is)."""
    if _declares_measurement(experiment):
        return experiment
    experiment = copy.deepcopy(experiment)
    experiment["controls"] = [*experiment.get("controls", []), copy.deepcopy(MEASURE_CONTROL)]
    return experiment


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
    runtime = settings.get("runtime") if isinstance(settings.get("runtime"), dict) else {}
    rollbacks = runtime.get("rollbacks") if isinstance(runtime.get("rollbacks"), dict) else {}
    return {**settings, "runtime": {**runtime, "rollbacks": {**rollbacks, "strategy": ROLLBACKS}}}


def _warn_if_rollbacks_never(runtime: Any, where: str) -> None:
    strategy = ((runtime or {}).get("rollbacks") or {}).get("strategy") if isinstance(runtime, dict) else None
    if strategy not in (None, ROLLBACKS):
        logger.warning("%s ask for the rollback strategy %r: drillkit always plays rollbacks", where, strategy)


def run_experiment(
    experiment_file: Path, target_file: Path, out_dir: Path, variables: dict[str, Any] | None = None,
    handlers: list[RunEventHandler] | None = None, *, measure: bool = False,
    settings: dict[str, Any] | None = None, run_id: str | None = None,
) -> RunResult:
    """Validate both files (nothing runs when either is invalid), take the target's lock, run, and
    write journal.json. Every fault is logged under RUN_ID (a new one when None).

    MEASURE adds drillkit's measure control; SETTINGS are Chaos Toolkit settings (default: the user's,
    see chaos_settings), whose rollback strategy is always replaced by "always"."""
    target, experiment = prepare(experiment_file, target_file, variables, measure)
    _warn_if_rollbacks_never(experiment.get("runtime"), f"the experiment {experiment_file}")
    settings = with_drillkit_rollbacks(chaos_settings() if settings is None else settings)
    out_dir.mkdir(parents=True, exist_ok=True)
    journal_path = out_dir / "journal.json"
    run_id = run_id or new_run_id()
    config_vars = {TARGET_KEY: str(target_file.absolute()), RUN_ID_KEY: run_id, **(variables or {})}
    runner = Runner(Strategy.DEFAULT)
    runner.register_event_handler(_JournalKeeper(journal_path))
    for handler in handlers or []:
        runner.register_event_handler(handler)
    # OUT: where the measure control writes, under chaos and drillkit alike; the run id and the target:
    # chaoslib drops configuration values an experiment does not declare, so activities read them here
    run_env = {OUT_ENV: str(out_dir), RUN_ID_ENV: run_id, TARGET_ENV: config_vars[TARGET_KEY]}
    with target_lock(target, run_id, target_file=target_file), _environment(run_env):  # one run per target
        try:
            journal = runner.run(experiment, settings=settings, experiment_vars=(config_vars, {}))
        finally:
            healed, left_open = _safety_net(target, target_file, run_id)
    result = RunResult(journal, journal_path, healed, left_open)
    if _declares_measurement(experiment) and "measurements" not in journal:
        logger.error("the experiment asks for measurements, yet none were taken (see the log above)")
        result.left_open.append("measurement")
    journal["drillkit"] = {
        "target": target.name, "run_id": run_id, "status": result.status,
        "healed_by_safety_net": healed, "left_open": left_open,
        "faults": FaultLog(target.fault_log).marks(run_id),  # each fault's T0 interval, even when interrupted
    }
    durable.write_json(journal_path, journal)
    return result


def _check_variables(path: Path, experiment: dict[str, Any], variables: dict[str, Any]) -> None:
    declared = experiment.get("configuration", {})
    unknown = sorted(set(variables) - set(declared))
    if unknown:
        raise InvalidInput(f"{path}: configuration: no key {', '.join(unknown)} to override "
                           f"(it has: {', '.join(declared)})")


@contextlib.contextmanager
def _environment(values: dict[str, str]) -> Iterator[None]:
    """Set VALUES in the process environment for the run, and put back what was there."""
    previous = {name: os.environ.get(name) for name in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for name, value in previous.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def _declares_measurement(experiment: dict[str, Any]) -> bool:
    return any(c.get("provider", {}).get("module") == MEASURE_MODULE for c in experiment.get("controls", []))


def _safety_net(target: Target, target_file: Path, run_id: str) -> tuple[list[str], list[str]]:
    """Heal the faults this run's rollbacks left open (a rollback failed, or was cut short); another
    run's faults are not this run's to heal (`drillkit recover` heals those)."""
    healed, left_open = [], []
    blocked = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT, signal.SIGTERM})
    try:  # a second Ctrl-C or SIGTERM waits until the heals are done; it is delivered right after
        outcomes = list(recovery.recover(target_file, FaultLog(target.fault_log), run_id))
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, blocked)
    for outcome in outcomes:
        if outcome.healed:
            logger.warning("safety net healed %s (%s)", outcome.fault.fault, outcome.fault.heal_action)
            healed.append(outcome.fault.fault)
        else:
            logger.error("safety net could not heal %s: %s", outcome.fault.fault, outcome.error)
            left_open.append(outcome.fault.fault)
    return healed, left_open


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
