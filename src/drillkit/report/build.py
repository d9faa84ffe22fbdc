"""Score a drill run and shape the report: the one document every rendering reads (report.json)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from drillkit.drill.drill import DrillRun
from drillkit.drill.scoring import score_drill, score_experiment, score_run
from drillkit.errors import EXIT_ABORTED, EXIT_BREACHED, EXIT_PASS
from drillkit.model.objectives import Objectives

SCHEMA = "drillkit.report/1"
RTO_REGRESSION = 1.10  # an RTO more than 10 % worse than the previous run's is flagged


def build(run: DrillRun, history: list[dict[str, Any]]) -> dict[str, Any]:
    objectives = Objectives(**run.objectives)
    weights = {Path(e["path"]).stem: e["weight"] for e in run.drill["experiments"]}
    experiments = []
    for name, weight in weights.items():
        records = [r for r in run.records() if r.experiment == name]
        if records:
            experiments.append(score_experiment(name, weight, [score_run(r, objectives) for r in records]))
    verdict = score_drill(experiments, objectives, run.baseline)
    if run.aborted:
        verdict["passed"] = False
    report = {
        "schema": SCHEMA, "drill": run.drill["name"], "description": run.drill.get("description", ""),
        "target": run.target, "run_dir": run.run_dir,
        "started_utc": run.started_utc, "finished_utc": run.finished_utc, "aborted": run.aborted,
        **verdict,
        "status": _status(verdict, run.aborted),
        "objectives_config": run.objectives,
        "baseline": _baseline(run.baseline),
        "experiments": experiments,
    }
    report["trend"] = trend(report, history)
    return report


def _status(verdict: dict[str, Any], aborted: str | None) -> str:
    if aborted:
        return "aborted"
    if not verdict["valid"]:
        return "invalid"
    return "passed" if verdict["passed"] else "failed"


def exit_code(report: dict[str, Any]) -> int:
    """0 every objective met, 1 one breached, 3 aborted or invalid (never a pass)."""
    return {"passed": EXIT_PASS, "failed": EXIT_BREACHED}.get(report["status"], EXIT_ABORTED)


def _baseline(baseline: dict[str, Any] | None) -> dict[str, Any] | None:
    if not baseline:
        return None
    slo = baseline.get("slo") or {}
    keys = ("requests", "availability", "latency_sli", "error_rate", "p50_ms", "p95_ms", "p99_ms")
    return {"seconds": (baseline.get("observed") or {}).get("seconds"), **{k: slo.get(k) for k in keys}}


def worst_rto(report: dict[str, Any]) -> float | None:
    uppers = [e["rto"]["upper"] for e in report["experiments"] if e["rto"].get("bounded")]
    return max(uppers) if uppers else None


def history_entry(report: dict[str, Any]) -> dict[str, Any]:
    started = report["started_utc"]
    quarter = f"{started[:4]}-Q{(int(started[5:7]) - 1) // 3 + 1}"
    return {
        "drill": report["drill"], "quarter": quarter, "started_utc": started, "run_dir": report["run_dir"],
        "status": report["status"], "score": report["score"], "grade": report["grade"],
        "passed": report["passed"], "worst_rto_s": worst_rto(report),
        "lost_writes": sum(e["rpo"].get("lost_writes") or 0 for e in report["experiments"]),
    }


def trend(report: dict[str, Any], history: list[dict[str, Any]]) -> dict[str, Any]:
    """Earlier runs of the same drill, oldest first, and what got worse since the previous one."""
    earlier = [h for h in history
               if h.get("drill") == report["drill"] and h.get("run_dir") != report["run_dir"]
               and h.get("started_utc", "") < report["started_utc"]]
    regressions = []
    if earlier:
        previous, now_rto = earlier[-1], worst_rto(report)
        if report["score"] < previous["score"]:
            regressions.append(f"score fell from {previous['score']} to {report['score']}")
        if now_rto and previous.get("worst_rto_s") and now_rto > previous["worst_rto_s"] * RTO_REGRESSION:
            regressions.append(f"worst RTO rose from {previous['worst_rto_s']} s to {now_rto} s")
    return {"runs": [*earlier[-7:], history_entry(report)], "regressions": regressions}
