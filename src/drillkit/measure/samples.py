"""The raw input of every analysis: one row per scheduled request slot, one per ledger write, one per
fault. The prober fills these; `measure/analysis.py` reads them and nothing else.

Probe samples are CSV beside the journal, written as the run goes and flushed every second, so a crash
loses at most the last second. Times are seconds on the writing process's monotonic clock; the first
line carries the UTC anchor that converts them.

EVERY scheduled slot yields a row, even when its request never left (error "not_sent" or
"instrument"), so a gap in a prober's intended times means the instrument itself stalled or died.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterable
from dataclasses import dataclass, fields
from pathlib import Path

from drillkit import clock

# error: "" | "timeout" | "connect" | "http" | "other"
#        | "not_sent"    a read-back that could not be sent because its write failed: a failed user request
#        | "instrument"  the send task raised: the instrument's fault, not the platform's
INSTRUMENT_ERROR = "instrument"
NOT_SENT = "not_sent"


@dataclass(frozen=True)
class Sample:
    prober: str          # "global/write_read", "global/read", "region-a/read", …
    endpoint: str        # "global", "region-a", …
    kind: str            # "write" | "read_back" | "read" | "live"
    intended: float      # monotonic time the request was scheduled for
    sent: float | None   # monotonic time it was handed to a connection; None: it never left
    latency: float       # seconds from the intended time to the answer (or the timeout)
    status: int          # HTTP status, 0 when no answer came
    error: str           # see above

    @property
    def completed(self) -> float:
        return self.intended + self.latency

    @property
    def send_lag(self) -> float | None:
        return None if self.sent is None else self.sent - self.intended

    @property
    def succeeded(self) -> bool:
        return not self.error and 200 <= self.status < 400

    @property
    def left_at(self) -> float:
        """When the request left, or (never sent) when it was due: the earliest instant it can speak of."""
        return self.intended if self.sent is None else self.sent

    def good(self, latency_threshold: float) -> bool:
        """Success within the latency objective: what a user counts as served."""
        return self.succeeded and self.latency <= latency_threshold


@dataclass(frozen=True)
class FaultEvent:
    """One fault on the monotonic clock. T0 is the interval [issued, confirmed]."""

    fault: str                 # "kill_primary", "partition_region", …
    activity: str              # the experiment's activity that injected it
    issued: float              # just before the action was issued
    confirmed: float | None    # when the activity confirmed it; None: not injected
    error: str | None = None   # why the injection failed


FIELDS = [f.name for f in fields(Sample)]


class CsvLog:
    """A CSV file with the clock's anchor on its first line; the writer flushes it on its own timer."""

    def __init__(self, path: Path, columns: list[str]) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._handle = path.open("w", newline="")
        self._handle.write(f"# anchor {json.dumps(clock.anchor())}\n")
        self._csv = csv.writer(self._handle)
        self._csv.writerow(columns)

    def add(self, row: tuple) -> None:
        self._csv.writerow(row)

    def flush(self) -> None:
        self._handle.flush()

    def close(self) -> None:
        self._handle.close()


def of_endpoint(samples: Iterable[Sample], endpoint: str, kinds: tuple[str, ...] = ()) -> list[Sample]:
    return [s for s in samples if s.endpoint == endpoint and (not kinds or s.kind in kinds)]


def of_prober(samples: Iterable[Sample], prober: str, kinds: tuple[str, ...] = ()) -> list[Sample]:
    return [s for s in samples if s.prober == prober and (not kinds or s.kind in kinds)]
