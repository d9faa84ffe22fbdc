"""`drillkit validate`: check experiments and targets before anything runs.

Every problem is one `file: field: reason` line. An experiment is checked three ways: its shape
(pydantic), its drillkit activities (module, function in `__all__`, arguments that bind to the
signature, regions and members the target knows), and chaoslib's own validation. The drillkit checks
run twice: on the file as written, and after its configuration variables are substituted (the run's
`--var` overrides included), so a `${region}` is checked like a literal region. A target is checked
for a driver this version ships and for components that exist.
"""

from __future__ import annotations

import importlib
import inspect
from collections.abc import Callable
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError

from drillkit.errors import InvalidInput
from drillkit.model.drill import Drill
from drillkit.model.experiment import Activity, Experiment, PythonProvider
from drillkit.model.files import describe_errors, read_mapping
from drillkit.model.profile import LoadProfile
from drillkit.model.target import SHIPPED_DRIVERS, ProcessDriver, Target

INJECTED = {"configuration", "secrets"}
MEMBER_ARGUMENTS = ("replica", "candidate")  # drillkit arguments that name a database member


def validate_files(paths: list[Path], target: Target | None = None) -> list[str]:
    """Every problem found in PATHS, as `file: field: reason` lines; [] when all are valid."""
    problems: list[str] = []
    for path in paths:
        problems += _problems_of(path, target)
    return problems


