"""`drillkit.controls.measure`: measure an experiment from the user's side.

Switch it on in an experiment's `controls` block; it works under `chaos run` and `drillkit run`:

    controls:
      - name: measure
        provider:
          type: python
          module: drillkit.controls.measure
          arguments: {stable_window_s: 10, max_recovery_s: 300}

It starts the probe process (probers and ledger writers, measure/probe_process.py) before the
steady-state hypothesis; takes each fault's T0 interval both from the fault activities' outputs and
from the target's fault log (which keeps it even when a signal lands in an activity's pause); records
when the rollbacks started and ended; measures on until the service has been stable for a whole
window after them (or the recovery limit passes); reconciles the ledger; and writes
measurements.json beside samples.csv and ledger.csv. An interrupted run (signal, crash) still does
all of that, through cleanup_control.

Where: the configuration's `drillkit_out` (`drillkit run` and `drillkit drill` put the run folder
there), else DRILLKIT_OUT (for plain `chaos run`), else reports/<run id>/. The run id is the
configuration's `drillkit_run_id`, else DRILLKIT_RUN_ID; when neither is set (plain `chaos run`), the
control makes one and exports it, so that the fault activities of this process log their faults under it.
The target is the one the configuration carries (faults/environment.py), read from no file under drillkit.

Chaos Toolkit calls controls as module functions, so the one session of the running experiment lives
in this module between calls; it is created in configure_control and dropped once it is finished.
"""

from __future__ import annotations

import functools
import logging
import os
import time
from collections.abc import Callable
from dataclasses import fields
from pathlib import Path
from typing import Any

from chaoslib import substitute
from chaoslib.exceptions import InterruptExecution

from drillkit.faults.environment import RUN_ID_ENV, RUN_ID_KEY, environment, new_run_id
from drillkit.measure.samples import FaultEvent
from drillkit.measure.session import MeasurementSession, MeasureSettings
from drillkit.model import paths
from drillkit.model.objectives import Objectives, load_objectives
from drillkit.model.result import RunStatus

logger = logging.getLogger("drillkit")
OUT_KEY = "drillkit_out"
OUT_ENV = "DRILLKIT_OUT"  # plain `chaos run` only: drillkit hands the folder over in the configuration


class _Run:
    """The measured run: its session, and the faults and rollbacks it has seen."""

    def __init__(self, session: MeasurementSession, run_id: str, fault_log: Path | None) -> None:
        self.session = session
        self.run_id = run_id
        self.fault_log = fault_log
        self.from_outputs: list[tuple[str | None, FaultEvent]] = []  # (fault_id, fault)
        self.interrupted = False


_run: _Run | None = None


def _loud(hook: Callable[..., None]) -> Callable[..., None]:
    """chaoslib logs a failing control at debug level and goes on: say it out loud instead."""

    @functools.wraps(hook)
    def wrapper(*args: Any, **kwargs: Any) -> None:
        try:
            hook(*args, **kwargs)
        except Exception:
            logger.exception("drillkit.controls.measure: %s failed", hook.__name__)
            raise

    return wrapper


@_loud
def configure_control(
    configuration: dict | None = None, secrets: dict | None = None, experiment: dict | None = None,
    objectives: str | None = None, **arguments: Any,
) -> None:
    global _run
    run_id = ensure_run_id(configuration)
    # chaoslib substitutes ${…} in the arguments of every hook but this one
    arguments = substitute(arguments, configuration or {}, secrets or {})
    env = environment(configuration)
    session = MeasurementSession(target=env.target, out_dir=out_dir(configuration, run_id),
                                 settings=_settings(arguments), objectives=_objectives(objectives))
    _run = _Run(session, run_id, Path(env.target.fault_log))


@_loud
def before_experiment_control(context: dict, **arguments: Any) -> None:
    if _run is not None:
        _run.session.start()


@_loud
def after_activity_control(context: dict, state: dict, **arguments: Any) -> None:
    """Take a fault's T0 interval from its activity's output."""
    output = (state or {}).get("output")
    if _run is None or not isinstance(output, dict) or "injected_monotonic" not in output:
        return
    _run.from_outputs.append((output.get("fault_id"), fault_of_output(output, str(context.get("name", "")))))


@_loud
def before_rollback_control(context: dict, **arguments: Any) -> None:
    if _run is not None:
        _run.session.note_rollbacks_started(time.monotonic())


@_loud
def after_rollback_control(context: dict, state: Any = None, **arguments: Any) -> None:
    if _run is not None:
        _run.session.note_rollbacks_ended(time.monotonic())


@_loud
def after_experiment_control(context: dict, state: dict, **arguments: Any) -> None:
    """After the rollbacks: wait for stability, stop, reconcile and store the measurements."""
    global _run
    if _run is None:
        return
    run = _run
    try:
        measurements, interrupted = _finish(
            run, interrupted=isinstance(state, dict) and state.get("status") == RunStatus.INTERRUPTED)
    finally:
        _run = None
    if isinstance(state, dict):
        state["measurements"] = measurements
        if interrupted:  # a signal while measuring after the rollbacks: the run is interrupted, not completed
            state["status"] = RunStatus.INTERRUPTED.value


