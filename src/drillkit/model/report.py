"""The scored drill (report.json): what `drillkit.score.score` returns and every rendering reads.

The report holds figures, verdicts and sentences, never raw samples: the per-second series is kept
only as chart points, downsampled to a fixed number (the raw series stays in measurements.json).
Its JSON Schema is generated from these models (`drillkit schemas`, docs/schemas/report.schema.json).
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from drillkit.errors import EXIT_ABORTED, EXIT_BREACHED, EXIT_PASS
from drillkit.model.backup import PolicyCheck
from drillkit.model.measurements import FaultTimeline, Incident, Restore, Rpo, SecondState, Sli, Span
from drillkit.model.objectives import Objectives
from drillkit.model.stop import StopFiring

SCHEMA = "drillkit.report/3"
SANDBOX_NOTE = "sandbox run: not evidence about production"

Grade = Literal["A", "B", "C", "D", "F"]
Status = Literal["passed", "failed", "incomplete", "aborted", "invalid"]
ExperimentStatus = Literal["passed", "failed", "incomplete", "not run"]
Verdict = Literal["met", "not met", "not measured"]
GateName = Literal["rto", "rpo", "split_brain", "unexpected_rows", "restore_checks", "rollbacks", "steady_state",
                   "instrument"]


class Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Gate(Frozen):
    """One hard gate of one run. A figure that was not measured fails its gate as "not measured"."""

    name: GateName
    verdict: Verdict
    reason: str
    unjudged: list[str] = Field(default_factory=list)  # parts not measured beside a failure that was observed

    @property
    def passed(self) -> bool:
        return self.verdict == "met"


class Deduction(Frozen):
    """Points one run lost, and why. `harm` is the size of what went wrong, in `unit`."""

    points: float
    cap: float
    reason: str
    harm: float | None = None       # None: not measured, or unbounded (a fault that never recovered)
    unit: str = ""
    measured: bool = True           # False: the harm could not be seen; 0 points, a gap in the evidence


class ChartPoint(Frozen):
    """One bucket of the per-second series (one second, or several when downsampled): the worst of it."""

    t: float                        # seconds after the headline fault's T0 (or after the origin without one)
    span_s: float                   # seconds this point covers
    ok: float | None                # lowest success share in the bucket
    p95_ms: float | None            # highest p95 in the bucket
    state: SecondState              # the worst state: bad > degraded > thin > good


class Chart(Frozen):
    points: list[ChartPoint] = Field(default_factory=list)
    raw_seconds: int = 0            # per-second points the measurement held
    t0_utc: str = ""
    fault_window: tuple[float, float] | None = None      # [T0, rollbacks ended] after T0
    degraded: list[tuple[float, float]] = Field(default_factory=list)  # instrument degraded, after T0
    instants: dict[str, float] = Field(default_factory=dict)  # "T0", "detect", "promoted", "first ok", "stable"


class ProberFigures(Frozen):
    name: str
    scheduled: int
    sent: int
    answered: int
    send_errors: int
    lag_p99_ms: float | None
    lag_max_ms: float | None


class InstrumentFigures(Frozen):
    degraded_s: float
    degraded: list[Span] = Field(default_factory=list)
    probers: list[ProberFigures] = Field(default_factory=list)
    send_lag_p99_ms: float | None = None   # the worst prober's
    cpu_share: float | None = None         # the probe process's CPU, of one core on average; None: not said
    priority: str = ""                     # "nice -10", or "nice 0 (not raised: …)"


class RunReport(Frozen):
    """One repetition: its gates, its deductions (which make its score) and everything measured."""

    experiment: str
    repetition: int
    run_id: str = ""
    run_dir: str = ""
    status: str
    causes: list[str] = Field(default_factory=list)
    stopped_by: StopFiring | None = None  # the stop condition that aborted this run
    measured: bool                  # False: the run left no measurements at all
    stopped: str = ""
    duration_s: float | None = None
    timeout_s: float | None = None  # the probers' request timeout: a timeout reads "≥ timeout_s"
    gates: list[Gate]
    deductions: list[Deduction]     # the platform's: observed harm only
    unjudged: list[str] = Field(default_factory=list)  # gates and harms the run could not judge: evidence
    score: float                    # the platform's: max(0, 100 − sum of the deductions' points)
    coverage: float = 1.0           # share of the platform's gates that were judged
    platform_failed: bool = False   # a platform gate observed "not met"
    passed: bool                    # every gate met: the platform held and the evidence is complete
    recoveries: list[FaultTimeline] = Field(default_factory=list)
    rpo: Rpo | None = None
    restores: list[Restore] = Field(default_factory=list)  # restore drills: shown in the Backups section
    user_path: Sli | None = None
    endpoints: dict[str, Sli] = Field(default_factory=dict)
    instrument: InstrumentFigures | None = None
    incidents: list[Incident] = Field(default_factory=list)
    budget_consumed: dict[str, float | None] = Field(default_factory=dict)  # "availability", "errors", "latency"
    chart: Chart = Chart()


class ExperimentReport(Frozen):
    """An experiment is scored by its worst judged repetition: the score shown and the deductions listed
    are that run's, so they always add up. One never run (or never judged) has no platform score."""

    name: str
    weight: float
    score: float | None             # None: no run of it was judged
    scored_repetition: int
    deductions: list[Deduction]     # the scored run's
    status: ExperimentStatus = "passed"
    reason: str = ""                # why it is not "passed"
    coverage: float = 1.0           # its worst run's share of gates judged (0: not run)
    passed: bool
    runs: list[RunReport]


