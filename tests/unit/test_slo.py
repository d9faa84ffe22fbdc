"""SLIs, error budget and burn-rate alerts from raw samples."""

from __future__ import annotations

import pytest

from drillkit.measure import histograms
from drillkit.measure.samples import Sample
from drillkit.measure.slo import budget_consumed, burn_alerts, evaluate
from drillkit.model.objectives import Objectives

OBJECTIVES = Objectives()


def sample(at: float, latency: float = 0.02, ok: bool = True) -> Sample:
    return Sample("global", "read", at, latency, 200 if ok else 503, "" if ok else "http")


def test_availability_latency_sli_and_error_rate_are_exact_shares_of_raw_samples():
    samples = [sample(n) for n in range(990)] + [sample(n, latency=0.6) for n in range(5)]
    samples += [sample(n, ok=False) for n in range(5)]
    report = evaluate(samples, OBJECTIVES, duration_s=1000)
    assert report.requests == 1000
    assert report.availability == 0.995
    assert report.error_rate == 0.005
    assert report.latency_sli == 0.99  # successful and at or under 500 ms


def test_a_request_of_exactly_500_ms_meets_the_latency_objective():
    assert evaluate([sample(0, latency=0.5)], OBJECTIVES, 1).latency_sli == 1.0


def test_percentiles_come_from_a_merged_histogram_not_averages():
    fast = histograms.of_latencies([0.010] * 90)
    slow = histograms.of_latencies([1.0] * 10)
    merged = histograms.merge([fast, slow])
    assert histograms.percentile_ms(merged, 50) == pytest.approx(10, rel=0.01)
    assert histograms.percentile_ms(merged, 95) == pytest.approx(1000, rel=0.01)
    assert histograms.decode(histograms.encode(merged)).get_total_count() == 100


def test_error_budget_consumed_is_burn_rate_times_the_drills_share_of_the_period():
    # 10 % errors for one hour: burn rate 100, one hour of 720 → 13.9 % of the monthly budget.
    assert budget_consumed(0.1, 3600, OBJECTIVES) == pytest.approx(100 / 720, rel=1e-4)
    assert budget_consumed(0.0, 3600, OBJECTIVES) == 0.0


def test_a_long_total_outage_fires_the_fast_burn_page_and_a_blip_fires_nothing():
    outage = [sample(t, ok=t < 60) for t in range(0, 1200)]  # one request a second, down from 60 s on
    alerts = {a.factor: a for a in burn_alerts(outage, OBJECTIVES, duration_s=1200)}
    fired = alerts[14.4].fired_at
    assert fired is not None and 60 < fired < 1200
    # 14.4x over an hour at one request a second is 52 failures: the page fires on the 52nd.
    assert fired == pytest.approx(60 + 51 + 0.02, abs=1)
    blip = [sample(t, ok=t != 30) for t in range(0, 600)]
    assert all(a.fired_at is None for a in burn_alerts(blip, OBJECTIVES, duration_s=600))
