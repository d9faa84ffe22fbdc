"""SLO adherence from raw samples: availability, the latency SLI, error rate, percentiles, the error
budget a drill consumed, and which multiwindow burn-rate alerts would have fired (SRE workbook)."""

from __future__ import annotations

import bisect
from dataclasses import dataclass

from drillkit.measure import histograms
from drillkit.measure.samples import Sample
from drillkit.model.objectives import Objectives

# (burn-rate factor, long window, short window), seconds: the SRE workbook's page and ticket pairs.
BURN_RATE_ALERTS = (
    (14.4, 3600, 300),
    (6.0, 6 * 3600, 1800),
    (1.0, 3 * 86400, 6 * 3600),
)


@dataclass(frozen=True)
class BurnAlert:
    factor: float
    long_window_s: int
    short_window_s: int
    fired_at: float | None  # monotonic; None: would not have fired


@dataclass(frozen=True)
class SloReport:
    requests: int
    good: int
    availability: float | None
    latency_sli: float | None      # share answered successfully within the threshold
    error_rate: float | None
    p50_ms: float | None
    p95_ms: float | None
    p99_ms: float | None
    error_budget_consumed: float   # share of the period's budget this drill used
    alerts: list[BurnAlert]
    histogram: str                 # HdrHistogram of every latency, encoded


def evaluate(samples: list[Sample], objectives: Objectives, duration_s: float) -> SloReport:
    """SLIs of SAMPLES, observed over DURATION_S seconds."""
    threshold = objectives.latency_threshold_ms / 1000
    total = len(samples)
    good = sum(s.succeeded for s in samples)
    fast = sum(s.good(threshold) for s in samples)
    latencies = histograms.of_latencies(s.latency for s in samples)
    error_ratio = (total - good) / total if total else 0.0
    return SloReport(
        requests=total, good=good,
        availability=_ratio(good, total), latency_sli=_ratio(fast, total),
        error_rate=_ratio(total - good, total),
        p50_ms=histograms.percentile_ms(latencies, 50), p95_ms=histograms.percentile_ms(latencies, 95),
        p99_ms=histograms.percentile_ms(latencies, 99),
        error_budget_consumed=budget_consumed(error_ratio, duration_s, objectives),
        alerts=burn_alerts(samples, objectives, duration_s),
        histogram=histograms.encode(latencies),
    )


def budget_consumed(error_ratio: float, duration_s: float, objectives: Objectives) -> float:
    """The share of the period's error budget spent, if traffic outside the drill was error-free:
    burn rate (error ratio / allowed error ratio) times the drill's share of the period."""
    period_s = objectives.budget_period_days * 86400
    return round(error_ratio / (1 - objectives.availability) * duration_s / period_s, 6)


def burn_alerts(samples: list[Sample], objectives: Objectives, duration_s: float) -> list[BurnAlert]:
    """When each multiwindow alert would have fired. Traffic outside the drill is taken to run at the
    drill's rate with no errors, so a window longer than the drill is diluted accordingly."""
    if not samples or duration_s <= 0:
        return [BurnAlert(f, long_w, short_w, None) for f, long_w, short_w in BURN_RATE_ALERTS]
    rate = len(samples) / duration_s
    allowed = 1 - objectives.availability
    bad = sorted(s.completed for s in samples if not s.succeeded)
    instants = sorted(s.completed for s in samples)

    def burn(at: float, window: float) -> float:
        errors = bisect.bisect_right(bad, at) - bisect.bisect_left(bad, at - window)
        return errors / (rate * window) / allowed

    return [
        BurnAlert(factor, long_w, short_w, next(
            (t for t in instants if burn(t, long_w) >= factor and burn(t, short_w) >= factor), None))
        for factor, long_w, short_w in BURN_RATE_ALERTS
    ]


def _ratio(part: int, whole: int) -> float | None:
    return round(part / whole, 6) if whole else None
