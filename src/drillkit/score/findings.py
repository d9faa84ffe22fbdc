"""Findings written for the reader: what happened, its cause as the run recorded it, what to fix.
Never gate names: a reader should not need docs/scoring.md to understand the first screen."""

from __future__ import annotations

from drillkit.model.report import ExperimentReport, Finding, Gate, ObjectiveRow, RunReport
from drillkit.model.result import RunStatus
from drillkit.score.deductions import EVIDENCE_GATES

SAY = {  # gate -> (what a failure means to a reader, what to fix)
    "rto": ("users were not served well again in time", "shorten recovery: check failover detection and "
            "promotion for this fault, or the slowest phase of the restore"),
    "rpo": ("acknowledged data was lost beyond the RPO", "reduce replication lag or make replication "
            "synchronous for this failure"),
    "split_brain": ("writes confirmed to users after the fault were later lost (split brain)",
                    "stop a primary cut off from its replica from confirming writes: fence it before promoting "
                    "a new one, or replicate synchronously"),
    "unexpected_rows": ("rows appeared that no writer sent", "find what wrote them: the ledger table must "
                        "only hold drillkit's writes"),
    "restore_checks": ("a restored copy did not prove itself whole", "fix the backup or the restore procedure "
                       "the failing check names, then run the restore drill again"),
    "rollbacks": ("the rollbacks failed: the target may be left damaged", "repair the target "
                  "(`drillkit recover`), then fix the rollback"),
    "steady_state": ("users saw trouble the drill's faults do not explain", "find what degraded the service "
                     "outside the fault, then run the drill again"),
    "instrument": ("the measuring instrument fell behind its schedule: those seconds are not evidence",
                   "give the probers a quiet core, or lower their rate"),
}
NOT_MEASURED_FIX = "make the figure measurable and run the drill again: a figure nobody saw cannot pass"


def run_findings(run: RunReport) -> list[Finding]:
    """A fault that was never injected explains the figures it left unmeasured: say it once, with its
    cause, and do not repeat each consequence."""
    if run.status == RunStatus.NOT_RUN:
        return [Finding(experiment=run.experiment, severity="not measured", text=f"{run.experiment}: not run",
                        cause=_causes(run).removeprefix("not run: "),
                        fix="give the target what the experiment needs, or leave the experiment out of this "
                            "target's drill: an experiment not run earns nothing")]
    found = _injections(run)
    if not found and run.status != "completed" and run.causes:
        found.append(Finding(experiment=run.experiment, severity="failed",
                             text=f"{run.experiment}: the run did not complete ({run.status})", cause=_causes(run),
                             fix="remove the cause and run the experiment again"))
    if not run.measured:
        found.append(Finding(experiment=run.experiment, severity="not measured",
                             text=f"{run.experiment}: nothing was measured (run {run.status})",
                             cause=_causes(run) or "the run left no measurements", fix=NOT_MEASURED_FIX))
        return found
    for gate in run.gates:
        if gate.passed or (found and gate.verdict == "not measured"):
            continue
        found.append(_gate_finding(run, gate))
    return found + _warnings(run)


def not_run(e: ExperimentReport) -> Finding:
    """An experiment the drill planned and never ran (it stopped before it)."""
    return Finding(experiment=e.name, severity="not measured", text=f"{e.name}: not run", cause=e.reason,
                   fix="run the drill to its end: an experiment not run is a gap in the evidence")


ROW_FIX = {
    "RTO": "shorten the slowest recovery until every fault recovers within the RTO objective",
    "RPO": "reduce the data lost at failover until the worst RPO is within the objective",
    "RTO (restores)": "shorten the slowest restore (copy, replay, verification) until it serves within the RTO",
    "RPO (restores)": "take backups (or archive WAL) often enough that a loss just before the next backup stays "
                      "within the RPO",
    "availability": "shorten the worst outage: under the policy one incident may cost at most its share of "
                    "the month's downtime",
    "error rate": "fail fewer requests during failover (retries, connection draining) to stay within the "
                  "error-budget policy",
    "latency": "keep requests fast during the fault to stay within the latency-budget policy",
}


def row_findings(rows: list[ObjectiveRow]) -> list[Finding]:
    return [Finding(experiment="", severity="failed" if row.verdict == "not met" else "not measured",
                    text=f"{row.name} objective not met: {row.measured}" if row.verdict == "not met"
                    else f"{row.name} objective not measured", cause=row.reason,
                    fix=ROW_FIX[row.name] if row.verdict == "not met" else NOT_MEASURED_FIX)
            for row in rows if row.verdict != "met"]


def fixes(findings: list[Finding]) -> list[str]:
    return list(dict.fromkeys(f"{f.experiment}: {f.fix}" if f.experiment else f.fix for f in findings if f.fix))


def _injections(run: RunReport) -> list[Finding]:
    found = []
    for t in run.recoveries:
        if t.fault.confirmed is None:
            name = t.fault.activity or t.fault.fault
            cause = t.fault.error or _causes(run) or "its injection was never confirmed"
            found.append(Finding(experiment=run.experiment, severity="failed",
                                 text=f"{run.experiment}: {name} was never injected, so nothing was tested",
                                 cause=cause, fix=f"make {name} injectable on this target ({cause})"))
    return found


def _gate_finding(run: RunReport, gate: Gate) -> Finding:
    meaning, fix = SAY[gate.name]
    if gate.verdict == "not measured":
        return Finding(experiment=run.experiment, severity="not measured",
                       text=f"{run.experiment}: not measured, so not passed: {gate.name.replace('_', ' ')}",
                       cause=gate.reason, fix=NOT_MEASURED_FIX)
    cause = gate.reason if gate.name != "rollbacks" else (_causes(run) or gate.reason)
    severity = "not measured" if gate.name in EVIDENCE_GATES else "failed"  # the tool's, not the platform's
    return Finding(experiment=run.experiment, severity=severity, text=f"{run.experiment}: {meaning}",
                   cause=cause, fix=fix)


def _warnings(run: RunReport) -> list[Finding]:
    found = []
    if run.rpo is not None and run.rpo.lost and not run.rpo.at_least:
        found.append(Finding(experiment=run.experiment, severity="warning",
                             text=f"{run.experiment}: {run.rpo.lost} acknowledged writes were lost",
                             cause=f"RPO {run.rpo.seconds} s"))
    for t in run.recoveries:
        if t.recovery_mode == "after rollbacks":
            found.append(Finding(experiment=run.experiment, severity="warning",
                                 text=f"{run.experiment}: the service came back only after the rollbacks: "
                                      "no automated failover", cause=t.reason or "recovery followed the rollbacks",
                                 fix="make failover automatic for this fault"))
    return found


def _causes(run: RunReport) -> str:
    return "; ".join(run.causes)
