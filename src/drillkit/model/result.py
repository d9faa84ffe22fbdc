"""A drill run's results (results.json): what the runner saw, enough to score and render it again."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

from drillkit.errors import InvalidInput
from drillkit.model.backup import PolicyCheck
from drillkit.model.measurements import Measurements
from drillkit.model.stop import StopFiring

RESULTS = "results.json"


class RunStatus(StrEnum):
    """How one experiment's run ended: chaoslib's journal status, or what drillkit saw beyond it."""

    COMPLETED = "completed"              # chaoslib's statuses
    FAILED = "failed"
    ABORTED = "aborted"
    INTERRUPTED = "interrupted"
    ROLLBACK_FAILED = "rollback failed"  # drillkit's: a rollback failed, or the safety net had to act
    DEVIATED = "deviated"
    ACTIVITY_FAILED = "activity failed"
    NOT_RUN = "not run"                  # drillkit's: the target lacks what the experiment needs (a drill goes on)
    UNKNOWN = "unknown"


class RunRecord(BaseModel):
    """One repetition of one experiment, as the drill runner saw it."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    experiment: str
    repetition: int
    run_id: str = ""
    status: str                     # a RunStatus value
    rollbacks_ok: bool
    steady_state_ok: bool
    causes: list[str] = Field(default_factory=list)  # why it did not complete: failed activities with their errors
    measurements: Measurements | None = None
    run_dir: str = ""
    stopped_by: StopFiring | None = None  # the stop condition that aborted it (status "aborted")


class DrillRun(BaseModel):
    """Rewritten (atomically) after every run, so an interrupted drill keeps what it measured."""

    model_config = ConfigDict(extra="forbid")

    drill: dict
    objectives: dict
    target: str
    target_name: str = ""
    target_kind: str = ""           # "sandbox", "staging", "production": shown on the report's first screen
    run_dir: str
    started_utc: str
    finished_utc: str | None = None
    aborted: str | None = None
    stopped_by: StopFiring | None = None  # the stop condition that aborted the drill, if one did
    baseline: Measurements | None = None
    runs: list[RunRecord] = Field(default_factory=list)
    run_id: str = ""                # its experiments' faults are logged under <run_id>/<experiment>-<n>
    backup_check: PolicyCheck | None = None  # the backup policy, checked after the experiments
    backup_check_error: str | None = None  # why the policy could not be checked (the server unreachable, …)
    backup_time_scale: float | None = None  # the target's backups.time_scale; None: the target has no backups

    def save(self, run_dir: Path) -> None:
        from drillkit import durable

        durable.write_json(run_dir / RESULTS, self.model_dump(mode="json", by_alias=True))

    @classmethod
    def load(cls, run_dir: Path) -> DrillRun:
        path = run_dir / RESULTS
        try:
            return cls.model_validate_json(path.read_text())
        except (OSError, ValueError) as exc:
            raise InvalidInput(f"{path}: (file): not the results of a drill run: {exc}") from exc
