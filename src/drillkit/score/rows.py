"""The objective rows of the summary. RTO and RPO show the worst run as bounds, the failovers' apart from
the restores' (a restore's "serving" is a verified copy taking a write, not the users' path); the SLO
rows state the objective as the policy does (the error budget per incident and per drill) and show the
raw SLI only as context. "not measured" anywhere makes a row "not measured", which is never "met", and
then the row shows no worst figure: the one it could not see may be worse."""

from __future__ import annotations

from typing import Literal

from drillkit.model.measurements import Budget, Measurements
from drillkit.model.objectives import Objectives
from drillkit.model.report import ObjectiveRow, Verdict
from drillkit.model.result import RunRecord, RunStatus
from drillkit.score import restores, text
from drillkit.score.gates import RANK, timeline_verdict

BudgetKind = Literal["availability", "errors", "latency"]
BUDGET_WORDS: dict[BudgetKind, str] = {"availability": "availability budget", "errors": "error budget",
                                       "latency": "latency budget"}


def objective_rows(records: list[RunRecord], objectives: Objectives, time_scale: float = 1.0) -> list[ObjectiveRow]:
    """TIME_SCALE: the backups' (policy seconds per real second), which a restore's RPO is judged at.
    A run recorded as not run sent no traffic and met no fault: the rows describe what ran (its
    experiment earns nothing and fails the drill on its own)."""
    measured = [r.measurements for r in records if r.status != RunStatus.NOT_RUN]
    failovers = [m for m in measured if m is None or not m.restores]
    restoring = [m for m in measured if m is not None and m.restores]
    rows = [rto_row(failovers, objectives), rpo_row(failovers, objectives)] \
        if failovers or not restoring else []
    if restoring:
        rows += [restore_rto_row(restoring, objectives), restore_rpo_row(restoring, objectives, time_scale)]
    return rows + [availability_row(measured, objectives), error_rate_row(measured, objectives),
                   latency_row(measured, objectives)]


def rto_row(runs: list[Measurements | None], objectives: Objectives) -> ObjectiveRow:
    """Every injected fault's RTO, judged as its gate judges it, shown as bounds; the worst upper bound is
    the row's figure."""
    target = f"< {text.seconds(objectives.rto_seconds)}"
    verdicts: list[Verdict] = []
    worst, shown, reasons = None, "—", []
    for m in runs:
        if m is None or not m.timelines:
            verdicts.append("not measured")
            reasons.append("a run recorded no fault timeline")
            continue
        for t in m.timelines:
            verdict, why = timeline_verdict(t, m, objectives)
            verdicts.append(verdict)
            if verdict != "met":
                reasons.append(why)
            if verdict == "not measured":
                continue
            upper = _rto_upper(t)
            if upper is None:
                worst, shown = float("inf"), text.bounds(t.rto)
            elif worst != float("inf") and (worst is None or upper > worst):
                worst, shown = upper, "no impact" if t.status == "no impact" else text.bounds(t.rto)
    return _row("RTO", target, shown, worst, "s", verdicts, reasons or [f"worst RTO {shown}"])


def rpo_row(runs: list[Measurements | None], objectives: Objectives) -> ObjectiveRow:
    """The failovers' RPO from the ledger: acknowledged data lost before the fault."""
    target = f"< {text.seconds(objectives.rpo_seconds)}"
    verdicts: list[Verdict] = []
    worst, shown, reasons = None, "—", []
    for m in runs:
        r = m.rpo if m is not None else None
        if r is None or r.status != "measured" or r.seconds is None:
            verdicts.append("not measured")
            reasons.append(r.reason if r is not None and r.reason else "a run reconciled no ledger")
            continue
        verdicts.append("not met" if r.at_least or r.seconds > objectives.rpo_seconds else "met")
        if r.at_least:
            reasons.append(f"RPO at least {text.seconds(r.seconds)}: the loss reaches the ledger's first write")
        if worst is None or r.seconds > worst:
            worst, shown = r.seconds, ("≥ " if r.at_least else "") + text.seconds(r.seconds)
    return _row("RPO", target, shown, worst, "s", verdicts, reasons or [f"worst RPO {shown}"])


