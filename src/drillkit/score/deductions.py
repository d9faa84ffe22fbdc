"""What one run's observed harm costs the platform, in points (docs/scoring.md). Each deduction grows
with the size of the harm up to a documented cap. A harm that was not measured costs the platform
nothing and earns nothing: it is listed as unjudged, and lowers the evidence instead (score/evidence.py).
The instrument's own lag is never the platform's: it is evidence only."""

from __future__ import annotations

import math

from drillkit.model.measurements import Measurements, Rpo
from drillkit.model.objectives import Objectives
from drillkit.model.report import Deduction, Gate
from drillkit.score import text

GATE_POINTS = 40.0
BUDGET_CAP = 20.0      # 1 point per 1 % of the period's error budget
LOSS_CAP = 20.0        # 5 × log10(1 + writes): 5 writes 3.9, 50 writes 8.5, 500 writes 13.5
RTO_CAP = 10.0         # 10 × worst RTO upper bound / RTO objective
FLAP_POINTS, FLAP_CAP = 2.0, 10.0
EVIDENCE_GATES = ("instrument",)  # gates about the tool, not the platform


def run_deductions(m: Measurements | None, gates: list[Gate], objectives: Objectives) -> list[Deduction]:
    """Every deduction of the run, the unjudged ones (not measured, 0 points) included: `platform` and
    `unjudged` split them."""
    found = [Deduction(points=GATE_POINTS, cap=GATE_POINTS, harm=1, unit="gate",
                       reason=f"gate {g.name} {g.verdict}: {g.reason}")
             for g in gates if g.verdict == "not met" and g.name not in EVIDENCE_GATES]
    if m is None:
        return found + [_unmeasured(cap, what) for cap, what in UNMEASURED_ALL]
    return found + [budget(m), lost_writes(m), split_brain_writes(m), rto(m, objectives), flaps(m)]


def platform(deductions: list[Deduction]) -> list[Deduction]:
    """What the platform was charged for: observed harm only."""
    return [d for d in deductions if d.measured and d.points > 0]


def unjudged(deductions: list[Deduction]) -> list[str]:
    """What could not be judged, in the deductions' words."""
    return [d.reason for d in deductions if not d.measured]


def budget(m: Measurements) -> Deduction:
    shares = [m.budget.availability, m.budget.errors, m.budget.latency]
    if any(s is None for s in shares):
        return _unmeasured(BUDGET_CAP, "error budget consumed")
    worst = max(s for s in shares if s is not None)
    return _capped(100 * worst, BUDGET_CAP, worst, "share of budget",
                   f"consumed {text.share(worst)} of the period's error budget (the largest of availability, "
                   "errors and latency)")


def lost_writes(m: Measurements) -> Deduction:
    """Acknowledged writes lost before the fault, and those before a restore's recovery target that the
    restored copy lacks: one count, one deduction, over every figure that was measured (a gap beside them is
    the evidence's, and never hides the loss that was seen)."""
    seen = [f for f in loss_figures(m) if f is not None and f.status == "measured"]
    if not seen:
        return _unmeasured(LOSS_CAP, "lost acknowledged writes")
    lost = sum(f.lost for f in seen)
    where = "before the fault" + (" or missing from a restored copy" if m.restores else "")
    return _capped(_log_points(lost), LOSS_CAP, lost, "writes", f"{lost} acknowledged writes lost {where}")


def loss_figures(m: Measurements) -> list[Rpo | None]:
    """The ledger figures a run's lost writes are counted from: a restore drill's restored copies (its own
    ledger is vacuous: the rollback puts the rows back, or the loss is only declared), else its own ledger."""
    return [r.rpo for r in m.restores] if m.restores else [m.rpo]


def split_brain_writes(m: Measurements) -> Deduction:
    if m.restores:
        return _capped(0, LOSS_CAP, 0, "writes", "a restore drill has no failover to lose writes after")
    if m.rpo is None or m.rpo.status != "measured" or m.rpo.split_brain.status != "measured":
        return _unmeasured(LOSS_CAP, "split-brain loss")
    count = m.rpo.split_brain.count
    return _capped(_log_points(count), LOSS_CAP, count, "writes",
                   f"{count} writes acknowledged after the fault and then lost (split brain)")


def rto(m: Measurements, objectives: Objectives) -> Deduction:
    """The worst RTO upper bound (a fault's recovery or a restore's time to serving) against the objective,
    over what was measured; no impact costs nothing. Only when nothing was measured is it unjudged."""
    injected = [t for t in m.timelines if t.fault.confirmed is not None and t.status != "not measured"]
    restored = [r for r in m.restores if r.status == "measured"]
    if not injected and not restored:
        return _unmeasured(RTO_CAP, "RTO")
    if any(t.status == "not recovered" or (t.rto and t.rto.upper is None) for t in injected):
        return _capped(RTO_CAP, RTO_CAP, None, "s", "users were not served well again within the wait")
    if any(r.rto is None or r.rto.upper is None for r in restored):
        return _capped(RTO_CAP, RTO_CAP, None, "s", "a restored copy never served")
    uppers = [t.rto.upper for t in injected if t.rto is not None and t.rto.upper is not None]
    uppers += [r.rto.upper for r in restored if r.rto is not None and r.rto.upper is not None]
    worst = max(uppers, default=0.0)
    return _capped(10 * worst / objectives.rto_seconds, RTO_CAP, worst, "s",
                   f"worst RTO upper bound {text.seconds(worst)} used {text.share(worst / objectives.rto_seconds)} "
                   "of the objective")


def flaps(m: Measurements) -> Deduction:
    count = sum(i.flaps for i in m.incidents)
    return _capped(FLAP_POINTS * count, FLAP_CAP, count, "flaps", f"recovery flapped {count} times")


def _log_points(count: int) -> float:
    return 5 * math.log10(1 + count)


def _capped(points: float, cap: float, harm: float | None, unit: str, reason: str) -> Deduction:
    return Deduction(points=round(min(cap, points), 2), cap=cap, harm=harm, unit=unit, reason=reason)


def _unmeasured(cap: float, what: str) -> Deduction:
    return Deduction(points=0.0, cap=cap, harm=None, measured=False, reason=f"{what}: not measured")


UNMEASURED_ALL = [(BUDGET_CAP, "error budget consumed"), (LOSS_CAP, "lost acknowledged writes"),
                  (LOSS_CAP, "split-brain loss"), (RTO_CAP, "RTO")]
