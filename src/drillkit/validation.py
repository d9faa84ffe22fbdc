"""`drillkit validate`, and the plan every command runs: check experiments and targets before anything
runs, and build the one immutable Plan (model/plan.py) the CLI, the drill, the runner and recovery use.

Every problem is one `file: field: reason` line. An experiment is checked three ways: its shape
(pydantic), its drillkit activities (module, function in `__all__`, arguments that bind to the
signature, regions and members the target knows), and chaoslib's own validation. The drillkit checks
run twice: on the file as written, and after its configuration variables are substituted (the run's
`--var` overrides included), so a `${region}` is checked like a literal region. A target is checked
for a driver this version ships and for components that exist. A plan reads its target file once.

Stop conditions (model/stop.py) are checked with the experiment that carries them (its `drillkit`
extension, after substitution) and the drill that declares them: a `prometheus` one needs the target's
Prometheus settings, an `sli` or `burn_rate` one drillkit's measure control, and names are unique per
experiment. Each planned experiment carries its drill's conditions, then its own.
"""

from __future__ import annotations

import copy
import importlib
import inspect
from collections.abc import Callable
from enum import StrEnum
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError

from drillkit.errors import InvalidInput
from drillkit.model.drill import Drill, load_drill
from drillkit.model.experiment import Activity, Experiment, PythonProvider
from drillkit.model.files import describe_errors, read_mapping
from drillkit.model.objectives import Objectives, load_objectives
from drillkit.model.plan import MEASURE_MODULE, DrillPlan, Plan, PlannedExperiment, declares_measurement
from drillkit.model.profile import LoadProfile
from drillkit.model.stop import (
    EXTENSION,
    BurnRateStop,
    ExperimentStops,
    PrometheusStop,
    SliStop,
    StopCondition,
    extension_index,
)
from drillkit.model.target import (
    DockerDriver,
    KubernetesDriver,
    ProcessDriver,
    Target,
    load_target,
)

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
    return plan_experiment(path, target, variables).document()


def plan_target(target_file: Path) -> Plan:
    """The plan of a command that acts on the target alone (`recover`, `preflight` without a plan)."""
    return Plan(target=load_target(target_file), target_file=target_file)


def plan_run(
    experiment_file: Path, target_file: Path, variables: dict[str, Any] | None = None, measure: bool = False,
) -> Plan:
    """The plan of `drillkit run`: the target and the experiment as it will run (with the measure control
    when MEASURE), every check of both files passed; raises InvalidInput before anything runs."""
    target = load_target(target_file)
    experiment = plan_experiment(experiment_file, target, variables, measure)
    return Plan(target=target, target_file=target_file, experiments=(experiment,))


def plan_drill(manifest: Path, target_file: Path | None = None) -> DrillPlan:
    """The plan of a drill: its target (TARGET_FILE, else the drill's), objectives and every experiment
    with its own variables, all checked before anything runs."""
    drill = load_drill(manifest)
    target_file = target_file or drill.target
    target = load_target(target_file)
    objectives = _drill_objectives(drill, manifest)
    _check_leader(drill, manifest, target)
    return DrillPlan(target=target, target_file=target_file, drill=drill, drill_file=manifest,
                     objectives=objectives, experiments=_drill_experiments(drill, manifest, target))


def plan_file(path: Path, target_file: Path | None, default_target: Path) -> Plan:
    """A drill's plan when PATH is a drill manifest, else an experiment's against TARGET_FILE (or DEFAULT_TARGET)."""
    if kind_of(read_mapping(path)) is FileKind.DRILL:
        return plan_drill(path, target_file)
    return plan_run(path, target_file or default_target)


def plan_experiment(
    path: Path, target: Target | None, variables: dict[str, Any] | None = None, measure: bool = False,
) -> PlannedExperiment:
    planned, problems = _planned(path, target, variables or {}, measure)
    if planned is None:
        raise InvalidInput("\n".join(problems))
    return planned


