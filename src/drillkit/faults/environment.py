"""What every activity starts from: the run's target, its driver, its fault log and the run id, all
from the experiment's configuration; and the two moves every fault makes: inject (logged first) and heal.

Under `drillkit run` and `drillkit drill` the runner puts the plan's validated target into the
configuration (`drillkit_target_spec`), so no activity reads the target file again; under plain
`chaos run` the file named by `drillkit_target` (or DRILLKIT_TARGET) is read instead."""

from __future__ import annotations

import functools
import os
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from chaoslib.exceptions import ActivityFailed
from pydantic import ValidationError

from drillkit import clock
from drillkit.errors import DrillkitError
from drillkit.faultlog import FaultLog
from drillkit.faults.boundary import guarded, translated
from drillkit.faults.drivers.base import Driver
from drillkit.faults.heal_actions import HealAction, heal_action_of
from drillkit.model import paths
from drillkit.model.target import (
    DockerDriver,
    KubernetesDriver,
    ProcessDriver,
    Target,
    load_target,
    target_from_json,
)

TARGET_KEY = "drillkit_target"
TARGET_SPEC_KEY = "drillkit_target_spec"  # the validated target as JSON, handed over by the runner
TARGET_ENV = "DRILLKIT_TARGET"
RUN_ID_KEY = "drillkit_run_id"
RUN_ID_ENV = "DRILLKIT_RUN_ID"
# Names in a fault's details that must resolve in the target before the fault is logged.
_REGION_FIELDS = ("region",)
_COMPONENT_FIELDS = ("component", "replica")  # a leader's name comes from the live cluster


@dataclass
class Environment:
    target: Target
    faults: FaultLog
    run_id: str = ""
    configuration: dict[str, Any] | None = None

    @functools.cached_property
    def driver(self) -> Driver:
        """Built on first use: probes that only read the target need no driver."""
        return driver_for(self.target)


def environment(configuration: dict[str, Any] | None) -> Environment:
    """The run's target: the configuration's validated target when the runner handed it over, else the
    file named by the `drillkit_target` configuration key (or DRILLKIT_TARGET)."""
    configuration = configuration or {}
    try:
        target = _target_of(configuration)
    except (DrillkitError, ValidationError) as exc:
        raise ActivityFailed(f"cannot load the target: {exc}") from exc
    return Environment(target, FaultLog(target.fault_log), run_id(configuration), configuration)


def _target_of(configuration: dict[str, Any]) -> Target:
    path = Path(configuration.get(TARGET_KEY) or os.environ.get(TARGET_ENV) or paths.TARGET)
    spec = configuration.get(TARGET_SPEC_KEY)
    if spec:
        return target_from_json(spec, path)  # validated once more, from memory: no file is read
    return load_target(path)


def plan_configuration(target: Target, target_file: Path, run_id: str) -> dict[str, str]:
    """The configuration keys that carry a run's target and run id to its activities and controls."""
    return {TARGET_KEY: str(target_file.absolute()), TARGET_SPEC_KEY: target.model_dump_json(), RUN_ID_KEY: run_id}


def new_run_id() -> str:
    """A run id that sorts by start time and names the process: 20261126T063500Z-1234-1a2b3c."""
    return f"{time.strftime('%Y%m%dT%H%M%SZ', time.gmtime())}-{os.getpid()}-{uuid.uuid4().hex[:6]}"


def run_id(configuration: dict[str, Any] | None) -> str:
    """The run id every fault is logged under: the `drillkit_run_id` configuration key, else
    DRILLKIT_RUN_ID, else one id for this whole process (plain `chaos run` sets neither)."""
    return str((configuration or {}).get(RUN_ID_KEY) or os.environ.get(RUN_ID_ENV) or _process_run_id())


@functools.cache
def _process_run_id() -> str:
    return new_run_id()


def driver_for(target: Target) -> Driver:
    match target.driver:
        case ProcessDriver(state_dir=state_dir):
            from drillkit.faults.drivers.process import ProcessControl

            return guarded(lambda: ProcessControl(state_dir))
        case DockerDriver():
            from drillkit.faults.drivers.docker import DockerControl

            return guarded(lambda: DockerControl(target))
        case KubernetesDriver():
            from drillkit.faults.drivers.kubernetes import KubernetesControl

            return guarded(lambda: KubernetesControl(target))
    raise ActivityFailed(f"unknown driver {target.driver!r}")


Rollback = tuple[Callable[..., Any], dict[str, Any]]  # a heal activity and the arguments it is called with


