"""The part of the Chaos Toolkit experiment format that drillkit checks field by field.

chaoslib's own validation runs too (so `chaos validate` and `drillkit validate` agree); this model
exists to name the field at fault, which chaoslib's messages do not.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field


class _Open(BaseModel):
    model_config = ConfigDict(extra="allow", populate_by_name=True)


class PythonProvider(_Open):
    type: Literal["python"]
    module: str = Field(min_length=1)
    func: str = Field(min_length=1)
    arguments: dict[str, Any] = Field(default_factory=dict)


class HttpProvider(_Open):
    type: Literal["http"]
    url: str


class ProcessProvider(_Open):
    type: Literal["process"]
    path: str


Provider = Annotated[PythonProvider | HttpProvider | ProcessProvider, Field(discriminator="type")]


class Pauses(BaseModel):
    model_config = ConfigDict(extra="forbid")
    before: float | Annotated[str, Field(pattern=r"^\$\{[^}]+\}$")] | None = None
    after: float | Annotated[str, Field(pattern=r"^\$\{[^}]+\}$")] | None = None


class Activity(_Open):
    type: Literal["action", "probe"]
    name: str = Field(min_length=1)
    provider: Provider
    pauses: Pauses | None = None
    background: bool = False


class Reference(BaseModel):
    model_config = ConfigDict(extra="forbid")
    ref: str


class Hypothesis(_Open):
    title: str = Field(min_length=1)
    probes: list[Activity | Reference] = Field(default_factory=list)


class Experiment(_Open):
    title: str = Field(min_length=1)
    description: str = Field(min_length=1)
    tags: list[str] = Field(min_length=1)
    configuration: dict[str, Any] = Field(default_factory=dict)
    steady_state_hypothesis: Hypothesis = Field(alias="steady-state-hypothesis")
    method: list[Activity | Reference] = Field(min_length=1)
    rollbacks: list[Activity | Reference] = Field(default_factory=list)
    controls: list[dict[str, Any]] = Field(default_factory=list)

    def activities(self) -> list[tuple[str, Activity]]:
        """Every inline activity with its field path, e.g. ("method.0", activity)."""
        sections = [
            ("steady-state-hypothesis.probes", self.steady_state_hypothesis.probes),
            ("method", self.method),
            ("rollbacks", self.rollbacks),
        ]
        return [
            (f"{where}.{index}", activity)
            for where, activities in sections
            for index, activity in enumerate(activities)
            if isinstance(activity, Activity)
        ]