def _planned(
    path: Path, target: Target | None, variables: dict[str, Any], measure: bool,
    inherited: tuple[tuple[str, StopCondition], ...] = (),
) -> tuple[PlannedExperiment | None, list[str]]:
    """The experiment of PATH checked (one read of the file), or its problems."""
    try:
        data = read_mapping(path)
    except InvalidInput as exc:
        return None, str(exc).splitlines()
    problems = _variable_problems(path, data, variables)
    substituted, problems = (data, problems) if problems else _checked(path, data, target, variables)
    if problems:
        return None, problems
    adding = measure and not declares_measurement(data)
    as_written = _measured(data) if adding else data
    own = [(f"{path}: {where}", condition) for where, condition in own_stop_conditions(substituted)]
    conditions = [*inherited, *own]
    problems = stop_condition_problems(conditions, target, measured=declares_measurement(as_written), path=path)
    if problems:
        return None, problems
    return PlannedExperiment(path=path, variables=variables, as_written=as_written,
                             substituted=_measured(substituted) if adding else substituted,
                             stop_conditions=tuple(condition for _, condition in conditions)), []


def own_stop_conditions(experiment: dict[str, Any]) -> list[tuple[str, StopCondition]]:
    """(field, condition) for each stop condition of EXPERIMENT's `drillkit` extension (already checked)."""
    index = extension_index(experiment)
    if index is None:
        return []
    stops = ExperimentStops.model_validate(experiment["extensions"][index]).stop_conditions
    return [(f"extensions.{index}.stop_conditions.{n}", c) for n, c in enumerate(stops)]


def extension_problems(path: Path, experiment: dict[str, Any]) -> list[str]:
    """`file: extensions.N.field: reason` for each problem of the experiment's `drillkit` extension."""
    index = extension_index(experiment)
    if index is None:
        return []
    extensions = experiment["extensions"]
    later = [n for n, e in enumerate(extensions) if n > index and isinstance(e, dict) and e.get("name") == EXTENSION]
    problems = [f"{path}: extensions.{n}.name: a second {EXTENSION!r} extension (only the first is read)"
                for n in later]
    try:
        ExperimentStops.model_validate(extensions[index])
    except ValidationError as exc:
        problems += [f"{path}: extensions.{index}.{'.'.join(str(part) for part in error['loc'])}: "
                     f"{error['msg']}" for error in exc.errors()]
    return problems


def stop_condition_problems(
    conditions: list[tuple[str, StopCondition]], target: Target | None, *, measured: bool, path: Path,
) -> list[str]:
    """`file: field: reason` for conditions that could never be evaluated on TARGET or in this experiment
    (CONDITIONS are (where, condition), WHERE being `file: field`), and for a name used twice."""
    problems, seen = [], set()
    for where, condition in conditions:
        if condition.name in seen:
            problems.append(f"{where}.name: {condition.name!r} names two stop conditions of {path}")
        seen.add(condition.name)
        if isinstance(condition, PrometheusStop) and target is not None and target.prometheus is None:
            problems.append(f"{where}.kind: a prometheus stop condition needs the target's `prometheus` settings "
                            f"(url, token or username/password); target {target.name!r} has none")
        if isinstance(condition, SliStop | BurnRateStop) and not measured:
            problems.append(f"{where}.kind: a {condition.kind} stop condition reads drillkit's live samples: {path} "
                            f"must run the measure control ({MEASURE_MODULE})")
    return problems


def _variable_problems(path: Path, experiment: dict[str, Any], variables: dict[str, Any]) -> list[str]:
    declared = experiment.get("configuration", {})
    unknown = sorted(set(variables) - set(declared))
    if unknown:
        return [f"{path}: configuration: no key {', '.join(unknown)} to override (it has: {', '.join(declared)})"]
    return []


def _measured(experiment: dict[str, Any]) -> dict[str, Any]:
    """The experiment with drillkit's measure control added (the file is left as it is)."""
    control = {"name": "measure", "provider": {"type": "python", "module": MEASURE_MODULE}}
    return {**experiment, "controls": [*copy.deepcopy(experiment.get("controls", [])), control]}


def _drill_objectives(drill: Drill, manifest: Path) -> Objectives:
    if not drill.objectives.exists():
        raise InvalidInput(f"{manifest}: objectives: no such file {drill.objectives}")
    return load_objectives(drill.objectives)


