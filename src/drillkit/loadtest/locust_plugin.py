"""drillkit's Locust plugin: every request's exact latency, into HdrHistograms per second.

Passed to Locust as an extra locustfile (`-f locustfile.py,locust_shape.py,locust_plugin.py`); never
import it into drillkit's own process (importing locust monkey-patches the standard library).
Workers ship their histograms to the master with each report; the master (or a lone local process)
merges them and writes DRILLKIT_LOAD_RESULTS when it quits, and DRILLKIT_LOAD_PROGRESS every few
seconds. Requests at or under DRILLKIT_LATENCY_THRESHOLD_MS are counted exactly, not from histograms.
"""

from __future__ import annotations

import json
import os
import threading
import time
from typing import Any

from hdrh.histogram import HdrHistogram
from locust import events
from locust.runners import WorkerRunner

THRESHOLD_MS = float(os.environ.get("DRILLKIT_LATENCY_THRESHOLD_MS", "500"))
RESULTS = os.environ.get("DRILLKIT_LOAD_RESULTS")
PROGRESS = os.environ.get("DRILLKIT_LOAD_PROGRESS")


def _histogram() -> HdrHistogram:
    return HdrHistogram(1, 120_000_000, 3)  # microseconds, 3 significant digits


class Buckets:
    """Per-second request counts, failures, fast requests, errors and latency histograms."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.seconds: dict[int, dict[str, Any]] = {}

    def record(self, second: int, latency_ms: float, error: str | None) -> None:
        with self.lock:
            bucket = self._bucket(second)
            bucket["requests"] += 1
            bucket["fast"] += error is None and latency_ms <= THRESHOLD_MS
            bucket["histogram"].record_value(min(max(round(latency_ms * 1000), 1), 120_000_000))
            if error is not None:
                bucket["failures"] += 1
                bucket["errors"][error] = bucket["errors"].get(error, 0) + 1

    def drain(self) -> list[dict[str, Any]]:
        """Everything recorded so far, encoded for the wire, and forgotten here."""
        with self.lock:
            seconds, self.seconds = self.seconds, {}
        return [{**b, "t": t, "histogram": b["histogram"].encode().decode()} for t, b in sorted(seconds.items())]

    def merge(self, payload: list[dict[str, Any]]) -> None:
        with self.lock:
            for item in payload:
                bucket = self._bucket(item["t"])
                for key in ("requests", "failures", "fast"):
                    bucket[key] += item[key]
                for error, count in item["errors"].items():
                    bucket["errors"][error] = bucket["errors"].get(error, 0) + count
                bucket["histogram"].add(HdrHistogram.decode(item["histogram"].encode()))

    def totals(self) -> dict[str, int]:
        with self.lock:
            return {key: sum(b[key] for b in self.seconds.values()) for key in ("requests", "failures", "fast")}

    def _bucket(self, second: int) -> dict[str, Any]:
        if second not in self.seconds:
            self.seconds[second] = {"requests": 0, "failures": 0, "fast": 0, "errors": {},
                                    "histogram": _histogram()}
        return self.seconds[second]


unsent = Buckets()   # this process's records not yet merged or shipped
merged = Buckets()   # on the master or a lone process: everything
_is_worker = False
_workers_reported: set[str] = set()


@events.init.add_listener
def _on_init(environment: Any, **kwargs: Any) -> None:
    global _is_worker
    _is_worker = isinstance(environment.runner, WorkerRunner)
    if not _is_worker and PROGRESS:
        threading.Thread(target=_write_progress_forever, daemon=True).start()


@events.request.add_listener
def _on_request(response_time: float, exception: BaseException | None = None, **kwargs: Any) -> None:
    error = None if exception is None else f"{type(exception).__name__}: {exception}"[:200]
    unsent.record(int(time.time()), response_time, error)


@events.report_to_master.add_listener
def _on_report(client_id: str, data: dict, **kwargs: Any) -> None:
    data["drillkit"] = unsent.drain()


@events.worker_report.add_listener
def _on_worker_report(client_id: str, data: dict, **kwargs: Any) -> None:
    if "drillkit" in data:
        _workers_reported.add(client_id)
        merged.merge(data["drillkit"])


@events.quitting.add_listener
def _on_quitting(environment: Any, **kwargs: Any) -> None:
    if _is_worker or not RESULTS:
        return
    merged.merge(unsent.drain())
    result = {"threshold_ms": THRESHOLD_MS, "workers": sorted(_workers_reported),
              "seconds": merged.drain()}
    _write(RESULTS, result)


def _write_progress_forever() -> None:
    while True:
        time.sleep(2)
        merged.merge(unsent.drain())
        _write(PROGRESS, {"at": time.time(), **merged.totals()})


def _write(path: str, data: dict) -> None:
    tmp = f"{path}.tmp"
    with open(tmp, "w") as handle:
        json.dump(data, handle)
    os.replace(tmp, path)
