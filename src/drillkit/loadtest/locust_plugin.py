"""drillkit's Locust plugin: every request's exact latency, into HdrHistograms per second.

Passed to Locust as an extra locustfile (`-f locustfile.py,locust_shape.py,locust_plugin.py`); never
import it into drillkit's own process (importing locust monkey-patches the standard library).
Workers ship their histograms to the master with each report; the master (or a lone local process)
merges them and writes DRILLKIT_LOAD_RESULTS when it quits, and DRILLKIT_LOAD_PROGRESS every few
seconds. Requests at or under DRILLKIT_LATENCY_THRESHOLD_MS are counted exactly, not from histograms.
The records and their histogram settings are drillkit's own (records.py, histograms.py): only the
wiring to Locust's events lives here.
"""

from __future__ import annotations

import json
import os
import threading
import time
from typing import Any

from locust import events
from locust.runners import WorkerRunner

from drillkit.loadtest.records import PROGRESS_ENV, RESULTS_ENV, THRESHOLD_ENV, Buckets

THRESHOLD_MS = float(os.environ[THRESHOLD_ENV])  # drillkit always sets it (process.py)
RESULTS = os.environ.get(RESULTS_ENV)
PROGRESS = os.environ.get(PROGRESS_ENV)

unsent = Buckets(THRESHOLD_MS)   # this process's records not yet merged or shipped
merged = Buckets(THRESHOLD_MS)   # on the master or a lone process: everything
_is_worker = False
_workers_reported: set[str] = set()


@events.init.add_listener
def _on_init(environment: Any, **kwargs: Any) -> None:
    global _is_worker
    _is_worker = isinstance(environment.runner, WorkerRunner)
    if not _is_worker and PROGRESS:
        threading.Thread(target=_write_progress_forever, args=(PROGRESS, environment), daemon=True).start()


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


def _write_progress_forever(path: str, environment: Any) -> None:
    """Every half second: the running totals and the users running now (a load spike is confirmed by them)."""
    while True:
        time.sleep(0.5)
        merged.merge(unsent.drain())
        _write(path, {"at": time.time(), "users": environment.runner.user_count, **merged.totals()})


def _write(path: str, data: dict) -> None:
    tmp = f"{path}.tmp"
    with open(tmp, "w") as handle:
        json.dump(data, handle)
    os.replace(tmp, path)
