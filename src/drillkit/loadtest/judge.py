"""Judge a load test against the SLOs, from the exact counts and merged HdrHistograms, with the SLI
judge the drill uses (measure/slo.py, model/sli_verdict.py): a run that recorded no request is
"not measured", never a pass."""

from __future__ import annotations

from typing import Any

from drillkit import histograms
from drillkit.measure import slo
from drillkit.model.objectives import Objectives
from drillkit.model.sli_verdict import SliVerdict, sli_verdicts

UNMEASURED = "Locust recorded no request"


def judge(results: dict[str, Any], objectives: Objectives) -> dict[str, Any]:
    seconds = results.get("seconds", [])
    requests, failures, fast = (sum(s[key] for s in seconds) for key in ("requests", "failures", "fast"))
    merged = histograms.merge(histograms.decode(s["histogram"]) for s in seconds)
    measured = slo.of_counts(requests=requests, succeeded=requests - failures, fast=fast, latencies=merged,
                             unmeasured=UNMEASURED)
    slis = [_row(verdict) for verdict in sli_verdicts(measured, objectives)]
    return {
        "passed": all(s["met"] for s in slis),
        "requests": requests, "failures": failures, "fast": fast,
        "workers": len(results.get("workers", [])),
        "duration_s": (seconds[-1]["t"] - seconds[0]["t"] + 1) if seconds else 0,
        "p50_ms": histograms.percentile_ms(merged, 50), "p95_ms": histograms.percentile_ms(merged, 95),
        "p99_ms": histograms.percentile_ms(merged, 99), "max_ms": histograms.max_ms(merged),
        "slis": slis,
        "errors": _errors(seconds),
        "series": _series(seconds),
        "histogram": histograms.encode(merged),
    }


def _row(v: SliVerdict) -> dict[str, Any]:
    return {"name": v.name, "value": v.value, "objective": v.objective, "met": v.met, "verdict": v.verdict,
            "reason": v.reason}


def _errors(seconds: list[dict[str, Any]]) -> dict[str, int]:
    errors: dict[str, int] = {}
    for second in seconds:
        for error, count in second["errors"].items():
            errors[error] = errors.get(error, 0) + count
    return dict(sorted(errors.items(), key=lambda item: -item[1]))


def _series(seconds: list[dict[str, Any]]) -> list[dict[str, Any]]:
    if not seconds:
        return []
    start = seconds[0]["t"]
    series = []
    for second in seconds:
        histogram = histograms.decode(second["histogram"])
        series.append({"t": second["t"] - start, "requests": second["requests"], "failures": second["failures"],
                       **{f"p{p}_ms": histograms.percentile_ms(histogram, p) for p in (50, 95, 99)}})
    return series
