"""The user path's SLIs over a sliding window, live, from the samples the measurement session's probe
process appends to samples.csv: the same definitions as measure/slo.py, over the requests sent on time.

A second in which the instrument did not send on schedule is "degraded" (docs/measurement.md, "Per-second
states"): its requests are left out, as are requests held by the instrument's own stall, so the instrument
lagging is never the platform failing. A window with nothing left to judge cannot be evaluated."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from drillkit.measure.analysis import USER_KINDS
from drillkit.measure.instrument import checked, with_stalls
from drillkit.measure.raw import sample_of
from drillkit.measure.samples import Sample
from drillkit.measure.seconds import Judge
from drillkit.measure.seconds import seconds as per_second
from drillkit.measure.session import USER_PROBER, CsvTail
from drillkit.measure.slo import sli
from drillkit.model.measurements import Sli
from drillkit.model.objectives import Objectives


@dataclass(frozen=True)
class Window:
    """The user path over one window: its SLIs and how many requests were the instrument's."""

    seconds: float
    sli: Sli

    @property
    def measured(self) -> bool:
        return self.sli.status == "measured"

    def describe(self) -> str:
        excluded = f", {self.sli.excluded} left out as the instrument's" if self.sli.excluded else ""
        return f"over the last {self.seconds:g} s ({self.sli.requests} requests{excluded})"


def window_of(samples: list[Sample], *, now: float, seconds: float, interval: float, judge: Judge,
              origin: float) -> Window:
    """The SLIs of the user path's SAMPLES due within SECONDS before NOW, seconds the instrument lagged
    in left out (as the analysis judges seconds: measure/seconds.py, from ORIGIN)."""
    since = now - seconds
    rows = [s for s in samples if s.prober == USER_PROBER and s.kind in USER_KINDS and since <= s.intended <= now]
    horizon = max((s.intended for s in rows), default=now) + interval  # a request in flight has no row yet
    judged = with_stalls(checked(rows, interval), interval, horizon, judge.latency_threshold)
    kept = [sample for second in per_second(judged, interval=interval, origin=origin, horizon=horizon, judge=judge,
                                            start=since) if not second.degraded for sample in second.valid]
    return Window(seconds, sli(kept, excluded=len(rows) - len(kept), threshold=judge.latency_threshold))


class LiveSamples:
    """A reader of its own over the session's samples.csv (the session's tail is the session's), keeping
    the user path's rows of the last KEEP_S seconds."""

    def __init__(self, samples_csv: Path, *, interval: float, objectives: Objectives, origin: float,
                 keep_s: float, min_coverage: float) -> None:
        self.judge = Judge.of(objectives, min_coverage)
        self.interval = interval
        self.objectives = objectives
        self.origin = origin
        self.keep_s = keep_s
        self._tail = CsvTail(samples_csv, sample_of)
        self._rows: list[Sample] = []

    def window(self, seconds: float, now: float) -> Window:
        self._rows = [s for s in self._rows + self._tail.read()
                      if s.prober == USER_PROBER and s.completed >= now - self.keep_s]
        return window_of(self._rows, now=now, seconds=seconds, interval=self.interval, judge=self.judge,
                         origin=self.origin)
