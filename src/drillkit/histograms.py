"""Latency distributions as HdrHistograms (microseconds, 3 significant digits): merged, never averaged.

The one home of the histogram settings. It sits on the ground floor and imports nothing of drillkit, so
that the Locust plugin (loadtest/locust_plugin.py, run inside Locust's own processes) records with the
very settings the drill measures with, without loading the rest of drillkit into Locust.
"""

from __future__ import annotations

from collections.abc import Iterable

from hdrh.histogram import HdrHistogram

LOWEST_US = 1
HIGHEST_US = 120_000_000  # two minutes
DIGITS = 3


def new() -> HdrHistogram:
    return HdrHistogram(LOWEST_US, HIGHEST_US, DIGITS)


def record(histogram: HdrHistogram, seconds: float) -> None:
    """Record one latency, clamped into the trackable range (a timeout is counted, never dropped)."""
    histogram.record_value(min(max(round(seconds * 1_000_000), LOWEST_US), HIGHEST_US))


def of_latencies(seconds: Iterable[float]) -> HdrHistogram:
    histogram = new()
    for value in seconds:
        record(histogram, value)
    return histogram


def merge(histograms: Iterable[HdrHistogram]) -> HdrHistogram:
    merged = new()
    for histogram in histograms:
        merged.add(histogram)
    return merged


def percentile_ms(histogram: HdrHistogram, percentile: float) -> float | None:
    if histogram.get_total_count() == 0:
        return None
    return round(histogram.get_value_at_percentile(percentile) / 1000, 3)


def max_ms(histogram: HdrHistogram) -> float | None:
    return round(histogram.get_max_value() / 1000, 3) if histogram.get_total_count() else None


def encode(histogram: HdrHistogram) -> str:
    """The standard compressed base64 form ("HISTFAA…"), readable by any HdrHistogram library."""
    return histogram.encode().decode()


def decode(text: str) -> HdrHistogram:
    return HdrHistogram.decode(text.encode())