class DrillDeduction(Frozen):
    """What one experiment cost the drill's score: (100 − its score) × its weight / the total weight."""

    experiment: str
    points: float
    reason: str


RowName = Literal["RTO", "RPO", "RTO (restores)", "RPO (restores)", "availability", "error rate", "latency"]


class ObjectiveRow(Frozen):
    """One objective: the objective as the policy states it, what the drill measured against it, and the
    verdict. An SLO row's objective is its error-budget policy; the raw SLI is `context`, never the row's
    figure, so no row says "met" beside a number that breaks the target it shows."""

    name: RowName
    target: str
    measured: str                   # as shown: "[26.1, 28.4] s", "1.1 % of the month's budget", "—"
    context: str = ""               # the raw figure behind a budget: "80.505 % of seconds good (55 s bad …)"
    value: float | None             # the worst figure (seconds, or a ratio); None: not measured, or unbounded
    unbounded: bool = False         # the worst never ended within the wait (a fault never recovered)
    unit: Literal["s", "ratio"]
    budget_consumed: float | None = None        # the drill's share of the month's error budget
    worst_incident_budget: float | None = None  # the largest share one incident consumed
    verdict: Verdict
    reason: str


class Finding(Frozen):
    """One fact for the reader, with its cause as the run recorded it, and what to do about it."""

    experiment: str
    severity: Literal["failed", "not measured", "warning"]
    text: str
    cause: str = ""
    fix: str = ""


class Baseline(Frozen):
    valid: bool
    reason: str
    duration_s: float | None = None
    user_path: Sli | None = None
    incidents: list[Incident] = Field(default_factory=list)


class RestoreReport(Frozen):
    """One restore drill as the Backups section shows it: the measured restore, and the verdicts its RTO,
    RPO and checks earned in the run's gates."""

    experiment: str
    repetition: int
    restore: Restore
    rto: Verdict
    rpo: Verdict
    checks: Verdict
    reasons: list[str] = Field(default_factory=list)  # the verdicts' reasons, failing ones first
    rpo_objective_s: float          # the RPO objective in real seconds at the backups' time scale


class BackupsReport(Frozen):
    """The backup policy, whether it held, and the restore drills (docs/scoring.md, "Backups")."""

    policy: Verdict                 # "met": the policy held; "not measured": it was not checked
    reason: str
    check: PolicyCheck | None = None
    time_scale: float = 1.0         # policy seconds per real second; every figure is real seconds
    time_scale_note: str = ""       # in words: "policy hours run as real minutes in this sandbox"
    restores: list[RestoreReport] = Field(default_factory=list)