def inject(
    env: Environment, fault: str, heal: Rollback | None, action: Callable[[], Any], **details: Any,
) -> dict[str, Any]:
    """Log the fault (fsynced), carry it out, confirm it in the log, and return its T0 interval:
    issued_monotonic (just before the action) and injected_monotonic (once it returned).

    HEAL is the rollback activity that repairs it and its arguments, logged under the activity's name
    (None: nothing to repair, nothing logged). Names in DETAILS that the target does not have fail the
    activity before anything is logged. When the action fails, its heal is played once: if that
    succeeds the fault is closed as not injected, otherwise it stays open for the rollbacks or
    `drillkit recover`; the failure propagates either way."""
    _resolve(env, details)
    _guard(env, fault)
    fault_id = None
    issued = clock.now()
    if heal is not None:
        healer, heal_args = heal
        heal_action = guarded(lambda: heal_action_of(healer))
        fault_id = env.faults.opened(fault, heal_action, heal_args, env.run_id, issued.monotonic, **details)
        issued = clock.now()  # the fsync took time: the action is issued now
    try:
        result = guarded(action)
    except ActivityFailed as exc:
        if heal is not None and fault_id is not None:
            _close_failed(env, fault_id, heal, str(exc))
        raise
    confirmed = clock.now()
    if fault_id is not None:
        env.faults.confirmed(fault_id, env.run_id, confirmed.monotonic)
    output = {
        "fault": fault, "fault_id": fault_id, "run_id": env.run_id,
        "issued_monotonic": issued.monotonic, "injected_at": confirmed.utc.isoformat(),
        "injected_monotonic": confirmed.monotonic, **details,
    }
    if isinstance(result, dict):
        output.update(result)
    return output


def _guard(env: Environment, fault: str) -> None:
    """Defence in depth behind the CLI's guard: a production target takes only the faults it allows, and
    only from a drillkit run (which demanded --confirm-target), never from a plain `chaos run` by a slip."""
    target = env.target
    if target.kind != "production":
        return
    if not (env.configuration or {}).get(TARGET_SPEC_KEY):
        raise ActivityFailed(f"target {target.name!r} is production: run it with `drillkit run --confirm-target "
                             f"{target.name}`, not a plain `chaos run` (nothing was injected)")
    if fault not in target.allowed_faults:
        raise ActivityFailed(f"the fault {fault!r} is not allowed on {target.name!r} (allowed: "
                             f"{', '.join(target.allowed_faults) or 'none'}); nothing was injected")


def _close_failed(env: Environment, fault_id: str, heal: Rollback, error: str) -> None:
    """The action failed: make sure nothing of the fault is in place (play its heal once), then close
    it as not injected; when the heal fails too, leave it open and say why."""
    healer, heal_args = heal
    env.faults.failed(fault_id, env.run_id, error)
    try:
        guarded(lambda: healer(**heal_args, configuration=env.configuration))
    except ActivityFailed as heal_error:
        raise ActivityFailed(f"{error}; checking that nothing of it is in place failed too "
                             f"({heal_error}): run `drillkit recover --run {env.run_id}`") from heal_error
    env.faults.not_injected(fault_id, env.run_id, error)


def _resolve(env: Environment, details: dict[str, Any]) -> None:
    """Every region and component a fault names must exist in the target, and the driver that acts on
    them must be at hand (a sandbox that is up, a supported driver), checked before logging: a fault
    logged that cannot be acted on could never be healed."""
    if any(name in details for name in (*_REGION_FIELDS, *_COMPONENT_FIELDS, "member")):
        env.driver  # noqa: B018 - a fault on a component acts through the driver: it must exist first
    with translated():  # the target names itself, its file and what it has
        for name in _REGION_FIELDS:
            if name in details:
                env.target.region(details[name])
        for name in _COMPONENT_FIELDS:
            if details.get(name) is not None:
                env.target.component(details[name])


def heal(env: Environment, heal_action: HealAction, heal_args: dict[str, Any], action: Callable[[], Any]) -> dict:
    """Carry out a rollback and mark healed the faults it repairs."""
    result = guarded(action)
    healed = env.faults.healed(heal_action, heal_args)
    output = {"healed": healed, "healed_at": clock.now().utc.isoformat(), "action": heal_action}
    if isinstance(result, dict):
        output.update(result)
    return output


def restart_region(configuration: dict[str, Any] | None, heal_action: HealAction, region: str) -> dict:
    """The rollback of a kill in REGION: start every component that does not run and wait until the
    environment is healthy (what is killed in a region, a restart brings back, whatever it was)."""
    env = environment(configuration)
    env.target.region(region)
    return heal(env, heal_action, {"region": region}, env.driver.restore)
