"""The plan of a run, built once by validation and consumed by the CLI, the drill, the runner and
recovery: the target (with its file), the experiments as they will run, the drill and its objectives.

Nothing downstream reads these files again. The plan is frozen; an experiment's mappings are handed
out as copies, because chaoslib writes into the experiment it runs (its title, for one)."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from drillkit.model.drill import Drill
from drillkit.model.objectives import Objectives
from drillkit.model.stop import StopCondition
from drillkit.model.target import Target

MEASURE_MODULE = "drillkit.controls.measure"


class _Frozen(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class PlannedExperiment(_Frozen):
    """One experiment file, validated with its variables."""

    path: Path
    variables: dict[str, Any] = Field(default_factory=dict, description="configuration overrides (--var)")
    as_written: dict[str, Any] = Field(description="what chaoslib runs (drillkit's measure control added "
                                       "when asked): chaoslib substitutes `${}` itself")
    substituted: dict[str, Any] = Field(description="the same after `${}` substitution with the variables")
    stop_conditions: tuple[StopCondition, ...] = Field(
        (), description="what aborts it while its faults are in place: the drill's, then its own (its "
        "`drillkit` extension)")

    @property
    def name(self) -> str:
        return self.path.stem

    def document(self) -> dict[str, Any]:
        """A copy of the experiment as chaoslib runs it."""
        return copy.deepcopy(self.as_written)

    def resolved(self) -> dict[str, Any]:
        """A copy of the experiment with its configuration substituted."""
        return copy.deepcopy(self.substituted)

    @property
    def measured(self) -> bool:
        """Whether drillkit's measure control runs with it."""
        return declares_measurement(self.as_written)

    def measurement(self) -> dict[str, Any] | None:
        """The measurement settings (the measure control's arguments, substituted); None when not measured."""
        controls = [c for c in self.substituted.get("controls") or [] if _is_measure(c)]
        return dict(controls[0]["provider"].get("arguments") or {}) if controls else None


def declares_measurement(experiment: dict[str, Any]) -> bool:
    """Whether EXPERIMENT switches drillkit's measure control on."""
    return any(_is_measure(control) for control in experiment.get("controls") or [])


def _is_measure(control: Any) -> bool:
    return isinstance(control, dict) and (control.get("provider") or {}).get("module") == MEASURE_MODULE


class Plan(_Frozen):
    """Everything a command acts on, validated before anything runs."""

    target: Target
    target_file: Path
    experiments: tuple[PlannedExperiment, ...] = ()

    def documents(self) -> list[dict[str, Any]]:
        """A copy of every experiment as chaoslib runs it."""
        return [experiment.document() for experiment in self.experiments]


class DrillPlan(Plan):
    """A drill's plan: its experiments are its entries', in order, each with the entry's variables."""

    drill: Drill
    drill_file: Path
    objectives: Objectives
