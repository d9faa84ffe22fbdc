"""The service level objectives a drill is judged against, and the policy that judges its SLO rows
(probes/objectives.yaml; docs/scoring.md explains each figure)."""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

from drillkit.model.files import read_mapping, validate_mapping


class BudgetPolicy(BaseModel):
    """How much of the period's error budget a drill may consume before an SLO row reads "not met".

    The defaults follow the Google SRE workbook: its fast-burn page fires when 2 % of a 30-day budget
    burns within one hour, so a single incident that consumes more would have paged; its error-budget
    policy asks for a postmortem when a single event consumes more than 20 % of the budget, and a drill
    is planned as one event."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    incident_budget_share: float = Field(
        0.02, gt=0, le=1, description="the largest share of the period's budget one incident may consume")
    drill_budget_share: float = Field(
        0.20, gt=0, le=1, description="the largest share of the period's budget the whole drill may consume")
    instrument_degraded_share: float = Field(
        0.05, ge=0, lt=1, description="the largest share of a run's seconds the instrument may be degraded")


class Objectives(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    availability: float = Field(0.999, gt=0, lt=1, description="good seconds / observed seconds over the period")
    latency_threshold_ms: float = Field(500, gt=0, description="a request slower than this is not good")
    latency_target: float = Field(0.95, gt=0, le=1, description="share of requests under the threshold")
    error_rate: float = Field(0.001, gt=0, lt=1, description="failed / valid requests")
    rto_seconds: float = Field(4 * 3600, gt=0, description="recovery time objective")
    rpo_seconds: float = Field(3600, ge=0, description="recovery point objective")
    budget_period_days: float = Field(30, gt=0, description="the error budget's period")
    policy: BudgetPolicy = Field(BudgetPolicy(), description="when an SLO row of a drill reads not met")


def load_objectives(path: Path) -> Objectives:
    return validate_mapping(Objectives, read_mapping(path), path)
