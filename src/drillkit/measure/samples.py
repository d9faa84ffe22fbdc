"""Probe samples: one row per request, kept raw so that every SLI is computed from them exactly.

The file is CSV beside the journal, written as the run goes and flushed every second, so a crash
loses at most the last second. Times are seconds on the writing process's monotonic clock; the
first line carries the UTC anchor that converts them.
"""

from __future__ import annotations

import csv
import json
import threading
import time
from collections.abc import Iterable
from dataclasses import astuple, dataclass, fields
from pathlib import Path

from drillkit.measure import clock


@dataclass(frozen=True)
class Sample:
    endpoint: str        # "global", "region-a", …
    kind: str            # "read", "write", or "read_back" (a write's read-back, sent once it was acked)
    intended: float      # monotonic time the request was scheduled for
    latency: float       # seconds from the intended time to the answer (or the timeout)
    status: int          # HTTP status, 0 when no answer came
    error: str           # "", "timeout", "connect", "http", "other"
    send_lag: float = 0.0  # how late the request actually left (counted in latency too)

    @property
    def completed(self) -> float:
        return self.intended + self.latency

    @property
    def succeeded(self) -> bool:
        return not self.error and 200 <= self.status < 400

    def good(self, latency_threshold: float) -> bool:
        """Success within the latency objective: what a user counts as served."""
        return self.succeeded and self.latency <= latency_threshold


FIELDS = [f.name for f in fields(Sample)]


class CsvLog:
    """Appends rows to a CSV file from any thread; flushes at most once a second."""

    def __init__(self, path: Path, columns: list[str]) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._handle = path.open("w", newline="")
        self._handle.write(f"# anchor {json.dumps(clock.anchor())}\n")
        self._csv = csv.writer(self._handle)
        self._csv.writerow(columns)
        self._lock = threading.Lock()
        self._flushed = time.monotonic()

    def add(self, row: tuple) -> None:
        with self._lock:
            self._csv.writerow(tuple(round(v, 6) if isinstance(v, float) else v for v in row))
            if time.monotonic() - self._flushed > 1.0:
                self._handle.flush()
                self._flushed = time.monotonic()

    def close(self) -> None:
        with self._lock:
            self._handle.close()


class SampleWriter:
    """Keeps samples in memory for the live timeline and on disk so that none is lost."""

    def __init__(self, path: Path) -> None:
        self._log = CsvLog(path, FIELDS)
        self._lock = threading.Lock()
        self.samples: list[Sample] = []

    def add(self, sample: Sample) -> None:
        with self._lock:
            self.samples.append(sample)
        self._log.add(astuple(sample))

    def snapshot(self) -> list[Sample]:
        with self._lock:
            return list(self.samples)

    def close(self) -> None:
        self._log.close()


def read_samples(path: Path) -> list[Sample]:
    with path.open(newline="") as handle:
        lines = (line for line in handle if not line.startswith("#"))
        return [_sample(row) for row in csv.DictReader(lines)]


def _sample(row: dict[str, str]) -> Sample:
    return Sample(
        endpoint=row["endpoint"], kind=row["kind"], intended=float(row["intended"]),
        latency=float(row["latency"]), status=int(row["status"]), error=row["error"],
        send_lag=float(row.get("send_lag") or 0.0),
    )


def of_endpoint(samples: Iterable[Sample], endpoint: str, kinds: tuple[str, ...] = ()) -> list[Sample]:
    return [s for s in samples if s.endpoint == endpoint and (not kinds or s.kind in kinds)]
