"""SLIs and their verdicts, the error budget they consumed, and the multiwindow burn-rate alerts that
would have fired (SRE workbook). The one SLI judge: the drill's samples and `drillkit loadtest`'s
per-second counts go through the same functions, so an empty run reads "not measured" on both paths.

Over the requests sent on time (late ones are the instrument's and excluded):
    availability  = succeeded / requests
    error_rate    = failed / requests                      (failed = requests − succeeded)
    latency_sli   = fast / requests                        (fast = succeeded within the threshold)
    percentiles   over the latencies of successful answers only; a timeout is counted, never a latency
No request, no SLI: every ratio is None and the status "not measured", and a verdict on it is
"not measured", which is never met.
Budget consumed, as a share of the period's budget (the period being Objectives.budget_period_days),
traffic outside the observed span taken to run at the observed rate with no badness:
    availability  bad seconds / (period_s × (1 − availability objective))
    errors        failed / (error_rate objective × requests per second × period_s)
    latency       (requests − fast) / ((1 − latency_target) × requests per second × period_s)
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass

from hdrh.histogram import HdrHistogram

from drillkit import histograms
from drillkit.measure.samples import Sample
from drillkit.model.measurements import Budget, Sli
from drillkit.model.objectives import Objectives

# (burn-rate factor, long window, short window), seconds: the SRE workbook's page and ticket pairs.
BURN_RATE_ALERTS = (
    (14.4, 3600, 300),
    (6.0, 6 * 3600, 1800),
    (1.0, 3 * 86400, 6 * 3600),
)


def sli(requests: list[Sample], *, excluded: int, threshold: float) -> Sli:
    """The SLIs of REQUESTS (sent on time); EXCLUDED counts the late ones left out."""
    succeeded = [s for s in requests if s.succeeded]
    return of_counts(
        requests=len(requests), succeeded=len(succeeded), fast=sum(s.good(threshold) for s in requests),
        latencies=histograms.of_latencies(s.latency for s in succeeded), excluded=excluded,
        timeouts=sum(s.error == "timeout" for s in requests), unmeasured="no request was sent on time",
    )


def of_counts(
    *, requests: int, succeeded: int, fast: int, latencies: HdrHistogram, excluded: int = 0, timeouts: int = 0,
    unmeasured: str = "no request was sent",
) -> Sli:
    """The SLIs of REQUESTS counted requests; LATENCIES gives the percentiles. With no request at all
    the SLIs are "not measured" for the reason UNMEASURED."""
    if not requests:
        return Sli(status="not measured", reason=unmeasured, excluded=excluded)
    return Sli(
        status="measured", requests=requests, excluded=excluded, succeeded=succeeded, fast=fast, timeouts=timeouts,
        availability=_ratio(succeeded, requests), error_rate=_ratio(requests - succeeded, requests),
        latency_sli=_ratio(fast, requests),
        p50_ms=histograms.percentile_ms(latencies, 50), p95_ms=histograms.percentile_ms(latencies, 95),
        p99_ms=histograms.percentile_ms(latencies, 99), histogram=histograms.encode(latencies),
    )


@dataclass(frozen=True)
class Rate:
    """The observed request rate, which scales the period's request budget."""

    requests: int
    seconds: float

    @property
    def per_second(self) -> float | None:
        return self.requests / self.seconds if self.requests and self.seconds > 0 else None


def budget(*, bad_seconds: int, failed: int, not_fast: int, rate: Rate, objectives: Objectives) -> Budget:
    period_s = objectives.budget_period_days * 86400
    per_second = rate.per_second
    downtime = period_s * (1 - objectives.availability)
    if per_second is None:
        return Budget(availability=_share(bad_seconds, downtime))
    return Budget(
        availability=_share(bad_seconds, downtime),
        errors=_share(failed, objectives.error_rate * per_second * period_s),
        latency=_share(not_fast, (1 - objectives.latency_target) * per_second * period_s),
    )


@dataclass(frozen=True)
class BurnAlert:
    factor: float
    long_window_s: int
    short_window_s: int
    fired_at: float | None  # monotonic; None: would not have fired


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


def _share(used: float, allowed: float) -> float | None:
    return used / allowed if allowed > 0 else None
