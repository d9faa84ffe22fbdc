"""What one restore drill proved: its RTO, its RPO and its checks, each a verdict with a reason that
names the restore's activity. The gates, the objective rows and the report's Backups section all read
these, so a restore is judged the same way everywhere (docs/scoring.md, "Restores").

The RTO is real work (copying and replaying), judged in real seconds against the RTO objective. The RPO
depends on the backup schedule, which a sandbox runs faster (`time_scale`): it is judged against the RPO
objective in real seconds at that scale (1 h at time scale 60 is 60 s), as the policy check does."""

from __future__ import annotations

from drillkit.model.measurements import Restore
from drillkit.model.objectives import Objectives
from drillkit.model.report import Verdict
from drillkit.score import text

NOT_MEASURED: Verdict = "not measured"


def rpo_bound(objectives: Objectives, time_scale: float) -> float:
    """The RPO objective in real seconds at the backups' time scale."""
    return objectives.rpo_seconds / time_scale


def rto_verdict(r: Restore, objectives: Objectives) -> tuple[Verdict, str]:
    if r.status != "measured":
        return NOT_MEASURED, f"{r.activity}: restore RTO not measured: {r.reason or 'no reason recorded'}"
    if r.rto is None or r.rto.upper is None:
        reached = r.phases[-1].name if r.phases else "nothing"
        return "not met", f"{r.activity}: the restored copy never served (last phase reached: {reached})"
    met = r.rto.upper <= objectives.rto_seconds
    return ("met" if met else "not met"), (f"{r.activity}: restore RTO {text.bounds(r.rto)}, objective "
                                          f"{text.seconds(objectives.rto_seconds)}")


def rpo_verdict(r: Restore, objectives: Objectives, time_scale: float = 1.0) -> tuple[Verdict, str]:
    rpo = r.rpo
    if r.status != "measured" or rpo is None or rpo.status != "measured" or rpo.seconds is None:
        why = (rpo.reason if rpo is not None and rpo.reason else "") or r.reason or "the copy was not compared " \
            "with the ledger"
        return NOT_MEASURED, f"{r.activity}: restore RPO not measured: {why}"
    bound = rpo_bound(objectives, time_scale)
    if rpo.at_least:
        return "not met", (f"{r.activity}: restore RPO at least {text.seconds(rpo.seconds)}: the loss reaches the "
                           "ledger's first write, so the true RPO is unknown")
    met = rpo.seconds <= bound
    return ("met" if met else "not met"), (f"{r.activity}: restore RPO {text.seconds(rpo.seconds)} "
                                          f"({rpo.lost} acknowledged writes before the target missing), objective "
                                          f"{objective_words(objectives.rpo_seconds, time_scale)}")


def checks_verdict(r: Restore) -> tuple[Verdict, str]:
    """Met when the restore recorded its checks, every one passed, and no write acknowledged after the
    recovery target is in the copy (the target overshot)."""
    if r.status != "measured":
        return NOT_MEASURED, f"{r.activity}: restore not measured: {r.reason or 'no reason recorded'}"
    if not r.checks:
        return NOT_MEASURED, f"{r.activity}: the restore recorded no checks: nothing proves the copy is whole"
    failing = [f"{c.name} failed ({c.detail})" for c in r.checks if not c.ok]
    if r.after_target_present:
        failing.append(f"{r.after_target_present} writes acknowledged after the recovery target are in the copy")
    if failing:
        return "not met", f"{r.activity}: " + "; ".join(failing)
    return "met", f"{r.activity}: {len(r.checks)} checks passed; no write after the recovery target in the copy"


def objective_words(rpo_seconds: float, time_scale: float) -> str:
    """"1 h", or "1 h (60.0 s at time scale 60)" when the backups run faster than real time."""
    if time_scale == 1:
        return text.seconds(rpo_seconds)
    return f"{text.seconds(rpo_seconds)} ({text.seconds(rpo_seconds / time_scale)} at time scale {time_scale:g})"
