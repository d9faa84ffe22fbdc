"""Latency distributions as HdrHistograms (microseconds, 3 significant digits): merged, never averaged."""

from __future__ import annotations

from collections.abc import Iterable

from hdrh.histogram import HdrHistogram

LOWEST_US = 1
HIGHEST_US = 120_000_000  # two minutes
DIGITS = 3


def new() -> HdrHistogram:
    return HdrHistogram(LOWEST_US, HIGHEST_US, DIGITS)


def of_latencies(seconds: Iterable[float]) -> HdrHistogram:
    histogram = new()
    for value in seconds:
        histogram.record_value(min(max(round(value * 1_000_000), LOWEST_US), HIGHEST_US))
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


def encode(histogram: HdrHistogram) -> str:
    """The standard compressed base64 form ("HISTFAA…"), readable by any HdrHistogram library."""
    return histogram.encode().decode()


def decode(text: str) -> HdrHistogram:
    return HdrHistogram.decode(text.encode())
