"""Stop conditions: what ends a drill early, with its rollbacks played, when it hurts more than it was
allowed to. A drill manifest declares them for all its experiments (`stop_conditions:`), an experiment for
itself (in its `extensions`, the entry named `drillkit`). While faults are in place drillkit evaluates
each one every `every_s` seconds; the first that fires aborts the run: "ABORTED by stop condition NAME",
exit 3, never passed, the measurements up to then kept.

Kinds:
- `sli`: drillkit's own live SLI (availability or the latency SLI of the user path) over a sliding
  window falls below a floor;
- `burn_rate`: the error budget burns faster than a rate (1 = exactly the budget over the period);
- `prometheus`: a PromQL query (over the target's `prometheus` settings) returns a non-empty result;
- `command`: a command exits non-zero;
- `http`: a URL answers other than 2xx (or not at all).
A condition that cannot be evaluated (Prometheus unreachable, the command missing) stops the run too,
unless it says `on_error: ignore`.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from drillkit.model.secrets import PlainUrl

EXTENSION = "drillkit"  # the experiment extension that carries an experiment's own stop conditions


class _Stop(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(pattern=r"^[a-z0-9][a-z0-9-]*$", description="named in the ABORTED verdict")
    every_s: float = Field(2.0, gt=0, le=300, description="how often it is evaluated")
    on_error: Literal["stop", "ignore"] = Field(
        "stop", description="what a failure to evaluate it means: stop the run (default), or carry on")


class SliStop(_Stop):
    kind: Literal["sli"]
    sli: Literal["availability", "latency"]
    below: float = Field(gt=0, le=1, description="fires when the SLI over the window is below this")
    window_s: float = Field(30, ge=5, le=3600)


class BurnRateStop(_Stop):
    kind: Literal["burn_rate"]
    above: float = Field(gt=0, description="fires when the budget burns faster than this many budgets "
                         "per period over the window")
    window_s: float = Field(60, ge=5, le=3600)


class PrometheusStop(_Stop):
    kind: Literal["prometheus"]
    query: str = Field(min_length=1, description="PromQL; fires when the result is not empty, "
                       "whatever the values (a series of value 0 fires too: filter in the query, `> 5`)")


class CommandStop(_Stop):
    kind: Literal["command"]
    command: list[str] = Field(min_length=1, description="argv; fires when it exits non-zero")
    timeout_s: float = Field(10, gt=0, le=300)


class HttpStop(_Stop):
    kind: Literal["http"]
    url: PlainUrl
    timeout_s: float = Field(5, gt=0, le=300)


StopCondition = Annotated[
    SliStop | BurnRateStop | PrometheusStop | CommandStop | HttpStop, Field(discriminator="kind")
]


class ExperimentStops(BaseModel):
    """The `drillkit` entry of an experiment's `extensions`."""

    model_config = ConfigDict(extra="allow", frozen=True)

    name: Literal["drillkit"]
    stop_conditions: list[StopCondition] = Field(default_factory=list)


class StopFiring(BaseModel):
    """The stop condition that ended a run: which, when, on what. REASON "fired" when it saw what it
    guards against, "unevaluable" when it could not be evaluated (and did not say `on_error: ignore`)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str
    kind: str
    reason: Literal["fired", "unevaluable"]
    value: str = Field(description="what it saw: the SLI, the burn rate, the query's first series, the exit "
                       "status, the HTTP status, or why it could not be evaluated")
    at_utc: str
    at_monotonic: float = Field(description="the run process's monotonic clock (drillkit.clock)")
    at_s: float | None = Field(None, description="seconds since the measurement's origin, on the axis of the "
                               "run's measurements; None when the run was not measured")
    before_faults: bool = Field(False, description="it was checked before the first fault and the run never "
                                "started: nothing was injected")

    @property
    def verdict(self) -> str:
        return f"ABORTED by stop condition {self.name}"

    def describe(self) -> str:
        """One line: the verdict, what it saw and when."""
        saw = "could not be evaluated" if self.reason == "unevaluable" else "fired"
        when = "before the first fault" if self.before_faults else (
            f"at {self.at_utc}" + (f" (T+{self.at_s:.1f} s)" if self.at_s is not None else ""))
        return f"{self.verdict}: {saw} {when}: {self.value}"


def extension_index(experiment: dict[str, Any]) -> int | None:
    """Where the experiment's `drillkit` extension sits in its `extensions` (None when it has none)."""
    return next((index for index, e in enumerate(experiment.get("extensions") or [])
                 if isinstance(e, dict) and e.get("name") == EXTENSION), None)


def extension_of(experiment: dict[str, Any]) -> dict[str, Any] | None:
    """The experiment's `drillkit` extension, as written (None when it has none)."""
    index = extension_index(experiment)
    return None if index is None else experiment["extensions"][index]
