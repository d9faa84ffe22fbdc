"""SLIs, error budget and burn-rate alerts from raw samples."""

from __future__ import annotations

import pytest

from drillkit import histograms
from drillkit.measure.samples import Sample
from drillkit.measure.slo import Rate, budget, burn_alerts, sli
from drillkit.model.objectives import Objectives

OBJECTIVES = Objectives()
THRESHOLD = 0.5


def sample(at: float, latency: float = 0.02, ok: bool = True, error: str = "http") -> Sample:
    status = 200 if ok else (503 if error == "http" else 0)
    return Sample("global/read", "global", "read", at, at, latency, status, "" if ok else error)


def test_availability_latency_sli_and_error_rate_are_exact_shares_of_raw_samples():
    samples = [sample(n) for n in range(990)] + [sample(n, latency=0.6) for n in range(5)]
    samples += [sample(n, ok=False) for n in range(5)]
    report = sli(samples, excluded=0, threshold=THRESHOLD)
    assert report.requests == 1000
    assert report.availability == 0.995
    assert report.error_rate == 0.005
    assert report.latency_sli == 0.99  # successful and at or under 500 ms


def test_error_rate_is_distinct_from_the_latency_sli():
    slow = sli([sample(n, latency=0.9) for n in range(10)], excluded=0, threshold=THRESHOLD)
    assert (slow.availability, slow.error_rate, slow.latency_sli) == (1.0, 0.0, 0.0)


def test_a_request_of_exactly_500_ms_meets_the_latency_objective():
    assert sli([sample(0, latency=0.5)], excluded=0, threshold=THRESHOLD).latency_sli == 1.0


def test_latency_percentiles_ignore_failures_and_timeouts():
    served = [sample(n, latency=0.1) for n in range(10)]
    refused = [sample(n, latency=0.001, ok=False, error="connect") for n in range(30)]
    timed_out = [sample(n, latency=2.0, ok=False, error="timeout") for n in range(30)]
    report = sli(served + refused + timed_out, excluded=0, threshold=THRESHOLD)
    assert report.p50_ms == pytest.approx(100, rel=0.01) and report.p99_ms == pytest.approx(100, rel=0.01)
    assert report.timeouts == 30 and report.succeeded == 10


def test_no_request_on_time_is_not_measured():
    report = sli([], excluded=7, threshold=THRESHOLD)
    assert report.status == "not measured" and report.availability is None and report.excluded == 7


def test_percentiles_come_from_a_merged_histogram_not_averages():
    fast = histograms.of_latencies([0.010] * 90)
    slow = histograms.of_latencies([1.0] * 10)
    merged = histograms.merge([fast, slow])
    assert histograms.percentile_ms(merged, 50) == pytest.approx(10, rel=0.01)
    assert histograms.percentile_ms(merged, 95) == pytest.approx(1000, rel=0.01)
    assert histograms.decode(histograms.encode(merged)).get_total_count() == 100


def test_budget_consumed_follows_the_documented_formulas():
    # One hour at 10 requests/s: 100 bad seconds, 1000 failed, 2000 not fast.
    used = budget(bad_seconds=100, failed=1000, not_fast=2000, rate=Rate(36000, 3600), objectives=OBJECTIVES)
    month = 30 * 86400
    assert used.availability == pytest.approx(100 / (month * 0.001), rel=1e-4)
    assert used.errors == pytest.approx(1000 / (0.001 * 10 * month), rel=1e-4)
    assert used.latency == pytest.approx(2000 / (0.05 * 10 * month), rel=1e-4)


def test_five_minutes_down_consumes_a_month_of_budget_in_a_tenth_of_the_time():
    used = budget(bad_seconds=300, failed=3000, not_fast=3000, rate=Rate(6000, 600), objectives=OBJECTIVES)
    assert used.availability == pytest.approx(300 / 2592, rel=1e-4)  # 11.6 % of the month's 43.2 min


def test_a_long_total_outage_fires_the_fast_burn_page_and_a_blip_fires_nothing():
    outage = [sample(t, ok=t < 60) for t in range(0, 1200)]  # one request a second, down from 60 s on
    alerts = {a.factor: a for a in burn_alerts(outage, OBJECTIVES, duration_s=1200)}
    fired = alerts[14.4].fired_at
    assert fired is not None and 60 < fired < 1200
    # 14.4x over an hour at one request a second is 52 failures: the page fires on the 52nd.
    assert fired == pytest.approx(60 + 51 + 0.02, abs=1)
    blip = [sample(t, ok=t != 30) for t in range(0, 600)]
    assert all(a.fired_at is None for a in burn_alerts(blip, OBJECTIVES, duration_s=600))
