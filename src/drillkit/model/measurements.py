"""What one measurement session observed: the contract between `measure/` (which fills it) and
scoring and the reports (which only read it). docs/measurement.md says what every instant means.

Times are seconds since the session's origin (`origin_monotonic`, `origin_utc`), the moment the probe
process started its schedule, unless a field's name ends in `_after_t0`. A figure that could not be
observed is None together with a `status` of "not measured" and a `reason`: never a zero.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from drillkit.model.backup import RestoreCheck

SCHEMA = "drillkit.measurements/2"

FigureStatus = Literal["measured", "not measured"]
RtoStatus = Literal["measured", "no impact", "not recovered", "not measured"]
RecoveryMode = Literal["before rollbacks", "after rollbacks", "during rollbacks", "no rollbacks"]
SecondState = Literal["good", "bad", "degraded", "thin"]


class Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Bounds(Frozen):
    """An instant or a duration known only to lie between two observations."""

    lower: float
    upper: float | None  # None: not bounded above (the service never came back within the wait)


class Span(Frozen):
    start: float
    end: float
    reason: str = ""


class FaultMark(Frozen):
    """One fault as its activity logged it; T0 is the interval [issued, confirmed]."""

    fault: str                      # as logged: "kill_primary", "partition_region", …
    activity: str = ""              # the experiment's activity that injected it
    issued: float                   # just before the action was issued
    confirmed: float | None         # when the activity confirmed it; None: not injected
    error: str | None = None        # why the injection failed


class ProberHealth(Frozen):
    """The instrument's own account of one prober or ledger writer."""

    name: str                       # "global/write_read", "global/read", "region-a/read", "ledger/w0", …
    interval_s: float
    scheduled: int                  # slots on the schedule
    sent: int                       # requests actually handed to a connection
    answered: int                   # answers received (any status) before the timeout
    send_errors: int = 0            # send tasks that raised: logged, counted, their slot recorded
    lag_p50_ms: float | None = None
    lag_p99_ms: float | None = None
    lag_max_ms: float | None = None


class ProcessUse(Frozen):
    """What the probe process itself consumed while it measured, and the priority it ran at."""

    cpu_s: float                    # CPU seconds, user and system
    measured_s: float               # wall seconds from its first slot to its last
    nice: int                       # its scheduling niceness (0: the default; lower runs first)
    priority: str                   # "raised", or why it was not ("not raised: …")

    @property
    def cpu_share(self) -> float:
        """Of one core, on average."""
        return self.cpu_s / self.measured_s if self.measured_s > 0 else 0.0


class Instrument(Frozen):
    probers: list[ProberHealth]
    degraded: list[Span] = Field(default_factory=list)  # the instrument did not send on schedule
    degraded_s: float = 0.0
    process: ProcessUse | None = None  # None: the probe process did not say (it died, or an older run)


class Sli(Frozen):
    """SLIs over one set of requests. Requests the instrument sent late are excluded (they say
    nothing about the platform); latency percentiles are over successful answers only."""

    status: FigureStatus
    reason: str = ""
    requests: int = 0               # valid requests: sent on time, concluded (answer, error or timeout)
    excluded: int = 0               # sent late by the instrument: neither good nor bad
    succeeded: int = 0
    fast: int = 0                   # succeeded within the latency threshold
    timeouts: int = 0               # shown as "≥ timeout", never as a latency
    availability: float | None = None   # succeeded / requests
    error_rate: float | None = None     # failed / requests
    latency_sli: float | None = None    # fast / requests
    p50_ms: float | None = None
    p95_ms: float | None = None
    p99_ms: float | None = None
    histogram: str = ""             # HdrHistogram of successful latencies, encoded
    note: str = ""                  # what the requests were, when not what the SLI's name says


class Budget(Frozen):
    """Error budget the observed badness consumed, as a share of the period's budget."""

    availability: float | None = None   # bad seconds against the period's allowed downtime
    errors: float | None = None         # failed requests against the allowed error ratio
    latency: float | None = None        # slow requests against the allowed slow ratio


class Incident(Frozen):
    """Sustained badness on the user path, whoever caused it."""

    start: float                    # T_detect: when the first bad request of it was known bad
    end: float | None               # R_upper; None: not over when measurement stopped
    recovery: Bounds                # R: [last bad request's send, answer of the first good one sent after it]
    first_ok: float | None          # first good answer after start
    bad_requests: int
    unobserved_s: int = 0           # seconds inside it the instrument could not judge, charged as bad
    flaps: int = 0
    phase: str = ""                 # "baseline", "steady state", "method", "rollbacks", "after rollbacks"
    attributed_to: str | None = None  # the fault's activity (or fault) name
    attribution: str = ""           # why, or why none
    budget: Budget = Budget()