def restore_rto_row(runs: list[Measurements], objectives: Objectives) -> ObjectiveRow:
    """T0 to a restored copy that is verified and takes a write: the restore's own work, not the users' path."""
    target = f"< {text.seconds(objectives.rto_seconds)} to a verified copy taking writes"
    verdicts: list[Verdict] = []
    worst, shown, reasons = None, "—", []
    for r in (restore for m in runs for restore in m.restores):
        verdict, why = restores.rto_verdict(r, objectives)
        verdicts.append(verdict)
        if verdict != "met":
            reasons.append(why)
        upper = r.rto.upper if r.rto is not None else None
        if verdict == "not met" and upper is None:
            worst, shown = float("inf"), f"{text.bounds(r.rto)} ({r.activity})"
        elif upper is not None and worst != float("inf") and (worst is None or upper > worst):
            worst, shown = upper, f"{text.bounds(r.rto)} ({r.activity})"
    return _row("RTO (restores)", target, shown, worst, "s", verdicts, reasons or [f"worst restore RTO {shown}"])


def restore_rpo_row(runs: list[Measurements], objectives: Objectives, time_scale: float = 1.0) -> ObjectiveRow:
    """Acknowledged writes before the loss that the restored copy lacks, judged at the backups' time scale."""
    target = f"< {restores.objective_words(objectives.rpo_seconds, time_scale)}"
    verdicts: list[Verdict] = []
    worst, shown, reasons = None, "—", []
    for restore in (restore for m in runs for restore in m.restores):
        verdict, why = restores.rpo_verdict(restore, objectives, time_scale)
        verdicts.append(verdict)
        if verdict != "met":
            reasons.append(why)
        seconds = restore.rpo.seconds if restore.rpo is not None and verdict != "not measured" else None
        if seconds is not None and (worst is None or seconds > worst):
            at_least = "≥ " if restore.rpo is not None and restore.rpo.at_least else ""
            placed = f"; {restore.loss_placement}" if restore.loss_placement else ""
            worst, shown = seconds, f"{at_least}{text.seconds(seconds)} ({restore.activity}{placed})"
    return _row("RPO (restores)", target, shown, worst, "s", verdicts, reasons or [f"worst restore RPO {shown}"])


def availability_row(runs: list[Measurements | None], objectives: Objectives) -> ObjectiveRow:
    """Time-based: bad seconds (an outage's unobserved seconds charged as bad) against the allowed downtime."""
    good = sum(1 for m in runs if m for p in m.series if p.state == "good")
    unobserved = sum(i.unobserved_s for m in runs if m for i in m.incidents)
    bad = sum(1 for m in runs if m for p in m.series if p.state == "bad") + unobserved
    value = good / (good + bad) if good + bad else None
    charged = f", {unobserved} s of them inside an outage the instrument could not observe" if unobserved else ""
    context = (f"during the drill {text.share(value, 3)} of observed seconds were good ({bad} s bad of "
               f"{good + bad} s{charged}; the month's objective is ≥ {text.share(objectives.availability, 1)})")
    return _slo_row("availability", context, value, runs, "availability", objectives)


def error_rate_row(runs: list[Measurements | None], objectives: Objectives) -> ObjectiveRow:
    """Request-based: failed requests against all valid requests."""
    requests = sum(m.user_path.requests for m in runs if m)
    failed = sum(m.user_path.requests - m.user_path.succeeded for m in runs if m)
    value = failed / requests if requests else None
    context = (f"during the drill {text.share(value, 3)} of requests failed ({failed} of {requests}; the month's "
               f"objective is < {text.share(objectives.error_rate, 1)})")
    return _slo_row("error rate", context, value, runs, "errors", objectives)