def _check_leader(drill: Drill, manifest: Path, target: Target) -> None:
    if drill.leader and drill.leader not in target.members():
        raise InvalidInput(f"{manifest}: leader: target {target.name!r} has no database member "
                           f"{drill.leader!r} (it has: {', '.join(target.members())})")


def _drill_experiments(drill: Drill, manifest: Path, target: Target) -> tuple[PlannedExperiment, ...]:
    """Every entry's experiment, checked with its variables; all problems at once."""
    missing = [e.path for e in drill.experiments if not e.path.exists()]
    if missing:
        raise InvalidInput("\n".join(f"{manifest}: experiments: no such file {p}" for p in missing))
    inherited = tuple((f"{manifest}: stop_conditions.{n}", c) for n, c in enumerate(drill.stop_conditions))
    planned = [_planned(entry.path, target, entry.variables, measure=False, inherited=inherited)
               for entry in drill.experiments]
    problems = [problem for _, found in planned for problem in found]
    if problems:
        raise InvalidInput("\n".join(dict.fromkeys(problems)))  # an experiment listed twice says it once
    return tuple(experiment for experiment, _ in planned if experiment is not None)


def fault_actions(experiment: dict[str, Any]) -> list[tuple[int, dict[str, Any]]]:
    """Each action of EXPERIMENT's method that injects a fault, with its index in the method: every action
    but a rollback played inside the method (restore_region …), which injects nothing."""
    from drillkit.faults.heal_actions import HEAL_ACTIONS

    method = [activity for activity in experiment.get("method") or [] if isinstance(activity, dict)]
    return [(index, action) for index, action in enumerate(method) if action.get("type") == "action"
            and not (_is_drillkit(action) and (action.get("provider") or {}).get("func") in HEAL_ACTIONS)]


def fault_name(action: dict[str, Any]) -> str:
    """How `allowed_faults` names a fault action: its function (inject_http_faults) for one of drillkit's,
    module and function (chaosaws.ec2.actions.stop_instances) for another Python activity, so that a
    function of the same name elsewhere is never allowed as drillkit's; else its name in the experiment."""
    provider = action.get("provider") or {}
    if provider.get("type") != "python":
        return str(action.get("name"))
    return str(provider.get("func") if _is_drillkit(action) else f"{provider.get('module')}.{provider.get('func')}")


def guard_problems(plan: Plan, confirmation: str | None) -> list[str]:
    """Why the PLAN may not run as confirmed: a production target runs only with its name given in full
    (CONFIRMATION, from --confirm-target) and only the faults its target file allows; a confirmation
    that names another target is a slip, whatever the kind. [] when it may run."""
    target = plan.target
    where = f"{plan.target_file}: kind: {target.kind}"
    if confirmation is not None and confirmation != target.name:
        return [f"--confirm-target {confirmation!r} does not name the target {target.name!r} ({plan.target_file}): "
                "nothing was injected"]
    if target.kind != "production":
        return []
    problems = [] if confirmation == target.name else [
        f"{where}: {target.name!r} is a production target: pass --confirm-target {target.name} to run against it "
        "(nothing was injected)"]
    allowed = ", ".join(target.allowed_faults) or "none"
    return problems + [
        f"{plan.target_file}: allowed_faults: {experiment.path}: the fault {fault_name(action)!r} "
        f"({action.get('name')}) is not allowed on {target.name!r} (allowed: {allowed})"
        for experiment in plan.experiments for action in _acting(experiment.resolved())
        if fault_name(action) not in target.allowed_faults] + _leader_problems(plan, allowed)


def _leader_problems(plan: Plan, allowed: str) -> list[str]:
    """A drill with a `leader` switches the database over before each experiment: a fault of its own."""
    if not isinstance(plan, DrillPlan) or not plan.drill.leader or "switchover" in plan.target.allowed_faults:
        return []
    return [f"{plan.drill_file}: leader: the drill switches the database leader over to {plan.drill.leader} "
            f"before each experiment, and 'switchover' is not allowed on {plan.target.name!r} (allowed: {allowed})"]