class FaultTimeline(Frozen):
    """One fault's recovery timeline: instants as seconds after its confirmation (T0's upper end)."""

    fault: FaultMark
    status: RtoStatus
    reason: str = ""
    incident: int | None = None     # index into Measurements.incidents
    rto: Bounds | None = None       # [R_lower − T0_upper, R_upper − T0_lower]
    detect_after_t0: float | None = None
    promoted_after_t0: float | None = None
    first_ok_after_t0: float | None = None
    stable_after_t0: float | None = None
    rollbacks_started_after_t0: float | None = None
    rollbacks_ended_after_t0: float | None = None
    recovery_mode: RecoveryMode | None = None


class SplitBrain(Frozen):
    status: FigureStatus = "measured"  # "not measured": no write was sent right after T0
    reason: str = ""
    count: int = 0                  # writes acknowledged after T0, then lost
    span_s: float | None = None
    first_after_t0: float | None = None
    last_after_t0: float | None = None


class Rpo(Frozen):
    status: FigureStatus
    reason: str = ""
    seconds: float | None = None    # span of acknowledged data lost before T0
    at_least: bool = False          # the loss reaches the ledger's first write: RPO is at least `seconds`
    attempted: int = 0
    acknowledged: int = 0
    indeterminate: int = 0          # timed out, reset or task died: never counted as lost
    lost: int = 0                   # acknowledged before T0, missing
    recovered: int = 0
    unexpected: int = 0
    split_brain: SplitBrain = SplitBrain()
    lost_sample: list[tuple[str, int]] = Field(default_factory=list)  # at most 100
    replication_lag_bytes_max: int | None = None  # an estimate, shown beside the RPO


class RestorePhase(Frozen):
    """One phase of a restore: reached between `after_t0.lower` and `after_t0.upper` seconds after T0
    ([phase lower − T0 confirmed, phase upper − T0 issued])."""

    name: str
    after_t0: Bounds


class Restore(Frozen):
    """One restore drill, measured from its procedure's record (restore.json) and the ledger.

    RTO: T0 (the destructive change, or the declared loss) to "serving". RPO: acknowledged writes
    before the recovery target that the restored copy lacks, counted the Jepsen way (indeterminate
    writes are never lost); writes acknowledged after the target are expected absent, and any present
    are reported."""

    activity: str
    mode: str                       # "point in time", "backups only"
    status: FigureStatus
    reason: str = ""
    recovery_target: str = ""
    loss_placement: str = ""        # where a declared loss was placed against the backup schedule
    backup_chain: list[str] = Field(default_factory=list)
    rto: Bounds | None = None       # None: never serving
    phases: list[RestorePhase] = Field(default_factory=list)
    checks: list[RestoreCheck] = Field(default_factory=list)
    rpo: Rpo | None = None
    newest_recovered_before_t0_s: float | None = None  # T0 − the newest acknowledged write the copy holds
    after_target_present: int = 0   # acknowledged after the target, yet in the copy: the target overshot
    after_target_absent: int = 0
    restored_bytes: int | None = None


class SecondPoint(Frozen):
    t: int                          # second since origin (by the slot's intended time)
    scheduled: int                  # slots on the schedule (a write and its read-back are one slot)
    answered: int                   # slots concluded on time
    ok: float | None                # share succeeded
    p95_ms: float | None            # of successful answers
    state: SecondState


class Measurements(Frozen):
    schema_: str = Field(SCHEMA, alias="schema")
    origin_utc: str
    origin_monotonic: float
    duration_s: float
    stopped: str                    # why measurement stopped: "stable", "recovery limit", "interrupted", …
    settings: dict[str, float | int | bool]
    faults: list[FaultMark] = Field(default_factory=list)
    rollbacks: Span | None = None
    leaders: list[tuple[float, str]] = Field(default_factory=list)  # leader changes observed
    instrument: Instrument
    user_path: Sli                  # the write and its read-back through the global endpoint (reads only, and
    #                                 its `note` says so, on a target without a write probe)
    endpoints: dict[str, Sli] = Field(default_factory=dict)
    budget: Budget = Budget()
    incidents: list[Incident] = Field(default_factory=list)
    timelines: list[FaultTimeline] = Field(default_factory=list)
    rpo: Rpo | None = None          # None: no ledger in this session (a baseline)
    restores: list[Restore] = Field(default_factory=list)
    series: list[SecondPoint] = Field(default_factory=list)
    files: dict[str, str] = Field(default_factory=dict)

    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True)

    def headline(self) -> FaultTimeline | None:
        """The timeline the experiment's RTO is read from: the fault an incident is attributed to,
        else the first fault injected."""
        attributed = [t for t in self.timelines if t.incident is not None]
        injected = [t for t in self.timelines if t.fault.confirmed is not None]
        candidates = attributed or injected
        return candidates[0] if candidates else None
