"""Judge a load test against the SLOs, from the exact counts and merged HdrHistograms."""

from __future__ import annotations

from typing import Any

from hdrh.histogram import HdrHistogram

from drillkit.measure import histograms
from drillkit.model.objectives import Objectives


def judge(results: dict[str, Any], objectives: Objectives) -> dict[str, Any]:
    seconds = results.get("seconds", [])
    requests = sum(s["requests"] for s in seconds)
    failures = sum(s["failures"] for s in seconds)
    fast = sum(s["fast"] for s in seconds)
    merged = histograms.merge(_decode(s["histogram"]) for s in seconds)
    availability = (requests - failures) / requests if requests else 0.0
    latency_sli = fast / requests if requests else 0.0
    slis = [
        _sli("availability", availability, f">= {objectives.availability}", availability >= objectives.availability),
        _sli("error_rate", failures / requests if requests else 1.0, f"<= {objectives.error_rate}",
             requests > 0 and failures / requests <= objectives.error_rate),
        _sli(f"latency_{objectives.latency_threshold_ms:.0f}ms", latency_sli, f">= {objectives.latency_target}",
             latency_sli >= objectives.latency_target),
    ]
    return {
        "passed": requests > 0 and all(s["met"] for s in slis),
        "requests": requests, "failures": failures, "fast": fast,
        "workers": len(results.get("workers", [])),
        "duration_s": (seconds[-1]["t"] - seconds[0]["t"] + 1) if seconds else 0,
        "p50_ms": histograms.percentile_ms(merged, 50), "p95_ms": histograms.percentile_ms(merged, 95),
        "p99_ms": histograms.percentile_ms(merged, 99), "max_ms": _max_ms(merged),
        "slis": slis,
        "errors": _errors(seconds),
        "series": _series(seconds),
        "histogram": histograms.encode(merged),
    }


def _sli(name: str, value: float, objective: str, met: bool) -> dict[str, Any]:
    return {"name": name, "value": round(value, 6), "objective": objective, "met": bool(met)}


def _decode(text: str) -> HdrHistogram:
    return histograms.decode(text)


def _max_ms(histogram: HdrHistogram) -> float | None:
    return round(histogram.get_max_value() / 1000, 3) if histogram.get_total_count() else None


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
        histogram = _decode(second["histogram"])
        series.append({"t": second["t"] - start, "requests": second["requests"], "failures": second["failures"],
                       **{f"p{p}_ms": histograms.percentile_ms(histogram, p) for p in (50, 95, 99)}})
    return series