@_loud
def cleanup_control(**arguments: Any) -> None:
    """A run that ended without after_experiment_control (a signal, a crash) still stops the probe
    process, reconciles the ledger and keeps what it measured."""
    global _run
    if _run is not None:
        run, _run = _run, None
        _finish(run, interrupted=True)


def live() -> MeasurementSession | None:
    """The session measuring the running experiment, if any (for live progress)."""
    return None if _run is None else _run.session


def ensure_run_id(configuration: dict | None) -> str:
    """The run id: configuration, else environment, else a new one exported to this process."""
    run_id = (configuration or {}).get(RUN_ID_KEY) or os.environ.get(RUN_ID_ENV)
    if not run_id:
        run_id = new_run_id()
        os.environ[RUN_ID_ENV] = run_id
    return str(run_id)


def out_dir(configuration: dict | None, run_id: str) -> Path:
    """Never the working directory: a run without a chosen folder gets reports/<run id>/."""
    chosen = (configuration or {}).get(OUT_KEY) or os.environ.get(OUT_ENV)
    return Path(chosen) if chosen else paths.REPORTS / run_id


def fault_of_output(output: dict[str, Any], activity: str) -> FaultEvent:
    # T0 as the activity observed it: never a declared offset (a fault that bites later confirms it by observation)
    confirmed = float(output["injected_monotonic"])
    issued = float(output.get("issued_monotonic", output["injected_monotonic"]))
    return FaultEvent(fault=str(output.get("fault") or activity), activity=activity, issued=issued,
                 confirmed=confirmed)


def merged_faults(from_outputs: list[tuple[str | None, FaultEvent]], marks: list[dict[str, Any]]) -> list[FaultEvent]:
    """The faults of the run: each activity output, plus every fault-log mark no output accounts for
    (a fault whose activity never returned: a signal in its pause, a crash). Ordered by issue time."""
    seen = {fault_id for fault_id, _ in from_outputs if fault_id}
    faults = [fault for _, fault in from_outputs]
    for mark in marks:
        if mark.get("fault_id") in seen or mark.get("issued") is None:
            continue
        confirmed = mark.get("confirmed")
        faults.append(FaultEvent(fault=str(mark.get("fault", "")), activity="", issued=float(mark["issued"]),
                            confirmed=None if confirmed is None else float(confirmed), error=mark.get("error")))
    return sorted(faults, key=lambda f: f.issued)


def _marks(run: _Run) -> list[dict[str, Any]]:
    from drillkit.faultlog import FaultLog

    log = FaultLog(run.fault_log) if run.fault_log else None
    if log is None or not hasattr(log, "marks"):
        return []
    try:
        return list(log.marks(run.run_id))
    except (OSError, ValueError, KeyError) as exc:
        logger.error("the fault log %s could not be read for run %s: %s", run.fault_log, run.run_id, exc)
        return []


def _finish(run: _Run, *, interrupted: bool) -> tuple[dict[str, Any], bool]:
    """Measure on until the service is stable (unless INTERRUPTED), stop, and save the measurements;
    them, and whether the run was interrupted meanwhile. Once saving begins, a signal waits for it."""
    session = run.session
    for fault in merged_faults(run.from_outputs, _marks(run)):
        session.note_fault(fault)
    stopped = "interrupted"
    if not interrupted:
        logger.info("measuring until the service is stable again")
        try:
            stopped = session.wait_for_recovery(settled_after=session.rollbacks_ended or time.monotonic())
        except (KeyboardInterrupt, InterruptExecution):  # chaoslib turns SIGTERM into InterruptExecution
            logger.warning("interrupted while measuring after the rollbacks: what was measured is kept")
            interrupted = True
    measurements, signalled = session.finish(stopped, interrupted=interrupted)
    return measurements, interrupted or signalled


def _settings(arguments: dict[str, Any]) -> MeasureSettings:
    known = {f.name for f in fields(MeasureSettings)}
    unknown = set(arguments) - known
    if unknown:
        raise ValueError(f"drillkit.controls.measure takes no argument {', '.join(sorted(unknown))} "
                         f"(it takes: {', '.join(sorted(known))})")
    casts = {f.name: type(f.default) for f in fields(MeasureSettings)}  # float, int or bool
    return MeasureSettings(**{name: _cast(casts[name], name, value) for name, value in arguments.items()})


def _cast(kind: type, name: str, value: Any) -> Any:
    """A configuration value may arrive as a string ("${window}"); "false" must not read as True."""
    if kind is bool and isinstance(value, str):
        if value.lower() not in ("true", "false", "yes", "no", "1", "0"):
            raise ValueError(f"drillkit.controls.measure: {name} must be true or false, not {value!r}")
        return value.lower() in ("true", "yes", "1")
    return kind(value)


def _objectives(path: str | None) -> Objectives:
    chosen = Path(path) if path else paths.OBJECTIVES
    return load_objectives(chosen) if chosen.exists() else Objectives()
