"""Every activity module keeps Chaos Toolkit's contract: `__all__` lists activities only, each takes keyword
arguments with `configuration` and `secrets` last, and whatever goes wrong inside one leaves it as
ActivityFailed with a sentence; the rollbacks a fault log may name and the activities recovery maps them to
are the same set; and no module of the fault library imports one that imports it back."""

from __future__ import annotations

import ast
import importlib
import inspect
import pkgutil
from pathlib import Path
from types import ModuleType

import pytest
from chaoslib.exceptions import ActivityFailed, InterruptExecution

import drillkit.faults
from drillkit.faults import environment as faults_environment
from drillkit.faults import recovery
from drillkit.faults.boundary import activity, is_activity
from drillkit.faults.heal_actions import HEAL_ACTIONS

ACTIVITY_MODULES = sorted(
    info.name for info in pkgutil.walk_packages(drillkit.faults.__path__, "drillkit.faults.")
    if info.name.rsplit(".", 1)[-1] in ("actions", "probes")
)
INJECTED = ("configuration", "secrets")


def _activities() -> list[tuple[str, str]]:
    return [(module, name) for module in ACTIVITY_MODULES for name in importlib.import_module(module).__all__]


def _defined_here(module: ModuleType) -> dict[str, object]:
    """The functions and classes MODULE defines itself (not those it imports)."""
    return {name: value for name, value in vars(module).items()
            if (inspect.isfunction(value) or inspect.isclass(value)) and value.__module__ == module.__name__}


def test_the_fault_library_has_an_actions_and_a_probes_module_per_area():
    areas = {"region", "database", "app", "load", "backup"}
    assert set(ACTIVITY_MODULES) == {f"drillkit.faults.{a}.{kind}" for a in areas for kind in ("actions", "probes")}


@pytest.mark.parametrize("module, name", _activities())
def test_every_name_in_all_is_an_activity_taking_keywords_with_configuration_and_secrets_last(module, name):
    func = getattr(importlib.import_module(module), name)
    assert inspect.isfunction(func), f"{module}.{name} is not a function"
    parameters = list(inspect.signature(func).parameters.values())
    kinds = {inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY}
    assert all(p.kind in kinds for p in parameters), f"{module}.{name} takes *args or **kwargs"
    assert [p.name for p in parameters[-2:]] == list(INJECTED)
    assert all(p.default is None for p in parameters[-2:])
    assert func.__doc__, f"{module}.{name} says nothing of what it does (chaos discover shows its docstring)"


@pytest.mark.parametrize("module, name", _activities())
def test_every_activity_crosses_the_boundary(module, name):
    assert is_activity(getattr(importlib.import_module(module), name)), f"decorate {module}.{name} with @activity"


@pytest.mark.parametrize("module", ACTIVITY_MODULES)
def test_an_activity_module_makes_public_only_its_activities(module):
    loaded = importlib.import_module(module)
    public = {name for name in _defined_here(loaded) if not name.startswith("_")}
    assert public == set(loaded.__all__), f"{module}: make private or move {sorted(public - set(loaded.__all__))}"


@pytest.mark.parametrize("module, name", _activities())
def test_an_unexpected_error_inside_any_activity_leaves_it_as_activity_failed(module, name, monkeypatch):
    loaded = importlib.import_module(module)

    def broken_environment(configuration):
        raise RuntimeError("the target could not be read (a bug, say)")

    for where in (loaded, faults_environment):  # an activity may reach it through a shared rollback
        monkeypatch.setattr(where, "environment", broken_environment)
    func = getattr(loaded, name)
    required = {p.name: "region-a" for p in inspect.signature(func).parameters.values() if p.default is p.empty}
    with pytest.raises(ActivityFailed, match=r"^RuntimeError: the target could not be read") as failed:
        func(**required, configuration={})
    assert isinstance(failed.value.__cause__, RuntimeError)


def test_chaos_toolkit_exceptions_cross_the_boundary_as_they_are():
    @activity
    def interrupted(configuration=None, secrets=None):
        raise InterruptExecution("a stop condition fired")

    with pytest.raises(InterruptExecution):
        interrupted()


def test_the_boundary_keeps_the_signature_chaoslib_injects_by():
    def probe(region: str, configuration=None, secrets=None) -> bool:
        """A probe."""
        return True

    wrapped = activity(probe)
    assert inspect.signature(wrapped) == inspect.signature(probe)
    assert (wrapped.__name__, wrapped.__doc__) == ("probe", "A probe.")


def test_recovery_maps_every_rollback_name_to_the_activity_of_that_name():
    assert set(recovery.HEALERS) == HEAL_ACTIONS
    assert {name: healer.__name__ for name, healer in recovery.HEALERS.items()} == {n: n for n in HEAL_ACTIONS}
    assert all(is_activity(healer) for healer in recovery.HEALERS.values())


def _faults_imports() -> dict[str, set[str]]:
    """Each module of drillkit.faults and the modules of drillkit.faults it imports (lazily too)."""
    root = Path(drillkit.faults.__file__).parent
    graph = {}
    for path in root.rglob("*.py"):
        parts = path.relative_to(root.parent.parent).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        imported = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("drillkit.faults"):
                imported |= {f"{node.module}.{a.name}" if f"{node.module}.{a.name}" in _modules(root) else node.module
                             for a in node.names}
            elif isinstance(node, ast.Import):
                imported |= {a.name for a in node.names if a.name.startswith("drillkit.faults")}
        graph[name] = imported - {name}
    return graph


def _modules(root: Path) -> set[str]:
    return {".".join(p.relative_to(root.parent.parent).with_suffix("").parts).removesuffix(".__init__")
            for p in root.rglob("*.py")}


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    found = []

    def visit(module: str, path: list[str]) -> None:
        for other in sorted(graph.get(module, ())):
            if other in path:
                found.append(path[path.index(other):] + [other])
            elif len(path) < len(graph):
                visit(other, [*path, other])

    for start in sorted(graph):
        visit(start, [start])
    return found


def test_no_module_of_the_fault_library_imports_one_that_imports_it_back():
    assert _cycles(_faults_imports()) == []


def test_an_import_circle_is_caught():
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert ["a", "b", "c", "a"] in _cycles(graph)
