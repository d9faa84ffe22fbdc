"""Scoring a drill: a pure function of what was measured and the objectives (docs/scoring.md).

Each run of an experiment passes or fails six hard gates and loses points for what it cost; an
experiment's score is the median of its runs, its gates the worst; the drill's score is the weighted
mean of its experiments' scores. Every point lost is listed with its reason.
"""

from __future__ import annotations

import statistics
from dataclasses import asdict, dataclass, field
from typing import Any

from drillkit.model.objectives import Objectives

GATE_PENALTY = 40.0
LOSS_GRACE_S = 1.0  # writes acknowledged just after T0 may still die with the fault it confirms
GRADES = ((90, "A"), (80, "B"), (70, "C"), (60, "D"), (0, "F"))


@dataclass(frozen=True)
class RunRecord:
    """One repetition of one experiment, as the drill runner saw it."""

    experiment: str
    repetition: int
    status: str                 # the run's status: completed, deviated, rollback failed, …
    rollbacks_ok: bool
    steady_state_ok: bool
    measurements: dict[str, Any] | None
    run_dir: str = ""


@dataclass(frozen=True)
class Deduction:
    points: float
    reason: str


@dataclass
class RunScore:
    record: RunRecord
    gates: dict[str, bool]
    gate_reasons: dict[str, str]
    deductions: list[Deduction] = field(default_factory=list)

    @property
    def score(self) -> float:
        return round(max(0.0, 100.0 - sum(d.points for d in self.deductions)), 2)


def score_run(record: RunRecord, objectives: Objectives) -> RunScore:
    gates, reasons = _gates(record, objectives)
    result = RunScore(record, gates, reasons)
    for gate, passed in gates.items():
        if not passed:
            result.deductions.append(Deduction(GATE_PENALTY, f"hard gate {gate} failed: {reasons[gate]}"))
    result.deductions += _costs(record.measurements or {}, objectives)
    return result


def _gates(record: RunRecord, objectives: Objectives) -> tuple[dict[str, bool], dict[str, str]]:
    m = record.measurements or {}
    rto, rpo = m.get("rto") or {}, m.get("rpo") or {}
    checks = {
        "rto": _rto_gate(rto, objectives),
        "rpo": _rpo_gate(rpo, objectives),
        "lost_writes_in_rpo_window": _window_gate(rpo, objectives),
        "no_unexpected_rows": (rpo.get("unexpected_writes", 0) == 0,
                               f"{rpo.get('unexpected_writes')} rows appeared that no writer sent"),
        "rollbacks_succeeded": (record.rollbacks_ok, f"run status: {record.status}"),
        "steady_state_restored": _steady_gate(record, m),
    }
    return {k: ok for k, (ok, _) in checks.items()}, {k: why for k, (_, why) in checks.items()}


def _rto_gate(rto: dict, objectives: Objectives) -> tuple[bool, str]:
    if not rto:
        return False, "not measured"
    if not rto.get("bounded"):
        return False, f"no recovery within the wait (at least {rto.get('lower')} s)"
    return rto["upper"] <= objectives.rto_seconds, f"RTO upper bound {rto['upper']} s, objective " \
        f"{objectives.rto_seconds:.0f} s"


def _rpo_gate(rpo: dict, objectives: Objectives) -> tuple[bool, str]:
    if not rpo or not rpo.get("reconciled"):
        return False, rpo.get("error", "the ledger was not reconciled") if rpo else "not measured"
    return rpo["seconds"] <= objectives.rpo_seconds, f"RPO {rpo['seconds']} s, objective " \
        f"{objectives.rpo_seconds:.0f} s"


def _window_gate(rpo: dict, objectives: Objectives) -> tuple[bool, str]:
    if not rpo.get("lost_writes"):
        return True, "no acknowledged write was lost"
    inside = rpo["first_lost_at"] >= -objectives.rpo_seconds and rpo["last_lost_at"] <= LOSS_GRACE_S
    return inside, (f"{rpo['lost_writes']} acknowledged writes lost, acknowledged from "
                    f"{rpo['first_lost_at']} s to {rpo['last_lost_at']} s after T0")


def _steady_gate(record: RunRecord, m: dict) -> tuple[bool, str]:
    line = m.get("timeline")
    stable = line is None or not line.get("impact") or line.get("stable") is not None
    if not record.steady_state_ok:
        return False, "the steady-state hypothesis did not hold after the method"
    if not stable:
        return False, "users were not served well for a whole stable window after the fault"
    return True, "the steady-state hypothesis held and users were served well again"


