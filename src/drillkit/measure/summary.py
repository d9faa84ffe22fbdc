"""Everything one experiment measured, as plain data for measurements.json and the report."""

from __future__ import annotations

import math
from dataclasses import asdict
from typing import Any

from drillkit.measure import clock, ledger, slo, timeline
from drillkit.measure.samples import Sample, of_endpoint
from drillkit.model.objectives import Objectives

# RTO is judged on the user's path: a write and its read-back through the global endpoint.
USER_PATH = ("global", ("write", "read_back"))


def summarize(
    *, samples: list[Sample], writes: list[ledger.Write], stored: dict[str, set[int]] | None,
    faults: list[timeline.FaultEvent], leaders: list[tuple[float, str]], lags: list[int],
    settings: timeline.TimelineSettings, objectives: Objectives, started: float, ended: float,
    settled: float | None = None,
) -> dict[str, Any]:
    duration = max(ended - started, 1e-9)
    result: dict[str, Any] = {
        "anchor": clock.anchor(),
        "observed": {"from_utc": clock.utc_of(started).isoformat(), "seconds": round(duration, 3)},
        "settings": asdict(settings),
        "faults": [{"name": f.name, "at_utc": _utc(f.at), "at_monotonic": f.at} for f in faults],
        "slo": _slo(of_endpoint(samples, "global"), objectives, duration),
        "endpoints": _endpoints(samples, objectives, duration),
    }
    if not faults:
        result.update(timeline=None, rto=None, rpo=None, series=_series(samples, started))
        return result
    line = timeline.compute(of_endpoint(samples, *USER_PATH), faults, settings, ended, leaders)
    result["timeline"] = {"t0_utc": _utc(line.t0), "t0_monotonic": line.t0,
                          "impact": line.impact, "flaps": line.flaps, **line.offsets(),
                          "rollbacks_done": None if settled is None else round(settled - line.t0, 3)}
    result["rto"] = {**asdict(line.rto), "bounded": line.rto.bounded}
    result["rpo"] = _rpo(writes, stored, line.t0, lags)
    result["series"] = _series(samples, line.t0)
    return result


def _series(samples: list[Sample], origin: float) -> list[dict[str, float]]:
    """Per-second success share and p95 latency of the global endpoint, seconds after ORIGIN (T0)."""
    buckets: dict[int, list[Sample]] = {}
    for sample in of_endpoint(samples, "global"):
        buckets.setdefault(math.floor(sample.completed - origin), []).append(sample)
    series = []
    for second in sorted(buckets):
        answers = buckets[second]
        latencies = sorted(s.latency for s in answers)
        p95 = latencies[math.ceil(0.95 * len(latencies)) - 1]  # nearest rank
        series.append({
            "t": second, "requests": len(answers),
            "ok": round(sum(s.succeeded for s in answers) / len(answers), 4),
            "p95_ms": round(p95 * 1000, 1),
        })
    return series


def _slo(samples: list[Sample], objectives: Objectives, duration: float) -> dict[str, Any]:
    report = slo.evaluate(samples, objectives, duration)
    data = asdict(report)
    data["alerts"] = [{**asdict(alert), "fired_at_utc": _utc(alert.fired_at)} for alert in report.alerts]
    return data


def _endpoints(samples: list[Sample], objectives: Objectives, duration: float) -> dict[str, Any]:
    names = sorted({s.endpoint for s in samples})
    summaries = {}
    for name in names:
        report = slo.evaluate(of_endpoint(samples, name), objectives, duration)
        summaries[name] = {"requests": report.requests, "availability": report.availability,
                           "latency_sli": report.latency_sli, "p95_ms": report.p95_ms,
                           "histogram": report.histogram}
    return summaries


def _rpo(writes: list[ledger.Write], stored: dict[str, set[int]] | None, t0: float, lags: list[int]):
    estimate = {"replication_lag_bytes_max": max(lags) if lags else None}
    if stored is None:
        acknowledged = sum(w.acknowledged for w in writes)
        return {"seconds": None, "reconciled": False, "acknowledged_writes": acknowledged,
                "lost_writes": None, **estimate}
    outcome = ledger.reconcile(writes, stored, t0)
    return {
        "seconds": outcome.rpo_seconds, "reconciled": True,
        "attempted_writes": outcome.attempted, "acknowledged_writes": outcome.acknowledged,
        "lost_writes": outcome.lost_count, "recovered_writes": len(outcome.recovered),
        "unexpected_writes": len(outcome.unexpected), "first_lost_at": outcome.first_lost_at,
        "last_lost_at": outcome.last_lost_at, "lost": outcome.lost[:100], **estimate,
    }


def _utc(monotonic: float | None) -> str | None:
    return None if monotonic is None else clock.utc_of(monotonic).isoformat()
