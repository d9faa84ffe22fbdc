"""The evidence's verdict: what the drill ran and could judge, apart from what the platform did.

An experiment planned and not run, a gate "not measured", a harm nobody could see, an objective row or the
backup policy left unjudged, the instrument falling behind its schedule: each is a gap in the evidence. A
gap makes the drill "incomplete"; it never costs the platform a point (docs/scoring.md, "Two verdicts")."""

from __future__ import annotations

from drillkit.model.report import Baseline, Evidence, EvidenceGap, ExperimentReport, ObjectiveRow
from drillkit.score import text


def evidence(experiments: list[ExperimentReport], rows: list[ObjectiveRow],
             policy: tuple[str, str] | None, baseline: Baseline | None = None) -> Evidence:
    """POLICY: the backup policy's verdict and reason (None: the target has no backups). A BASELINE that is
    not valid leaves nothing to judge the faults against: a gap too."""
    gaps = [EvidenceGap(experiment="", what="baseline", reason=baseline.reason)] \
        if baseline is not None and not baseline.valid else []
    gaps += [gap for e in experiments for gap in _experiment_gaps(e)]
    gaps += [EvidenceGap(experiment="", what=f"{row.name} objective", reason=row.reason)
             for row in rows if row.verdict == "not measured"]
    if policy is not None and policy[0] == "not measured":
        gaps.append(EvidenceGap(experiment="", what="backup policy", reason=policy[1]))
    weight = sum(e.weight for e in experiments)
    coverage = round(sum(e.coverage * e.weight for e in experiments) / weight, 4) if weight else 0.0
    ran = [e for e in experiments if e.status != "not run"]
    judged = [e for e in ran if not _experiment_gaps(e)]
    summary = (f"{len(ran)} of {len(experiments)} experiments run, {len(judged)} of them judged in full; "
               f"{text.share(coverage, 0)} of the planned checks judged")
    return Evidence(verdict="incomplete" if gaps or not experiments else "complete", coverage=coverage,
                    planned=len(experiments), run=len(ran), judged=len(judged), summary=summary, gaps=gaps)


def _experiment_gaps(e: ExperimentReport) -> list[EvidenceGap]:
    if e.status == "not run":
        return [EvidenceGap(experiment=e.name, what="not run", reason=e.reason)]
    return [EvidenceGap(experiment=e.name, what=f"run {run.repetition}", reason=why)
            for run in e.runs for why in dict.fromkeys(run.unjudged)]