def _costs(m: dict, objectives: Objectives) -> list[Deduction]:
    slo, rto, rpo = m.get("slo") or {}, m.get("rto") or {}, m.get("rpo") or {}
    line = m.get("timeline") or {}
    costs = []
    budget = slo.get("error_budget_consumed") or 0.0
    if budget > 0:
        period = f"{objectives.budget_period_days:.0f}-day"
        costs.append(Deduction(min(20.0, round(100 * budget, 2)),
                               f"consumed {budget:.2%} of the {period} error budget"))
    sli = slo.get("latency_sli")
    if sli is not None and sli < objectives.latency_target:
        costs.append(Deduction(min(10.0, round((objectives.latency_target - sli) * 100, 2)),
                               f"only {sli:.2%} of requests within {objectives.latency_threshold_ms:.0f} ms "
                               f"(target {objectives.latency_target:.0%})"))
    if rpo.get("lost_writes"):
        lost = rpo["lost_writes"]
        costs.append(Deduction(min(10.0, 2.0 * lost), f"{lost} acknowledged writes lost"))
    if line.get("flaps"):
        costs.append(Deduction(min(10.0, 2.0 * line["flaps"]), f"recovery flapped {line['flaps']} times"))
    if rto.get("bounded") and rto.get("upper"):
        used = rto["upper"] / objectives.rto_seconds
        costs.append(Deduction(min(10.0, round(10 * used, 2)),
                               f"RTO {rto['upper']} s used {used:.2%} of the objective"))
    return [c for c in costs if c.points > 0]


def grade(score: float) -> str:
    return next(letter for floor, letter in GRADES if score >= floor)


def score_experiment(name: str, weight: float, runs: list[RunScore]) -> dict[str, Any]:
    """Median score over repetitions; the gates and the reported figures of the worst run."""
    worst = min(runs, key=lambda run: (all(run.gates.values()), run.score))
    gates = {gate: all(run.gates[gate] for run in runs) for gate in worst.gates}
    m = worst.record.measurements or {}
    slo = m.get("slo") or {}
    return {
        "name": name, "weight": weight, "status": worst.record.status,
        "passed": all(gates.values()),
        "score": round(statistics.median(run.score for run in runs), 2),
        "score_worst": worst.score,
        "gates": gates,
        "gate_reasons": {g: worst.gate_reasons[g] for g in gates},
        "deductions": [asdict(d) for d in worst.deductions],
        "rto": _pick(m.get("rto"), ("seconds", "lower", "upper", "bounded")),
        "rpo": _pick(m.get("rpo"), ("seconds", "lost_writes", "acknowledged_writes", "attempted_writes",
                                    "recovered_writes", "unexpected_writes", "first_lost_at",
                                    "last_lost_at", "replication_lag_bytes_max")),
        "slo": {**_pick(slo, ("availability", "latency_sli", "p50_ms", "p95_ms", "p99_ms", "error_rate",
                              "error_budget_consumed", "requests", "good")),
                "alerts": slo.get("alerts", [])},
        "timeline": m.get("timeline"),
        "observed_s": (m.get("observed") or {}).get("seconds"),
        "faults": m.get("faults", []),
        "series": m.get("series", []),
        "repetitions": [{"repetition": r.record.repetition, "score": r.score, "status": r.record.status,
                         "passed": all(r.gates.values()), "run_dir": r.record.run_dir} for r in runs],
    }


def _pick(data: dict | None, keys: tuple[str, ...]) -> dict[str, Any]:
    return {key: (data or {}).get(key) for key in keys}


def score_drill(
    experiments: list[dict[str, Any]], objectives: Objectives, baseline: dict[str, Any] | None
) -> dict[str, Any]:
    """The drill's verdict: weighted score, grade, objectives met, findings."""
    total_weight = sum(e["weight"] for e in experiments)
    weighted = sum(e["score"] * e["weight"] for e in experiments)
    score = round(weighted / total_weight, 1) if total_weight else 0.0
    invalid = baseline_breach(baseline, objectives)
    return {
        "score": score, "grade": grade(score),
        "valid": invalid is None, "invalid_reason": invalid,
        "passed": invalid is None and all(e["passed"] for e in experiments),
        "objectives": objective_table(experiments, objectives),
        "findings": findings(experiments),
    }


