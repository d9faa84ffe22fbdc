"""What drillkit and its Locust processes exchange: the environment that configures them, and the
per-second records the plugin keeps (request counts, failures, fast requests, errors, latency
HdrHistograms with drillkit's one set of histogram settings).

Imported by drillkit (process.py) and by the Locust processes (locust_plugin.py, locust_shape.py) alike,
so it imports neither Locust (it monkey-patches the standard library on import) nor more of drillkit
than the ground-floor `histograms`.
"""

from __future__ import annotations

import threading
from typing import Any

from drillkit import histograms

STAGES_ENV = "DRILLKIT_LOAD_STAGES"            # JSON: [{"duration": s, "users": n, "spawn_rate": per s}, …]
RESULTS_ENV = "DRILLKIT_LOAD_RESULTS"          # where the master writes every second's records when it quits
PROGRESS_ENV = "DRILLKIT_LOAD_PROGRESS"        # where it writes the running totals every few seconds
THRESHOLD_ENV = "DRILLKIT_LATENCY_THRESHOLD_MS"  # a request at or under it, and successful, is fast
COUNTS = ("requests", "failures", "fast")


class Buckets:
    """Per-second request counts, failures, fast requests, errors and latency histograms."""

    def __init__(self, threshold_ms: float) -> None:
        self.threshold_ms = threshold_ms
        self.lock = threading.Lock()
        self.seconds: dict[int, dict[str, Any]] = {}

    def record(self, second: int, latency_ms: float, error: str | None) -> None:
        with self.lock:
            bucket = self._bucket(second)
            bucket["requests"] += 1
            bucket["fast"] += error is None and latency_ms <= self.threshold_ms
            histograms.record(bucket["histogram"], latency_ms / 1000)
            if error is not None:
                bucket["failures"] += 1
                bucket["errors"][error] = bucket["errors"].get(error, 0) + 1

    def drain(self) -> list[dict[str, Any]]:
        """Everything recorded so far, encoded for the wire, and forgotten here."""
        with self.lock:
            seconds, self.seconds = self.seconds, {}
        return [{**b, "t": t, "histogram": histograms.encode(b["histogram"])} for t, b in sorted(seconds.items())]

    def merge(self, payload: list[dict[str, Any]]) -> None:
        with self.lock:
            for item in payload:
                bucket = self._bucket(item["t"])
                for key in COUNTS:
                    bucket[key] += item[key]
                for error, count in item["errors"].items():
                    bucket["errors"][error] = bucket["errors"].get(error, 0) + count
                bucket["histogram"].add(histograms.decode(item["histogram"]))

    def totals(self) -> dict[str, int]:
        with self.lock:
            return {key: sum(b[key] for b in self.seconds.values()) for key in COUNTS}

    def _bucket(self, second: int) -> dict[str, Any]:
        if second not in self.seconds:
            self.seconds[second] = {"requests": 0, "failures": 0, "fast": 0, "errors": {},
                                    "histogram": histograms.new()}
        return self.seconds[second]