class HistoryEntry(Frozen):
    """One line of reports/history.jsonl. Figures of a drill whose evidence was incomplete are None: the
    worst of the experiments that happened to run is not the drill's worst."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    drill: str
    quarter: str = ""
    started_utc: str
    run_dir: str = ""
    status: str = ""
    score: float | None = None      # the platform's
    grade: str = ""
    evidence: str = ""              # "complete", "incomplete"; "" in entries written before it was kept
    coverage: float | None = None
    target_kind: str = ""
    target: str = ""  # the target's name: runs against other targets are not this run's trend
    worst_rto_s: float | None = None          # failover; None when not measured or unbounded
    worst_rto_unbounded: bool = False         # a fault never recovered within the wait
    worst_rpo_s: float | None = None
    worst_restore_rto_s: float | None = None
    worst_restore_rpo_s: float | None = None
    lost_writes: int | None = None            # failover and restore losses alike

    @property
    def comparable(self) -> bool:
        """A trend's regression compares complete drills only: an aborted or partial one scored what happened
        to run."""
        return self.evidence == "complete" and self.status in ("passed", "failed") and self.score is not None


class Trend(Frozen):
    runs: list[HistoryEntry]        # earlier runs of this drill, oldest first, then this one
    regressions: list[str] = Field(default_factory=list)
    note: str = ""                  # why no comparison was made


class EvidenceGap(Frozen):
    """One thing the drill could not judge: an experiment not run, a figure not measured, a check not made."""

    experiment: str                 # "" for the drill's own (the backup policy, an objective row)
    what: str
    reason: str


class Evidence(Frozen):
    """The evidence's verdict: what was run and measured, apart from what the platform did. What the tool
    could not see lowers this, never the platform's grade."""

    verdict: Literal["complete", "incomplete"]
    coverage: float                 # weighted share of the planned experiments' platform gates judged
    planned: int                    # experiments the drill planned
    run: int                        # of them, run
    judged: int                     # of them, with every gate judged
    summary: str
    gaps: list[EvidenceGap] = Field(default_factory=list)


class Report(Frozen):
    schema_: str = Field(SCHEMA, alias="schema")
    drill: str
    description: str = ""
    target: str
    target_name: str = ""
    target_kind: str = ""
    scope_note: str = ""            # SANDBOX_NOTE for a sandbox run
    run_dir: str
    run_id: str = ""                # the drill's run id (its experiments' are <run_id>/<experiment>-<n>)
    started_utc: str
    finished_utc: str | None = None
    status: Status
    status_reason: str = ""
    stopped_by: StopFiring | None = None  # the stop condition that aborted the drill
    platform: str = ""              # the platform's verdict in one sentence
    score: float | None             # the platform's, on what was judged; None: nothing was judged
    grade: Grade | None
    grade_from_score: Grade | None
    grade_cap: str = ""             # why the grade is lower than the score's letter
    evidence: Evidence
    deductions: list[DrillDeduction]
    objectives: list[ObjectiveRow]
    objectives_config: Objectives   # what the drill was judged against, the SLO rows' policy included
    findings: list[Finding]
    fixes: list[str]
    baseline: Baseline | None = None
    experiments: list[ExperimentReport]
    backups: BackupsReport | None = None  # None: the target has no backups and no restore drill ran
    trend: Trend

    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True)

    @property
    def passed(self) -> bool:
        return self.status == "passed"

    def exit_code(self) -> int:
        """0 passed, 1 an objective breached or not measured (incomplete), 3 aborted or invalid (never a pass)."""
        return {"passed": EXIT_PASS, "failed": EXIT_BREACHED, "incomplete": EXIT_BREACHED}.get(self.status,
                                                                                               EXIT_ABORTED)

    def to_json(self) -> str:
        return self.model_dump_json(by_alias=True, indent=2) + "\n"