def latency_row(runs: list[Measurements | None], objectives: Objectives) -> ObjectiveRow:
    requests = sum(m.user_path.requests for m in runs if m)
    fast = sum(m.user_path.fast for m in runs if m)
    value = fast / requests if requests else None
    context = (f"during the drill {text.share(value, 2)} of requests were answered well within "
               f"{objectives.latency_threshold_ms:.0f} ms (the month's objective is "
               f"{text.share(objectives.latency_target, 0)})")
    return _slo_row("latency", context, value, runs, "latency", objectives)


def _slo_row(name, context: str, value: float | None, runs: list[Measurements | None], kind: BudgetKind,
             objectives: Objectives) -> ObjectiveRow:
    """The objective is the policy: the drill may consume at most its share of the month's budget, in all and
    in any one incident. The row's figure is the budget consumed; the raw SLI is context."""
    policy = objectives.policy
    budget = BUDGET_WORDS[kind]
    target = (f"≤ {text.share(policy.incident_budget_share, 0)} of the month's {budget} per incident, "
              f"≤ {text.share(policy.drill_budget_share, 0)} per drill")
    used = [_share(m.budget if m else None, kind) for m in runs]
    incidents = [_share(i.budget, kind) for m in runs if m for i in m.incidents]
    missing = _missing(runs, value, kind, used, incidents)
    if missing:
        return ObjectiveRow(name=name, target=target, measured="not measured", context=context if value is not None
                            else "", value=value, unit="ratio", verdict="not measured", reason=missing)
    total = sum(u for u in used if u is not None)
    worst = max((i for i in incidents if i is not None), default=0.0)
    reasons = []
    if total > policy.drill_budget_share:
        reasons.append(f"the drill consumed {text.share(total)} of the month's {budget}; the policy allows "
                       f"{text.share(policy.drill_budget_share, 0)}")
    if worst > policy.incident_budget_share:
        reasons.append(f"one incident consumed {text.share(worst)} of the month's {budget}; the policy "
                       f"allows {text.share(policy.incident_budget_share, 0)} per incident")
    reason = "; ".join(reasons) or "within the policy"
    return ObjectiveRow(name=name, target=target,
                        measured=f"{text.share(total)} of the month's budget (worst incident {text.share(worst)})",
                        context=context, value=value, unit="ratio", budget_consumed=total,
                        worst_incident_budget=worst, verdict="not met" if reasons else "met", reason=reason)


def _missing(runs: list[Measurements | None], value: float | None, kind: BudgetKind,
             used: list[float | None], incidents: list[float | None]) -> str:
    """Why the row cannot be judged, or "": a run without a measured user path (or, for availability,
    without its per-second series), or a budget share nobody measured."""
    if value is None or not runs:
        return "nothing was measured"
    if any(m is None or m.user_path.status != "measured" for m in runs):
        return "a run's user path was not measured"
    if kind == "availability" and any(m is not None and not m.series for m in runs):
        return "a run kept no per-second series: bad seconds cannot be counted"
    if any(u is None for u in used) or any(i is None for i in incidents):
        return f"the {kind} budget consumed was not measured"
    return ""


def _share(budget: Budget | None, kind: BudgetKind) -> float | None:
    return None if budget is None else getattr(budget, kind)


def _rto_upper(t) -> float | None:
    if t.status == "no impact":
        return 0.0
    return t.rto.upper if t.rto is not None else None


def _row(name, target: str, shown: str, worst: float | None, unit, verdicts: list[Verdict],
         reasons: list[str]) -> ObjectiveRow:
    """A row "not measured" shows no worst figure: the one nobody saw may be worse than those shown."""
    verdict: Verdict = max(verdicts, key=RANK.__getitem__, default="not measured")
    if not verdicts:
        reasons = ["no run was measured"]
    if verdict == "not measured":
        seen = f" (of the runs measured, the worst: {shown})" if shown != "—" else ""
        shown, worst = f"not measured{seen}", None
    value = None if worst == float("inf") else worst
    return ObjectiveRow(name=name, target=target, measured=shown, value=value, unbounded=worst == float("inf"),
                        unit=unit, verdict=verdict, reason="; ".join(dict.fromkeys(reasons)))
