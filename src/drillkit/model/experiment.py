"""The part of the Chaos Toolkit experiment format that drillkit checks field by field.

chaoslib's own validation runs too (so `chaos validate` and `drillkit validate` agree); this model
exists to name the field at fault, which chaoslib's messages do not. It asks for no more than
`chaos validate` does (a title, a description and a method, which may be empty; tags and a
steady-state hypothesis are optional), with one exception: a negative pause, which chaoslib accepts
and then crashes on, is refused.
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator


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


class Pauses(_Open):
    before: float | str | None = None
    after: float | str | None = None

    @field_validator("before", "after")
    @classmethod
    def _seconds_or_variable(cls, value: float | str | None) -> float | str | None:
        if isinstance(value, str) and not re.fullmatch(r"\$\{[^}]+\}", value):
            raise ValueError("must be a number of seconds or a ${configuration_key}")
        if isinstance(value, int | float) and value < 0:
            raise ValueError(f"must not be negative (got {value:g} seconds)")
        return value


class Activity(_Open):
    """An inline activity, or a reference to one (`ref`) declared elsewhere in the experiment."""

    ref: str | None = None
    type: Literal["action", "probe"] | None = None
    name: str | None = Field(None, min_length=1)
    provider: Provider | None = None
    pauses: Pauses | None = None
    background: bool = False

    @model_validator(mode="after")
    def _inline_or_reference(self) -> Activity:
        missing = [key for key in ("type", "name", "provider") if getattr(self, key) is None]
        if self.ref is None and missing:
            raise ValueError(f"an activity needs {', '.join(missing)} (or a ref)")
        return self


class Hypothesis(_Open):
    title: str = Field(min_length=1)
    probes: list[Activity] | None = None


class Experiment(_Open):
    title: str = Field(min_length=1)
    description: str = Field(min_length=1)
    tags: list[Annotated[str, Field(min_length=1)]] = Field(default_factory=list)
    configuration: dict[str, Any] = Field(default_factory=dict)
    steady_state_hypothesis: Hypothesis | None = Field(None, alias="steady-state-hypothesis")
    method: list[Activity] = Field(description="may be empty: then only the hypothesis is checked")
    rollbacks: list[Activity] = Field(default_factory=list)
    controls: list[dict[str, Any]] = Field(default_factory=list)

    def activities(self) -> list[tuple[str, Activity]]:
        """Every inline activity with its field path, e.g. ("method.0", activity)."""
        hypothesis = self.steady_state_hypothesis
        sections = [
            ("steady-state-hypothesis.probes", (hypothesis.probes or []) if hypothesis else []),
            ("method", self.method),
            ("rollbacks", self.rollbacks),
        ]
        return [
            (f"{where}.{index}", activity)
            for where, activities in sections
            for index, activity in enumerate(activities)
            if activity.ref is None
        ]
