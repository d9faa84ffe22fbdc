"""`drillkit validate`: check experiments and targets before anything runs.

Every problem is one `file: field: reason` line. An experiment is checked three ways: its shape
(pydantic), its drillkit activities (module, function in `__all__`, arguments that bind to the
signature, regions the target knows), and chaoslib's own validation.
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
from drillkit.model.target import Target

INJECTED = {"configuration", "secrets"}


def validate_files(paths: list[Path], target: Target | None = None) -> list[str]:
    """Every problem found in PATHS, as `file: field: reason` lines; [] when all are valid."""
    problems: list[str] = []
    for path in paths:
        problems += _problems_of(path, target)
    return problems


def load_experiment(path: Path, target: Target | None = None) -> dict[str, Any]:
    """The experiment as chaoslib wants it, after every check passed."""
    problems = _problems_of(path, target, expect=check_experiment)
    if problems:
        raise InvalidInput("\n".join(problems))
    return read_mapping(path)


def _problems_of(path: Path, target: Target | None, expect: Callable | None = None) -> list[str]:
    try:
        data = read_mapping(path)
    except InvalidInput as exc:
        return str(exc).splitlines()
    check = expect or _checker_for(data)
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


check_target = _model_checker(Target)


def check_experiment(path: Path, data: dict[str, Any], target: Target | None = None) -> list[str]:
    try:
        experiment = Experiment.model_validate(data)
    except ValidationError as exc:
        return describe_errors(path, exc).splitlines()
    problems = [
        f"{path}: {where}.provider.{problem}"
        for where, activity in experiment.activities()
        for problem in _activity_problems(activity, target)
    ]
    return problems or _chaoslib_problems(path, data)


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
    return _argument_problems(func, provider.arguments) + _region_problems(provider.arguments, target)


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
    if target is None or not isinstance(region, str) or region.startswith("${"):
        return []
    if region in target.regions:
        return []
    return [f"arguments.region: target {target.name!r} has no region {region!r} "
            f"(it has: {', '.join(target.regions)})"]


def _chaoslib_problems(path: Path, data: dict[str, Any]) -> list[str]:
    from chaoslib.exceptions import ChaosException
    from chaoslib.experiment import ensure_experiment_is_valid

    try:
        ensure_experiment_is_valid(data)
    except ChaosException as exc:
        return [f"{path}: (experiment): {exc}"]
    return []
