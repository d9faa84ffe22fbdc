"""The backup policy and the restore drills in the verdict (docs/scoring.md, "Backups"): whether the
policy held, what it costs the drill when it did not (or was not checked), and each restore's figures
with the verdicts its gates gave them."""

from __future__ import annotations

from drillkit.model.objectives import Objectives
from drillkit.model.report import BackupsReport, DrillDeduction, Finding, RestoreReport, Verdict
from drillkit.model.result import DrillRun, RunRecord
from drillkit.score import restores, text

POLICY = "backup policy"            # how the policy is named among the drill's deductions and findings
POLICY_ITEM_POINTS = 5.0            # per rule of the policy that did not hold
POLICY_CAP = 20.0                   # also what a policy that was not checked costs
POLICY_FIX = "make the backups meet the policy again (the failing rules say which), then check it again"
UNCHECKED_FIX = "make the backup server reachable from drillkit (`drillkit backup check`), then run the drill again"


def time_scale(run: DrillRun) -> float:
    """Policy seconds per real second of the target's backups (1 without backups)."""
    if run.backup_check is not None:
        return run.backup_check.time_scale
    return run.backup_time_scale or 1.0


def has_backups(run: DrillRun) -> bool:
    return run.backup_check is not None or run.backup_check_error is not None or run.backup_time_scale is not None


def policy_verdict(run: DrillRun) -> tuple[Verdict, str] | None:
    """Whether the policy held; None when the target has no backups to hold it."""
    if not has_backups(run):
        return None
    check = run.backup_check
    if check is None:
        return "not measured", run.backup_check_error or "no check was recorded"
    if not check.items:
        return "not measured", "the policy check recorded no rule"
    failed = [f"{item.name}: {item.reason or item.observed}" for item in check.items if not item.ok]
    if failed:
        return "not met", "; ".join(failed)
    return "met", f"{len(check.items)} rules checked on {check.server}, every one held"


def policy_deduction(run: DrillRun) -> DrillDeduction | None:
    """5 points per rule that did not hold, at most 20. A policy that was not checked costs the platform
    nothing: it is a gap in the evidence (score/evidence.py)."""
    judged = policy_verdict(run)
    if judged is None or judged[0] != "not met":
        return None
    verdict, why = judged
    failed = sum(1 for item in run.backup_check.items if not item.ok) if run.backup_check is not None else 0
    points = min(POLICY_CAP, POLICY_ITEM_POINTS * failed)
    return DrillDeduction(experiment=POLICY, points=points,
                          reason=f"{POLICY} {verdict}: {why} ({failed} rules at {POLICY_ITEM_POINTS:g} each)")


def policy_finding(run: DrillRun) -> Finding | None:
    judged = policy_verdict(run)
    if judged is None or judged[0] == "met":
        return None
    verdict, why = judged
    if verdict == "not measured":
        return Finding(experiment="", severity="not measured", text="the backup policy was not checked, so it "
                       "did not pass", cause=why, fix=UNCHECKED_FIX)
    return Finding(experiment="", severity="failed", text="the backups did not hold their policy", cause=why,
                   fix=POLICY_FIX)


def backups_report(run: DrillRun, objectives: Objectives) -> BackupsReport | None:
    """The Backups section; None when the target has no backups and no restore drill ran."""
    found = [restore_report(record, objectives, time_scale(run)) for record in run.runs]
    shown = [r for rs in found for r in rs]
    judged = policy_verdict(run)
    if judged is None and not shown:
        return None
    verdict, why = judged or ("not measured", "the target declares no backups: no policy was checked")
    scale = time_scale(run)
    return BackupsReport(policy=verdict, reason=why, check=run.backup_check, time_scale=scale,
                         time_scale_note=scale_note(scale, run.target_kind), restores=shown)


def restore_report(record: RunRecord, objectives: Objectives, scale: float) -> list[RestoreReport]:
    m = record.measurements
    shown = []
    for r in m.restores if m is not None else []:
        parts = [restores.rto_verdict(r, objectives), restores.rpo_verdict(r, objectives, scale),
                 restores.checks_verdict(r)]
        reasons = [why for v, why in parts if v != "met"] + [why for v, why in parts if v == "met"]
        shown.append(RestoreReport(experiment=record.experiment, repetition=record.repetition, restore=r,
                                   rto=parts[0][0], rpo=parts[1][0], checks=parts[2][0], reasons=reasons,
                                   rpo_objective_s=restores.rpo_bound(objectives, scale)))
    return shown


def scale_note(scale: float, target_kind: str) -> str:
    """The time scale in plain words: 60 reads "policy hours run as real minutes in this sandbox"."""
    where = "in this sandbox" if target_kind == "sandbox" else "on this target"
    if scale == 1:
        return "policy time is real time"
    if scale == 60:
        return f"policy hours run as real minutes {where} (time scale 60)"
    return f"one policy hour runs as {text.seconds(3600 / scale)} of real time {where} (time scale {scale:g})"
