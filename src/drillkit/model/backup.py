"""Backups: the policy they must hold (drills/backup-policy.yaml), what a policy check found, and what a
restore procedure recorded while it ran.

The policy is written in the platform's real units (a full backup every 24 h, an incremental every hour).
A sandbox may run time faster: with `time_scale: 60` one policy hour lasts one real minute. Every
figure a check or a restore reports is real, observed seconds; the scale is shown beside it.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, WithJsonSchema, model_validator

from drillkit.model.files import read_mapping, validate_mapping

POLICY_SCHEMA = "drillkit.backup-check/1"
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhd])\s*$")


def parse_duration(value: object) -> float:
    """Seconds from "90s", "15m", "24h", "7d" or a plain number of seconds."""
    if isinstance(value, bool):
        raise ValueError("a duration is a number of seconds or a string such as 15m, 1h, 7d")
    if isinstance(value, int | float):
        return float(value)
    match = _DURATION.match(str(value))
    if not match:
        raise ValueError(f"{value!r} is not a duration: write a number of seconds or 30s, 15m, 1h, 7d")
    return float(match.group(1)) * _UNITS[match.group(2)]


Seconds = Annotated[float, BeforeValidator(parse_duration), Field(gt=0), WithJsonSchema({"anyOf": [
    {"type": "number", "exclusiveMinimum": 0},
    {"type": "string", "pattern": r"^\s*\d+(\.\d+)?\s*[smhd]\s*$", "examples": ["90s", "15m", "24h", "7d"]}]})]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class BackupPolicy(_Strict):
    """What the platform's backups must be, in its real units."""

    full_every: Seconds = Field(description="the newest full backup is never older than this (24h)")
    incremental_every: Seconds = Field(description="the newest backup of any kind is never older than this (1h)")
    retention: Seconds = Field(description="a point in time this old must still be restorable (7d)")
    max_wal_lag: Seconds = Field(description="the WAL stream to the backup server never lags more than this")
    rpo: Seconds = Field(description="the newest restorable point is never older than this: the RPO objective")
    encrypted: bool = Field(True, description="backups and archived WAL are encrypted at rest")

    @model_validator(mode="after")
    def _incrementals_between_fulls(self) -> BackupPolicy:
        if self.incremental_every > self.full_every:
            raise ValueError("incremental_every must not exceed full_every")
        return self

    def scaled(self, time_scale: float) -> BackupPolicy:
        """The same policy in real seconds of a clock TIME_SCALE times faster."""
        return self.model_copy(update={name: getattr(self, name) / time_scale for name in
                                       ("full_every", "incremental_every", "retention", "max_wal_lag", "rpo")})


def load_policy(path: Path) -> BackupPolicy:
    return validate_mapping(BackupPolicy, read_mapping(path), path)


# -- a policy check -------------------------------------------------------------------------------

CheckName = Literal[
    "newest full", "newest incremental", "WAL continuity", "backups verified", "restorable point",
    "WAL stream", "encryption at rest", "retention",
]


class CheckItem(_Strict):
    """One rule of the policy: held or not, with what was observed."""

    name: CheckName
    ok: bool
    observed: str                  # what was seen, in words and figures ("newest full 3 min 10 s old")
    reason: str = ""               # why it failed; "" when it held


class BackupInfo(_Strict):
    """One backup of the catalogue, as the backup server lists it."""

    id: str
    kind: Literal["full", "incremental"]
    status: str                    # "DONE", "FAILED", "STARTED", … as Barman says
    begin_utc: str | None = None
    end_utc: str | None = None
    size_bytes: int | None = None
    parent: str | None = None      # the backup an incremental builds on
    timeline: int | None = None
    begin_wal: str | None = None
    end_wal: str | None = None
    encrypted: bool = False


class PolicyCheck(_Strict):
    """`drillkit backup check`: every rule, and whether the policy held. Written as JSON for pipelines."""

    schema_: str = Field(POLICY_SCHEMA, alias="schema")
    checked_utc: str
    policy_file: str
    time_scale: float = 1.0        # policy seconds per real second; the figures are real seconds
    server: str
    items: list[CheckItem]
    backups: list[BackupInfo] = Field(default_factory=list)
    newest_restorable_utc: str | None = None

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    @property
    def held(self) -> bool:
        return bool(self.items) and all(item.ok for item in self.items)


# -- a restore, as its procedure recorded it --------------------------------------------------------

PhaseName = Literal["restore started", "base backup restored", "WAL replayed", "verified", "serving"]
PHASES: tuple[PhaseName, ...] = ("restore started", "base backup restored", "WAL replayed", "verified", "serving")
RestoreMode = Literal["point in time", "backups only"]


class PhaseMark(_Strict):
    """When one phase of a restore was reached, known to lie between two monotonic instants: the last
    observation that it had not happened yet and the first that it had."""

    name: PhaseName
    lower: float
    upper: float


class RestoreCheck(_Strict):
    """One thing a restore test must prove (checksums and pg_verifybackup, WAL chain continuous, marker
    before the target present, marker after it absent, row counts per table)."""

    name: str
    ok: bool
    detail: str


class RestoreRecord(_Strict):
    """restore.json in the run folder: written durably after each phase, so a killed restore keeps what
    it reached. Instants are monotonic seconds (the measurement session's clock)."""

    activity: str
    mode: RestoreMode
    t0_issued: float               # the destructive change (or the declared loss) was issued
    t0_confirmed: float            # ... and confirmed committed
    t0_utc: str
    recovery_target: str           # an ISO time, or "end of the newest backup"
    loss_placement: str = ""       # where a declared loss was placed against the backup schedule
    backup_id: str = ""
    backup_chain: list[str] = Field(default_factory=list)  # full first, then its incrementals
    backup_begin_utc: str | None = None  # every write committed before it is certainly in the backup
    backup_end_utc: str | None = None
    instance: str = ""             # where the restored copy ran (address:port)
    phases: list[PhaseMark] = Field(default_factory=list)
    checks: list[RestoreCheck] = Field(default_factory=list)
    restored_ledger: dict[str, list[int]] | None = None  # the restored copy's ledger rows, by writer
    restored_bytes: int | None = None  # size of the restored database cluster
    error: str | None = None
    finished: bool = False
