"""The drill manifest: which experiments, against which target, judged by which objectives."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from drillkit.model import paths
from drillkit.model.files import read_mapping, validate_mapping
from drillkit.model.stop import StopCondition


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Baseline(_Strict):
    """A steady period measured before the first fault: a baseline that already breaches an SLO
    makes the whole run invalid (not failed)."""

    duration_s: float = Field(20, ge=5, le=3600)


class ExperimentEntry(_Strict):
    path: Path = Field(description="a Chaos Toolkit experiment, relative to the working directory")
    weight: float = Field(1.0, gt=0, description="its share of the drill's score")
    repetitions: int = Field(1, ge=1, le=10, description="gates use the worst run, the score the median")
    variables: dict[str, Any] = Field(default_factory=dict, description="configuration overrides")
    expected_seconds: float = Field(60, gt=0, description="for the dry-run plan and progress")

    @property
    def name(self) -> str:
        return self.path.stem


class Drill(_Strict):
    name: str = Field(pattern=r"^[a-z0-9][a-z0-9-]*$")
    description: str = ""
    target: Path = paths.TARGET
    objectives: Path = paths.OBJECTIVES
    baseline: Baseline = Baseline()
    leader: str | None = Field(
        None, description="the database member that leads at the start of every experiment: the drill "
        "switches over to it (unmeasured) when an earlier experiment left another leader")
    experiments: list[ExperimentEntry] = Field(min_length=1)
    stop_conditions: list[StopCondition] = Field(
        default_factory=list, description="abort the drill, rollbacks played, when one fires (model/stop.py)")

    def expected_seconds(self) -> float:
        return self.baseline.duration_s + sum(e.expected_seconds * e.repetitions for e in self.experiments)


def load_drill(path: Path) -> Drill:
    return validate_mapping(Drill, read_mapping(path), path)
