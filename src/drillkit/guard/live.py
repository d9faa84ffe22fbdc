"""The user path's SLIs over a sliding window, live, from the samples the measurement session's probe
process appends to samples.csv: the same definitions as measure/slo.py, over the requests sent on time.

A request the instrument sent late, or one whose answer was held by the instrument's own stall, is left
out (docs/measurement.md, "Instrument health"): the instrument lagging is never the platform failing.
A window with no request sent on time cannot be judged: the condition cannot be evaluated."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from drillkit.measure.instrument import checked, with_stalls
from drillkit.measure.raw import sample_of
from drillkit.measure.samples import Sample
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


def window_of(samples: list[Sample], *, now: float, seconds: float, interval: float, threshold: float) -> Window:
    """The SLIs of the user path's SAMPLES that concluded within SECONDS before NOW."""
    rows = [s for s in samples if s.prober == USER_PROBER and now - seconds <= s.completed <= now]
    horizon = max((s.completed for s in rows), default=now)  # a request still in flight has no row yet
    judged = with_stalls(checked(rows, interval), interval, horizon, threshold)
    on_time = [c.sample for c in judged if not c.late]
    return Window(seconds, sli(on_time, excluded=len(judged) - len(on_time), threshold=threshold))


class LiveSamples:
    """A reader of its own over the session's samples.csv (the session's tail is the session's), keeping
    the user path's rows of the last KEEP_S seconds."""

    def __init__(self, samples_csv: Path, *, interval: float, objectives: Objectives, origin: float,
                 keep_s: float) -> None:
        self.interval = interval
        self.objectives = objectives
        self.origin = origin
        self.keep_s = keep_s
        self._tail = CsvTail(samples_csv, sample_of)
        self._rows: list[Sample] = []

    def window(self, seconds: float, now: float) -> Window:
        self._rows = [s for s in self._rows + self._tail.read()
                      if s.prober == USER_PROBER and s.completed >= now - self.keep_s]
        return window_of(self._rows, now=now, seconds=seconds, interval=self.interval,
                         threshold=self.objectives.latency_threshold_ms / 1000)