def load_experiment(
    path: Path, target: Target | None = None, variables: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The experiment as chaoslib wants it (as written), after every check passed."""
    data = read_mapping(path)
    problems = check_experiment(path, data, target, variables)
    if problems:
        raise InvalidInput("\n".join(problems))
    return data


def _problems_of(path: Path, target: Target | None) -> list[str]:
    try:
        data = read_mapping(path)
    except InvalidInput as exc:
        return str(exc).splitlines()
    check = _checker_for(data)
    if check is None:
        return [f"{path}: (top level): not an experiment (method), a target (driver, regions), "
                "a load profile (stages) or a drill (experiments)"]
    return check(path, data, target)


def _checker_for(data: dict[str, Any]) -> Callable | None:
    if "method" in data or "steady-state-hypothesis" in data:
        return check_experiment
    if "driver" in data and "regions" in data:
        return check_target
    if "stages" in data:
        return _model_checker(LoadProfile)
    if "experiments" in data:
        return _model_checker(Drill)
    return None


def _model_checker(model: type[BaseModel]) -> Callable:
    def check(path: Path, data: dict[str, Any], target: Target | None = None) -> list[str]:
        try:
            model.model_validate(data)
        except ValidationError as exc:
            return describe_errors(path, exc).splitlines()
        return []

    return check


def check_target(path: Path, data: dict[str, Any], target: Target | None = None) -> list[str]:
    try:
        checked = Target.model_validate(data)
    except ValidationError as exc:
        return describe_errors(path, exc).splitlines()
    return [f"{path}: {problem}" for problem in target_problems(checked)]


def target_problems(target: Target) -> list[str]:
    """`field: reason` for a driver this version does not ship, or a component the environment lacks."""
    if target.driver.type not in SHIPPED_DRIVERS:
        return [f"driver.type: the {target.driver.type} driver is not shipped in this drillkit version "
                f"(shipped: {', '.join(SHIPPED_DRIVERS)}): nothing can be injected into this target"]
    if isinstance(target.driver, ProcessDriver):
        return _sandbox_component_problems(target, target.driver)
    return []


def _sandbox_component_problems(target: Target, driver: ProcessDriver) -> list[str]:
    from drillkit.model.sandbox import load_config
    from drillkit.sandbox.topology import parts

    try:
        known = [part.name for part in parts(load_config(driver.state_dir))]
    except InvalidInput as exc:
        return [f"driver.state_dir: the sandbox settings there are invalid: {exc}"]
    return [f"{field}: the sandbox has no part named {name!r} (it has: {', '.join(known)})"
            for field, name in target.components().items() if name not in known]


def check_experiment(
    path: Path, data: dict[str, Any], target: Target | None = None, variables: dict[str, Any] | None = None,
) -> list[str]:
    problems = _drillkit_problems(path, data, target)
    if problems:
        return problems
    substituted, problems = _substituted(path, data, variables or {})
    if problems:
        return problems
    return _drillkit_problems(path, substituted, target, after_substitution=True) or _chaoslib_problems(path, data)


def _drillkit_problems(
    path: Path, data: dict[str, Any], target: Target | None, after_substitution: bool = False,
) -> list[str]:
    try:
        experiment = Experiment.model_validate(data)
    except ValidationError as exc:
        note = " (after substituting the configuration)" if after_substitution else ""
        return [line + note for line in describe_errors(path, exc).splitlines()]
    problems = [
        f"{path}: {where}.provider.{problem}"
        for where, activity in experiment.activities()
        for problem in _activity_problems(activity, target)
    ]
    if after_substitution:
        problems += [f"{path}: {where}.pauses.{when}: {value!r} names no configuration key"
                     for where, when, value in _unresolved_pauses(experiment)]
    return problems


def _substituted(
    path: Path, data: dict[str, Any], variables: dict[str, Any],
) -> tuple[dict[str, Any], list[str]]:
    """The experiment with `${...}` replaced by its configuration (overridden by VARIABLES)."""
    from chaoslib import substitute
    from chaoslib.configuration import load_configuration
    from chaoslib.exceptions import ChaosException

    try:
        configuration = load_configuration(data.get("configuration") or {}, dict(variables))
    except ChaosException as exc:
        return data, [f"{path}: configuration: {exc}"]
    body = {key: value for key, value in data.items() if key not in ("configuration", "secrets")}
    return {**data, **substitute(body, configuration, {})}, []


def _unresolved_pauses(experiment: Experiment) -> list[tuple[str, str, str]]:
    return [
        (where, when, value)
        for where, activity in experiment.activities() if activity.pauses is not None
        for when, value in (("before", activity.pauses.before), ("after", activity.pauses.after))
        if isinstance(value, str)
    ]


def _activity_problems(activity: Activity, target: Target | None) -> list[str]:
    provider = activity.provider
    if not isinstance(provider, PythonProvider) or not provider.module.startswith("drillkit."):
        return []
    try:
        module = importlib.import_module(provider.module)
    except ImportError as exc:
        return [f"module: cannot import {provider.module!r}: {exc}"]
    if provider.func not in getattr(module, "__all__", ()):
        offered = ", ".join(getattr(module, "__all__", ()))
        return [f"func: {provider.module} has no activity {provider.func!r} (it has: {offered})"]
    func = getattr(module, provider.func)
    return (_argument_problems(func, provider.arguments) + _region_problems(provider.arguments, target)
            + _member_problems(provider.arguments, target))


def _argument_problems(func: Callable, arguments: dict[str, Any]) -> list[str]:
    parameters = inspect.signature(func).parameters
    unknown = [f"arguments.{name}: {func.__name__}() takes no argument {name!r}"
               for name in arguments if name not in parameters or name in INJECTED]
    missing = [f"arguments: {func.__name__}() needs the argument {name!r}"
               for name, parameter in parameters.items()
               if parameter.default is inspect.Parameter.empty and name not in arguments]
    return unknown + missing


def _region_problems(arguments: dict[str, Any], target: Target | None) -> list[str]:
    region = arguments.get("region")
    if target is None or not isinstance(region, str) or _is_variable(region):
        return []  # a variable is checked once it is substituted
    if region in target.regions:
        return []
    return [f"arguments.region: target {target.name!r} has no region {region!r} "
            f"(it has: {', '.join(target.regions)})"]


def _member_problems(arguments: dict[str, Any], target: Target | None) -> list[str]:
    if target is None:
        return []
    members = target.members()
    return [f"arguments.{name}: target {target.name!r} has no database member {arguments[name]!r} "
            f"(it has: {', '.join(members)})"
            for name in MEMBER_ARGUMENTS
            if isinstance(arguments.get(name), str) and not _is_variable(arguments[name])
            and arguments[name] not in members]


def _is_variable(value: str) -> bool:
    return value.startswith("${")


def _chaoslib_problems(path: Path, data: dict[str, Any]) -> list[str]:
    from chaoslib.exceptions import ChaosException
    from chaoslib.experiment import ensure_experiment_is_valid

    try:
        ensure_experiment_is_valid(data)
    except ChaosException as exc:
        return [f"{path}: (experiment): {exc}"]
    return []