def baseline_breach(baseline: dict[str, Any] | None, objectives: Objectives) -> str | None:
    """Why the baseline already breached an SLO (the run is then invalid), or None."""
    if baseline is None:
        return None
    slo = baseline.get("slo") or {}
    if not slo.get("requests"):
        return "the baseline measured no request"
    if slo["availability"] < objectives.availability:
        return f"baseline availability {slo['availability']:.3%} is under {objectives.availability:.1%}"
    if slo["latency_sli"] < objectives.latency_target:
        return f"baseline latency SLI {slo['latency_sli']:.2%} is under {objectives.latency_target:.0%}"
    return None


def objective_table(experiments: list[dict[str, Any]], objectives: Objectives) -> list[dict[str, Any]]:
    """Each objective with the drill's worst measurement, and the month it projects to: the drill's
    failed and slow requests set against a month of traffic at the drill's rate, as if the drill's
    failures were the month's only ones."""
    rtos = [e["rto"] for e in experiments if e["rto"].get("bounded") is not None]
    unbounded = any(r.get("bounded") is False for r in rtos)
    worst_rto = None if unbounded or not rtos else max((r["upper"] or 0) for r in rtos)
    rpos = [e["rpo"]["seconds"] for e in experiments if e["rpo"].get("seconds") is not None]
    requests = sum(e["slo"].get("requests") or 0 for e in experiments)
    bad = sum((e["slo"].get("requests") or 0) - (e["slo"].get("good") or 0) for e in experiments)
    slow = sum((e["slo"].get("requests") or 0) * (1 - (e["slo"].get("latency_sli") or 0))
               for e in experiments)
    seconds = sum(e.get("observed_s") or 0 for e in experiments)
    month = requests / seconds * objectives.budget_period_days * 86400 if seconds else 0
    bad_share, slow_share = (bad / month, slow / month) if month else (1.0, 1.0)
    rpo_met = bool(rpos) and max(rpos) <= objectives.rpo_seconds
    return [
        _objective("RTO", f"< {objectives.rto_seconds / 3600:g} h", worst_rto, "s",
                   worst_rto is not None and worst_rto <= objectives.rto_seconds),
        _objective("RPO", f"< {objectives.rpo_seconds / 3600:g} h", max(rpos) if rpos else None, "s",
                   rpo_met),
        _objective("availability", f">= {objectives.availability:.1%} a month",
                   _share(requests - bad, requests), "ratio",
                   bad_share <= 1 - objectives.availability, round(1 - bad_share, 6)),
        _objective("latency", f"{objectives.latency_target:.0%} < {objectives.latency_threshold_ms:.0f} ms",
                   _share(requests - slow, requests), "ratio",
                   slow_share <= 1 - objectives.latency_target, round(1 - slow_share, 6)),
        _objective("error rate", f"< {objectives.error_rate:.1%}", _share(bad, requests), "ratio",
                   bad_share <= objectives.error_rate, round(bad_share, 6)),
    ]


def _share(part: float, whole: float) -> float | None:
    return round(part / whole, 6) if whole else None


def _objective(name: str, target: str, measured: float | None, unit: str, met: bool,
               projected: float | None = None) -> dict[str, Any]:
    return {"name": name, "target": target, "measured": measured, "projected_month": projected,
            "unit": unit, "met": bool(met)}


def findings(experiments: list[dict[str, Any]], limit: int = 5) -> list[str]:
    """The few facts a reader must see first: failed gates, lost data, the slowest recovery."""
    found = []
    for e in experiments:
        found += [f"{e['name']}: {gate} failed ({e['gate_reasons'][gate]})"
                  for gate, ok in e["gates"].items() if not ok]
    for e in experiments:
        if e["rpo"].get("lost_writes"):
            found.append(f"{e['name']}: {e['rpo']['lost_writes']} acknowledged writes lost "
                         f"(RPO {e['rpo']['seconds']} s)")
    bounded = [e for e in experiments if e["rto"].get("bounded")]
    if bounded:
        slowest = max(bounded, key=lambda e: e["rto"]["upper"])
        found.append(f"slowest recovery: {slowest['name']}, RTO {slowest['rto']['seconds']} s "
                     f"[{slowest['rto']['lower']}, {slowest['rto']['upper']}]")
    for e in experiments:
        fired = [a for a in e["slo"].get("alerts", []) if a.get("fired_at") is not None]
        if fired:
            found.append(f"{e['name']}: the {fired[0]['factor']}x burn-rate alert would have paged")
    return found[:limit]
