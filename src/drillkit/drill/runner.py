"""Run one experiment through chaoslib against a target, with rollbacks always played and a safety
net behind them: whatever the run leaves open in the fault log is healed before it returns."""

from __future__ import annotations

import contextlib
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
from drillkit.faults import recovery
from drillkit.faults.environment import RUN_ID_ENV, RUN_ID_KEY, TARGET_ENV, TARGET_KEY, new_run_id
from drillkit.faults.log import FaultLog
from drillkit.lock import target_lock
from drillkit.model.target import Target, load_target
from drillkit.validation import load_experiment

logger = logging.getLogger("drillkit")
SETTINGS = {"runtime": {"rollbacks": {"strategy": "always"}}}


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


def run_experiment(
    experiment_file: Path, target_file: Path, out_dir: Path, variables: dict[str, Any] | None = None,
    handlers: list[RunEventHandler] | None = None, *, run_id: str | None = None,
) -> RunResult:
    """Validate both files (nothing runs when either is invalid), take the target's lock, run, and
    write journal.json. Every fault is logged under RUN_ID (a new one when None)."""
    target = load_target(target_file)
    experiment = load_experiment(experiment_file, target)
    out_dir.mkdir(parents=True, exist_ok=True)
    journal_path = out_dir / "journal.json"
    _check_variables(experiment_file, experiment, variables or {})
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
            journal = runner.run(experiment, settings=SETTINGS, experiment_vars=(config_vars, {}))
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
    return any(c.get("provider", {}).get("module") == "drillkit.controls.measure"
               for c in experiment.get("controls", []))


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
