"""drillkit's packages import downward only: the layers drawn in docs/architecture.md.

A module may import its own package and anything on a lower floor; never a higher floor, and never a
sibling on its own floor (siblings stay independent, so each can change without the other).
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[2] / "src"

# Top floor first. Each name is a top-level module or package of drillkit.
LAYERS: list[set[str]] = [
    {"__main__"},
    {"cli"},
    {"drill", "preflight"},
    {"controls", "lock", "validation"},
    {"faults"},
    {"staging"},
    {"sandbox", "loadtest", "report", "guard"},
    {"backup"},
    {"measure", "score"},
    {"model", "feedhub"},
    {"faultlog", "processes", "patroni_api", "kustomize", "kubeclient"},
    {"clock", "durable", "errors", "histograms", "interrupts"},
    {"redaction"},
]
FLOOR = {name: floor for floor, names in enumerate(LAYERS) for name in names}


def unit_of(module: str) -> str | None:
    """The layer unit a dotted module name belongs to (None for drillkit itself and for non-drillkit)."""
    parts = module.split(".")
    if parts[0] != "drillkit" or len(parts) < 2:
        return None
    if parts[1] in ("__init__", "__version__"):  # the package's face: it imports nothing of drillkit
        return None
    return parts[1]


def imported_modules(path: Path, src: Path) -> list[tuple[int, str]]:
    """(line, absolute module) for every import in PATH, including imports inside functions."""
    module = ".".join(path.relative_to(src).with_suffix("").parts)
    package = module.rsplit(".", 1)[0] if path.name != "__init__.py" else module.removesuffix(".__init__")
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(anchor + ([node.module] if node.module else []))
            names = [f"{base}.{alias.name}" for alias in node.names] if base == "drillkit" else [base]
            found += [(node.lineno, name) for name in names]
    return found


def violations(src: Path = SRC) -> list[str]:
    found = []
    for path in sorted((src / "drillkit").rglob("*.py")):
        own = unit_of(".".join(path.relative_to(src).with_suffix("").parts))
        if own is None:
            continue
        for line, module in imported_modules(path, src):
            other = unit_of(module)
            if other is None or other == own:
                continue
            if FLOOR[other] <= FLOOR[own]:
                found.append(f"{path.relative_to(src)}:{line}: drillkit.{own} (floor {FLOOR[own]}) imports "
                             f"{module} (floor {FLOOR[other]})")
    return found


def test_every_module_of_drillkit_has_a_floor():
    units = {unit_of(".".join(p.relative_to(SRC).with_suffix("").parts)) for p in (SRC / "drillkit").rglob("*.py")}
    assert units - {None} <= set(FLOOR), f"give these a floor in LAYERS: {sorted(units - {None} - set(FLOOR))}"


def test_no_module_imports_upward_or_sideways():
    assert violations() == []


@pytest.mark.parametrize("line", ["from drillkit.drill import runner", "import drillkit.sandbox.supervisor"])
def test_an_upward_import_is_caught(tmp_path, line):
    module = tmp_path / "drillkit" / "measure" / "upward.py"
    module.parent.mkdir(parents=True)
    module.write_text(f"{line}\n")
    measure = FLOOR["measure"]
    assert violations(tmp_path) == [f"drillkit/measure/upward.py:1: drillkit.measure (floor {measure}) imports "
                                    f"{line.split()[1]} (floor {FLOOR[line.split()[1].split('.')[1]]})"]
