"""The user path's SLIs over a sliding window, live, from the samples the measurement session's probe
process appends to samples.csv: the same definitions as measure/slo.py, over the requests sent on time.

A second in which the instrument did not send on schedule is "degraded" (docs/measurement.md, "Per-second
states"): its requests are left out, as are requests held by the instrument's own stall, so the instrument
lagging is never the platform failing. The window ends when every request due in it has concluded (the
probers' timeout and a flush ago), as the live recovery check does. A window the measurement ran through
with nothing left to judge cannot be evaluated; one it has not run through yet is not judged yet."""

from __future__ import annotations

import threading
from dataclasses import dataclass, replace
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
    """The user path over one window: its SLIs and how many requests were the instrument's. COMPLETE:
    the measurement ran for the whole window (a window it only partly covered fires only when the requests
    still to come in it could not lift it over the floor: one failed request is no breach of a 30 s window)."""

    seconds: float
    until_ago: float
    sli: Sli
    complete: bool = True
    covered_s: float | None = None  # how much of it the measurement ran through (None: all of it)
    min_coverage: float = 0.0  # the share of its requests the instrument must have kept for it to be judged

    @property
    def measured(self) -> bool:
        return self.sli.status == "measured"

    def unseen(self) -> int:
        """The requests still to come in a window the measurement only began, at the rate seen so far: a
        floor judged over what it has must hold whatever they turn out to be, else a blip fires it."""
        covered = self.seconds if self.covered_s is None else self.covered_s
        if self.complete or covered <= 0 or covered >= self.seconds:
            return 0
        return round(self.sli.requests * (self.seconds - covered) / covered)

    def partial(self) -> str:
        """A note when the window was only partly measured."""
        if self.complete or self.covered_s is None:
            return ""
        return (f"; only {self.covered_s:g} s of the {self.seconds:g} s window measured: fires only when the rest "
                "cannot lift it")

    def span(self) -> str:
        return f"over {self.seconds:g} s up to {self.until_ago:g} s ago"

    def describe(self) -> str:
        excluded = f", {self.sli.excluded} left out as the instrument's" if self.sli.excluded else ""
        return f"{self.span()} ({self.sli.requests} requests{excluded})"


def window_of(samples: list[Sample], *, until: float, seconds: float, interval: float, judge: Judge,
              origin: float) -> Window:
    """The SLIs of the user path's SAMPLES due within SECONDS before UNTIL (an instant by which every request
    due has concluded and been written), the seconds the instrument lagged in left out (as the analysis
    judges seconds: measure/seconds.py, counted from ORIGIN)."""
    since = until - seconds
    rows = [s for s in samples if s.prober == USER_PROBER and s.kind in USER_KINDS and since <= s.intended < until]
    judged = with_stalls(checked(rows, interval), interval, until, judge.latency_threshold)
    kept = [sample for second in per_second(judged, interval=interval, origin=origin, horizon=until, judge=judge,
                                            start=max(since, origin)) if not second.degraded for sample in second.valid]
    return Window(seconds, 0.0, sli(kept, excluded=len(rows) - len(kept), threshold=judge.latency_threshold),
                  complete=since >= origin, covered_s=round(until - max(since, origin), 3),
                  min_coverage=judge.min_coverage)


class LiveSamples:
    """A reader of its own over the session's samples.csv (the session's tail is the session's), keeping
    the user path's rows of the last KEEP_S seconds. A request's row is written once it concluded (at most
    the probers' timeout after it was due) and flushed within a second: the window ends LAG_S ago."""

    def __init__(self, samples_csv: Path, *, interval: float, objectives: Objectives, origin: float,
                 keep_s: float, min_coverage: float, lag_s: float) -> None:
        self.judge = Judge.of(objectives, min_coverage)
        self.interval = interval
        self.objectives = objectives
        self.origin = origin
        self.keep_s = keep_s
        self.lag_s = lag_s
        self._tail = CsvTail(samples_csv, sample_of)
        self._rows: list[Sample] = []
        self._reading = threading.Lock()  # each condition is evaluated in a thread of its own: one tail

    def window(self, seconds: float, now: float) -> Window:
        until = now - self.lag_s
        with self._reading:
            self._rows = rows = [s for s in self._rows + self._tail.read()
                                 if s.prober == USER_PROBER and s.intended >= until - self.keep_s]
        window = window_of(rows, until=until, seconds=seconds, interval=self.interval, judge=self.judge,
                           origin=self.origin)
        return replace(window, until_ago=self.lag_s)