def _acting(experiment: dict[str, Any]) -> list[dict[str, Any]]:
    """The actions that change the target: the method's faults, and rollbacks that are not drillkit's heals."""
    rollbacks = {"method": experiment.get("rollbacks") or []}
    return [action for _, action in fault_actions(experiment) + fault_actions(rollbacks)]


def _is_drillkit(activity: dict[str, Any]) -> bool:
    return str((activity.get("provider") or {}).get("module", "")).startswith("drillkit.")


class FileKind(StrEnum):
    EXPERIMENT = "experiment"
    TARGET = "target"
    LOAD_PROFILE = "load profile"
    DRILL = "drill"


# The keys that mark each kind of file: any one of a kind's key sets, tried in this order.
_MARKS: dict[FileKind, tuple[frozenset[str], ...]] = {
    FileKind.EXPERIMENT: (frozenset({"method"}), frozenset({"steady-state-hypothesis"})),
    FileKind.TARGET: (frozenset({"driver", "regions"}),),
    FileKind.LOAD_PROFILE: (frozenset({"stages"}),),
    FileKind.DRILL: (frozenset({"experiments"}),),
}


def kind_of(data: dict[str, Any]) -> FileKind | None:
    """What DATA is, by the keys it has; None when it is none of drillkit's files."""
    return next((kind for kind, marks in _MARKS.items() if any(keys <= data.keys() for keys in marks)), None)


def _problems_of(path: Path, target: Target | None) -> list[str]:
    try:
        data = read_mapping(path)
    except InvalidInput as exc:
        return str(exc).splitlines()
    kind = kind_of(data)
    if kind is None:
        return [f"{path}: (top level): not an experiment (method), a target (driver, regions), "
                "a load profile (stages) or a drill (experiments)"]
    return _checker_for(kind)(path, data, target)


def _checker_for(kind: FileKind) -> Callable[..., list[str]]:
    checkers: dict[FileKind, Callable[..., list[str]]] = {
        FileKind.EXPERIMENT: check_experiment, FileKind.TARGET: check_target,
        FileKind.LOAD_PROFILE: _model_checker(LoadProfile), FileKind.DRILL: _model_checker(Drill),
    }
    return checkers[kind]


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
    """`field: reason` for a component the environment lacks or the driver cannot find."""
    if isinstance(target.driver, ProcessDriver):
        return _sandbox_component_problems(target, target.driver)
    if isinstance(target.driver, DockerDriver):
        return _witness_problems(target, target.driver.witness)
    if isinstance(target.driver, KubernetesDriver):
        return _kubernetes_binding_problems(target, target.driver) + _witness_problems(target, target.driver.witness)
    return []


def _witness_problems(target: Target, witness: list[str]) -> list[str]:
    """The witness lies outside every region (a region cut separates it from the region). Nothing live is
    asked here: the engine may be down while a plan is checked; the preflight asks it."""
    components = set(target.components().values())
    return [f"driver.witness[{i}]: {name!r} is a region's component, and the witness lies outside every region"
            for i, name in enumerate(witness) if name in components]


def _kubernetes_binding_problems(target: Target, driver: KubernetesDriver) -> list[str]:
    """Every component and region the target names is bound to its pods."""
    problems = [f"driver.components: {path} {name!r} is bound to no pods (add driver.components.{name})"
                for path, name in target.components().items() if name not in driver.components]
    return problems + [f"driver.regions: region {name!r} is bound to no pods (add driver.regions.{name})"
                       for name in target.regions if name not in driver.regions]


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
    return _checked(path, data, target, variables)[1]


def _checked(
    path: Path, data: dict[str, Any], target: Target | None, variables: dict[str, Any] | None,
) -> tuple[dict[str, Any], list[str]]:
    """The experiment after `${}` substitution, and every problem of it (as written and substituted)."""
    problems = _drillkit_problems(path, data, target)
    if problems:
        return data, problems
    substituted, problems = _substituted(path, data, variables or {})
    if problems:
        return data, problems
    return substituted, (_drillkit_problems(path, substituted, target, after_substitution=True)
                         or extension_problems(path, substituted) or _chaoslib_problems(path, data))


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
