"""What every activity starts from: the target named in the experiment's configuration, its driver,
and its fault log; and the two moves every fault makes: inject (logged first) and heal."""

from __future__ import annotations

import functools
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import psycopg
from chaoslib.exceptions import ActivityFailed

from drillkit.errors import DrillkitError
from drillkit.faults.drivers.base import Driver
from drillkit.faults.log import FaultLog
from drillkit.measure import clock
from drillkit.model.target import DockerDriver, KubernetesDriver, ProcessDriver, Target, load_target

TARGET_KEY = "drillkit_target"
TARGET_ENV = "DRILLKIT_TARGET"
DEFAULT_TARGET = Path("drills/targets/sandbox.yaml")


@dataclass
class Environment:
    target: Target
    faults: FaultLog

    @functools.cached_property
    def driver(self) -> Driver:
        """Built on first use: probes that only read the target need no driver."""
        return driver_for(self.target)


def environment(configuration: dict[str, Any] | None) -> Environment:
    """The target named by the `drillkit_target` configuration key (or DRILLKIT_TARGET)."""
    path = Path((configuration or {}).get(TARGET_KEY) or os.environ.get(TARGET_ENV) or DEFAULT_TARGET)
    try:
        target = load_target(path)
    except DrillkitError as exc:
        raise ActivityFailed(f"cannot load the target: {exc}") from exc
    return Environment(target, FaultLog(target.fault_log))


def driver_for(target: Target) -> Driver:
    match target.driver:
        case ProcessDriver(state_dir=state_dir):
            from drillkit.faults.drivers.process import ProcessControl

            return _guarded(lambda: ProcessControl(state_dir))
        case DockerDriver() | KubernetesDriver():
            raise ActivityFailed(
                f"target {target.name!r} uses the {target.driver.type} driver, which this drillkit "
                "version does not ship yet: only the process driver (the embedded sandbox) runs faults"
            )
    raise ActivityFailed(f"unknown driver {target.driver!r}")


def inject(
    env: Environment, fault: str, heal: tuple[str, dict[str, Any]] | None, action: Callable[[], Any],
    **details: Any,
) -> dict[str, Any]:
    """Log the fault (fsynced), carry it out, and return its confirmed injection time.

    HEAL names the rollback that repairs it (None: nothing to repair, nothing logged). A failed
    injection stays open in the log: its rollback, or `drillkit recover`, heals it."""
    if heal is not None:
        heal_action, heal_args = heal
        env.faults.opened(fault, heal_action, heal_args, **details)
    result = _guarded(action)
    confirmed = clock.now()
    output = {
        "fault": fault, "injected_at": confirmed.utc.isoformat(),
        "injected_monotonic": confirmed.monotonic, **details,
    }
    if isinstance(result, dict):
        output.update(result)
    return output


def heal(env: Environment, heal_action: str, heal_args: dict[str, Any], action: Callable[[], Any]) -> dict:
    """Carry out a rollback and mark healed the faults it repairs."""
    result = _guarded(action)
    healed = env.faults.healed(heal_action, heal_args)
    output = {"healed": healed, "healed_at": clock.now().utc.isoformat(), "action": heal_action}
    if isinstance(result, dict):
        output.update(result)
    return output


def _guarded(action: Callable[[], Any]) -> Any:
    """Translate drillkit's and the libraries' errors into Chaos Toolkit's, at the boundary."""
    try:
        return action()
    except (DrillkitError, httpx.HTTPError, psycopg.Error, OSError) as exc:
        raise ActivityFailed(f"{type(exc).__name__}: {exc}") from exc
