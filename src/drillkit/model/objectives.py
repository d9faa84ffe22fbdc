"""The service level objectives a drill is judged against (probes/objectives.yaml)."""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

from drillkit.model.files import read_mapping, validate_mapping


class Objectives(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    availability: float = Field(0.999, gt=0, lt=1, description="good / valid requests over the period")
    latency_threshold_ms: float = Field(500, gt=0, description="a request slower than this is not good")
    latency_target: float = Field(0.95, gt=0, le=1, description="share of requests under the threshold")
    error_rate: float = Field(0.001, gt=0, lt=1, description="failed / valid requests")
    rto_seconds: float = Field(4 * 3600, gt=0, description="recovery time objective")
    rpo_seconds: float = Field(3600, ge=0, description="recovery point objective")
    budget_period_days: float = Field(30, gt=0, description="the error budget's period")


def load_objectives(path: Path) -> Objectives:
    return validate_mapping(Objectives, read_mapping(path), path)
