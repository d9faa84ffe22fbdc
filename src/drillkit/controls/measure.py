"""`drillkit.controls.measure`: measure an experiment from the user's side.

Switch it on in an experiment's `controls` block; it works under `chaos run` and `drillkit run`:

    controls:
      - name: measure
        provider:
          type: python
          module: drillkit.controls.measure
          arguments: {stable_window_s: 10, max_recovery_s: 300}

It starts the probers and ledger writers before the steady-state hypothesis, takes T0 from each fault
activity's output, keeps measuring through the rollbacks until the service has been stable for a
whole window (or the maximum recovery wait has passed), reconciles the ledger, and writes
measurements.json (and samples.csv, ledger.csv) into the configuration's `drillkit_out` directory
(DRILLKIT_OUT, else the current directory). The journal gets the same measurements.

Chaos Toolkit calls controls as module functions, so the one session of the running experiment lives
in this module between calls; it is created in configure_control and dropped in cleanup_control.
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

from drillkit import durable
from drillkit.faults.environment import environment
from drillkit.measure.session import MeasurementSession, MeasureSettings
from drillkit.model.objectives import Objectives, load_objectives

logger = logging.getLogger("drillkit")
OUT_KEY = "drillkit_out"
OUT_ENV = "DRILLKIT_OUT"
DEFAULT_OBJECTIVES = Path("probes/objectives.yaml")

_session: MeasurementSession | None = None


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
    global _session
    out_dir = Path((configuration or {}).get(OUT_KEY) or os.environ.get(OUT_ENV) or ".")
    # chaoslib substitutes ${…} in the arguments of every hook but this one
    arguments = substitute(arguments, configuration or {}, secrets or {})
    _session = MeasurementSession(
        target=environment(configuration).target, out_dir=out_dir,
        settings=_settings(arguments), objectives=_objectives(objectives),
    )


@_loud
def before_experiment_control(context: dict, **arguments: Any) -> None:
    if _session is not None:
        _session.start()


@_loud
def after_activity_control(context: dict, state: dict, **arguments: Any) -> None:
    """Take T0 from a fault activity's confirmed injection time."""
    output = (state or {}).get("output")
    if _session is None or not isinstance(output, dict) or "injected_monotonic" not in output:
        return
    at = float(output["injected_monotonic"]) + float(output.get("effective_after_s", 0))
    _session.note_fault(str(output.get("fault", context.get("name"))), at)


@_loud
def after_experiment_control(context: dict, state: dict, **arguments: Any) -> None:
    """After the rollbacks: wait for stability, stop, reconcile and store the measurements."""
    global _session
    if _session is None:
        return
    session, _session = _session, None
    logger.info("measuring until the service is stable again")
    session.wait_for_recovery(settled_after=time.monotonic())
    measurements = _finish(session)
    if isinstance(state, dict):
        state["measurements"] = measurements


@_loud
def cleanup_control(**arguments: Any) -> None:
    """A run that ended without after_experiment_control still keeps what it measured."""
    global _session
    if _session is not None:
        session, _session = _session, None
        _finish(session)


def live() -> MeasurementSession | None:
    """The session measuring the running experiment, if any (for live progress)."""
    return _session


def _finish(session: MeasurementSession) -> dict[str, Any]:
    session.stop()
    measurements = session.summary()
    path = session.out_dir / "measurements.json"
    durable.write_json(path, measurements)
    rto = measurements.get("rto") or {}
    rpo = measurements.get("rpo") or {}
    logger.info("measured RTO %s s [%s, %s], lost writes %s; %s", rto.get("seconds"), rto.get("lower"),
                rto.get("upper"), rpo.get("lost_writes"), path)
    return measurements


def _settings(arguments: dict[str, Any]) -> MeasureSettings:
    known = {f.name for f in fields(MeasureSettings)}
    unknown = set(arguments) - known
    if unknown:
        raise ValueError(f"drillkit.controls.measure takes no argument {', '.join(sorted(unknown))} "
                         f"(it takes: {', '.join(sorted(known))})")
    casts = {f.name: type(f.default) for f in fields(MeasureSettings)}  # float, int or bool
    return MeasureSettings(**{name: casts[name](value) for name, value in arguments.items()})


def _objectives(path: str | None) -> Objectives:
    chosen = Path(path) if path else DEFAULT_OBJECTIVES
    return load_objectives(chosen) if chosen.exists() else Objectives()
